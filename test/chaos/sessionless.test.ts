// Safety for clients without a gate session: three sidecars on one Lease of a private control plane,
// each asked by a /leader poller and an /is-leader poller that act on every "leader" answer for as long
// as it promises (from receipt until send + validForMs). Every way we know of losing or handing over the
// Lease is applied in turn; then no two replicas' windows may overlap, every loss that was not graceful
// must be followed by a new leader within LD + 1 s, and an outage of RD - 1 s must cost nothing.
// LEASEHOLD_SESSIONLESS_TRANSITIONS=N repeats the cycle until N transitions (soak mode).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, nextActing, nowNs, overlaps, transitions } from '../support/acting-windows.ts';
import { Fleet, skewedClockEnv, type Timings } from '../support/fleet.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';

const soakTransitions = Number(process.env.LEASEHOLD_SESSIONLESS_TRANSITIONS ?? '0');
const pollIntervalMs = Number(process.env.LEASEHOLD_POLL_INTERVAL_MS ?? '10');
const replicas = ['r0', 'r1', 'r2'];

interface Measured {
  action: string;
  /** ms from the action to the next replica's first acting window. */
  handoverMs: number | undefined;
}

/** The actions, each leaving one leader acting again; measurements in `measured`. */
function actions(fleet: Fleet, measured: Measured[]) {
  const t = fleet.timings;
  const ldMs = t.leaseDurationSeconds * 1000;
  const info = fleet.cluster.controlPlane.info;

  /** Waits until a leader other than `except` (if given) acts after `since`; records how long it took. */
  const settle = async (action: string, since: bigint, except?: string): Promise<void> => {
    const deadline = performance.now() + ldMs * 4;
    for (;;) {
      const next = nextActing(fleet.windows(), since, except);
      if (next) {
        measured.push({ action, handoverMs: ms(next.start - since) });
        return;
      }
      assert.ok(performance.now() < deadline, `${action}: nobody acted within ${ldMs * 4} ms`);
      await sleep(20);
    }
  };
  const leader = () => fleet.waitForHolder(ldMs * 4);
  /** Resigns `name`, which the Lease names as holder (its own answer to its write may be a moment behind). */
  const resign = async (name: string, pauseSeconds: number): Promise<void> => {
    const url = `${fleet.sidecars.get(name)?.url}/leader/resign?pauseSeconds=${pauseSeconds}`;
    for (let attempt = 0; ; attempt++) {
      const response = await fetch(url, { method: 'POST' });
      if (response.status === 202) return;
      assert.ok(
        response.status === 409 && attempt < 50,
        `resign ${name}: ${response.status} ${await response.text()}`,
      );
      await sleep(20);
    }
  };
  /** Right after `name`'s renewal landed — and its answer reached the sidecar (a few ms later). */
  const afterRenewal = async (name: string) => {
    const from = fleet.lease.events.length;
    await fleet.lease.waitFor(
      (e) => e.type === 'MODIFIED' && e.holderIdentity.startsWith(`${name}_`),
      ldMs,
      from,
    );
    await sleep(100);
  };

  return {
    async resign() {
      const victim = await leader();
      const at = nowNs();
      await resign(victim, 0.5);
      await settle('resign', at, victim);
    },
    async sigterm() {
      const victim = await leader();
      const sidecar = fleet.sidecars.get(victim);
      const at = nowNs();
      sidecar?.signal('SIGTERM');
      await settle('sigterm', at, victim);
      assert.equal(await sidecar?.exited, 0);
      await fleet.startSidecar(victim);
    },
    async sigkill() {
      const victim = await leader();
      await afterRenewal(victim);
      const at = nowNs();
      await fleet.sidecars.get(victim)?.stop('SIGKILL');
      await settle('sigkill', at, victim);
      await fleet.startSidecar(victim);
    },
    async sigstop() {
      const victim = await leader();
      const sidecar = fleet.sidecars.get(victim);
      const at = nowNs();
      sidecar?.signal('SIGSTOP');
      await settle('sigstop', at, victim);
      await sleep(Math.max(0, ldMs + 1_000 - ms(nowNs() - at)));
      sidecar?.signal('SIGCONT');
    },
    async blackhole() {
      const victim = await leader();
      const proxy = fleet.proxies.get(victim);
      const at = nowNs();
      proxy?.set('blackhole');
      await settle('blackhole', at, victim);
      proxy?.set('pass');
    },
    async apiDown() {
      const holder = await leader();
      await afterRenewal(holder);
      const identity = fleet.lease.last()?.holderIdentity;
      const from = fleet.sidecars.get(holder)?.logLines().length ?? 0;
      for (const proxy of fleet.proxies.values()) proxy.set('refuse');
      await sleep(t.renewDeadlineSeconds * 1000 - 1_000);
      for (const proxy of fleet.proxies.values()) proxy.set('pass');
      await sleep(t.retryPeriodSeconds * 2000);
      const demoted = fleet.sidecars
        .get(holder)
        ?.logLines()
        .slice(from)
        .filter((l) => l.transition === 'demoted');
      assert.deepEqual(demoted, [], 'the leader kept its leadership through RD - 1 s of outage');
      assert.equal(fleet.lease.last()?.holderIdentity, identity);
      measured.push({ action: 'api-down', handoverMs: undefined });
    },
    async deleteLease() {
      const holder = await leader();
      const identity = fleet.lease.last()?.holderIdentity;
      const deleted = await rawApi('DELETE', leasePath(fleet.namespace, fleet.leaseName), { target: info });
      assert.equal(deleted.status, 200);
      // The leader writes its Lease again and goes on; followers wait out what they saw.
      const back = await fleet.lease.waitFor((e) => e.type === 'ADDED', ldMs, fleet.lease.events.length - 1);
      assert.equal(back.holderIdentity, identity, `${holder} wrote its deleted Lease again`);
      measured.push({ action: 'delete', handoverMs: undefined });
    },
    async steal() {
      await leader();
      let at = nowNs();
      for (;;) {
        const current = await fleet.leaseObject();
        current.body.spec.holderIdentity = 'intruder_0';
        current.body.spec.leaseTransitions += 1;
        at = nowNs();
        const put = await rawApi('PUT', leasePath(fleet.namespace, fleet.leaseName), {
          body: current.body,
          target: info,
        });
        if (put.status === 200) break;
        assert.equal(put.status, 409);
      }
      // Anyone may lead next, the robbed leader too — but only once the intruder's hold has expired.
      await settle('steal', at);
    },
    /** A replica with a skewed wall clock ("+30s", "-1h") is made leader, then killed. */
    async skewedCrash(skew: string) {
      const skewed = replicas[measured.length % replicas.length] as string;
      await fleet.sidecars.get(skewed)?.stop('SIGTERM');
      await fleet.startSidecar(skewed, await skewedClockEnv(skew));
      const pauseSeconds = t.leaseDurationSeconds / 2;
      for (let holder = await leader(); holder !== skewed; holder = await leader()) {
        await resign(holder, pauseSeconds);
        await fleet.waitForHolder(ldMs * 4, (name) => name !== holder);
      }
      // It renews with its skewed timestamps while every other replica's pause runs out.
      await sleep(pauseSeconds * 1000 + t.retryPeriodSeconds * 1000);
      await afterRenewal(skewed);
      const at = nowNs();
      await fleet.sidecars.get(skewed)?.stop('SIGKILL');
      await settle(`skewed(${skew}) crash`, at, skewed);
      await fleet.startSidecar(skewed, {});
    },
  };
}

const graceful = new Set(['resign', 'sigterm']);

async function run(timings: Timings, skews: string[]) {
  const fleet = await Fleet.start({ timings, pollIntervalMs });
  try {
    await Promise.all(replicas.map((name) => fleet.startSidecar(name)));
    const ldMs = timings.leaseDurationSeconds * 1000;
    await fleet.waitForHolder(ldMs * 3);
    const measured: Measured[] = [];
    let cycle = 0;
    do {
      const act = actions(fleet, measured);
      const skew = (i: number) => skews[(cycle * 2 + i) % skews.length] as string;
      for (const step of [
        act.resign,
        act.sigterm,
        act.sigkill,
        act.sigstop,
        act.blackhole,
        act.apiDown,
        act.deleteLease,
        act.steal,
        () => act.skewedCrash(skew(0)),
        act.resign,
        () => act.skewedCrash(skew(1)),
      ]) {
        await step();
      }
      cycle++;
      if (soakTransitions > 0)
        process.stderr.write(`[sessionless] cycle ${cycle}: ${transitions(fleet.windows())} transitions\n`);
    } while (transitions(fleet.windows()) < soakTransitions);
    await sleep(1_000);
    return { windows: fleet.windows(), measured, stats: fleet.pollerStats() };
  } finally {
    await fleet.close();
  }
}

function report(label: string, result: Awaited<ReturnType<typeof run>>, timings: Timings) {
  const ldMs = timings.leaseDurationSeconds * 1000;
  const found = overlaps(result.windows);
  const moves = transitions(result.windows);
  const handovers = result.measured.filter((m) => graceful.has(m.action)).map((m) => m.handoverMs as number);
  const crashes = result.measured.filter((m) => !graceful.has(m.action) && m.handoverMs !== undefined);
  process.stderr.write(
    `[sessionless ${label}] ${moves} transitions, ${result.stats.answers} answers; graceful hand-overs (ms): ` +
      `${handovers.join(', ')}; takeovers after a loss (ms): ${crashes.map((c) => `${c.action} ${c.handoverMs}`).join(', ')}\n`,
  );
  assert.deepEqual(found, [], 'no two replicas acted at once');
  for (const crash of crashes)
    assert.ok(
      (crash.handoverMs as number) <= ldMs + 1_000,
      `${crash.action}: a new leader after ${crash.handoverMs} ms`,
    );
  assert.ok(
    moves >= result.measured.length - 3,
    `${moves} transitions for ${result.measured.length} actions`,
  );
  assert.ok(result.stats.answers > 1_000, 'the pollers asked throughout');
}

test('session-less clients, LD/RD/RP 4/3/1: every action, clocks +-30 s, no overlap, takeover within LD + 1 s', async () => {
  const timings = {
    leaseDurationSeconds: 4,
    renewDeadlineSeconds: 3,
    retryPeriodSeconds: 1,
    safetyMarginSeconds: 1,
  };
  report('4/3/1', await run(timings, ['+30s', '-30s', '+1h', '-1h']), timings);
});

test('session-less clients, defaults 15/10/2: every action, clocks +-1 h, no overlap, takeover within LD + 1 s', async () => {
  const timings = {
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: 2,
    safetyMarginSeconds: 2,
  };
  report('15/10/2', await run(timings, ['-1h', '+1h', '-30s', '+30s']), timings);
});

test('mixed with client-go candidates (4/3/1): session-less clients and client-go terms never overlap', async () => {
  const timings = {
    leaseDurationSeconds: 4,
    renewDeadlineSeconds: 3,
    retryPeriodSeconds: 1,
    safetyMarginSeconds: 1,
  };
  const ldMs = timings.leaseDurationSeconds * 1000;
  const fleet = await Fleet.start({ timings, pollIntervalMs });
  const kinds: string[] = [];
  try {
    const candidates = ['lh-0', 'lh-1', 'go-0', 'go-1'];
    await Promise.all(
      candidates.map((name) => (name.startsWith('go') ? fleet.startPeer(name) : fleet.startSidecar(name))),
    );
    const restart = (name: string) =>
      fleet.peers.has(name) ? fleet.startPeer(name) : fleet.startSidecar(name);
    const stop = async (name: string, signal: 'SIGTERM' | 'SIGKILL') => {
      if (fleet.peers.has(name)) await fleet.peers.get(name)?.stop(signal);
      else await fleet.sidecars.get(name)?.stop(signal);
    };
    /** The next holder after `previous`, who must then act. */
    const moved = async (previous: string, at: bigint, how: string) => {
      const next = await fleet.waitForHolder(ldMs * 4, (name) => name !== previous);
      kinds.push(`${previous.slice(0, 2)}->${next.slice(0, 2)} (${how} at +${ms(at)} ms)`);
      const deadline = performance.now() + ldMs * 2;
      while (!nextActing(fleet.windows(), at, previous)) {
        assert.ok(performance.now() < deadline, `${next} holds the Lease but nobody acts`);
        await sleep(20);
      }
    };
    let rounds = 0;
    do {
      for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
        const victim = await fleet.waitForHolder(ldMs * 4);
        // Who wins a free Lease is a race (Leasehold acts on the watch, client-go polls every RP), so
        // until a hand-over in this direction was seen, the victim's own kind steps aside first and the
        // next holder must be of the other kind.
        const kind = victim.slice(0, 2);
        const stepAside = kinds.some((k) => k.startsWith(`${kind}->${kind === 'lh' ? 'go' : 'lh'}`))
          ? []
          : candidates.filter((name) => name !== victim && name.startsWith(kind));
        for (const name of stepAside) await stop(name, 'SIGTERM');
        const at = nowNs();
        await stop(victim, signal);
        await moved(victim, at, signal);
        await restart(victim);
        for (const name of stepAside) await restart(name);
      }
      // Cut a Leasehold leader off the API. (A client-go leader cut off keeps its leader context until
      // its release attempt times out too: up to RP + 2 RD after its last renewal, past LD here. That is
      // client-go's own behaviour, measured and documented in docs/architecture.md.)
      const holder = await fleet.waitForHolder(ldMs * 4);
      const at = nowNs();
      if (fleet.peers.has(holder)) {
        await stop(holder, 'SIGKILL');
        await moved(holder, at, 'SIGKILL');
        await restart(holder);
      } else {
        const proxy = fleet.proxies.get(holder);
        proxy?.set('blackhole');
        await moved(holder, at, 'blackhole');
        proxy?.set('pass');
      }
      // client-go candidates stop campaigning once they lost the Lease; start them again.
      for (const [name, peer] of fleet.peers) if (!peer.alive) await fleet.startPeer(name);
      rounds++;
    } while (rounds < 3 || transitions(fleet.windows()) < soakTransitions);
    await sleep(1_000);
    const windows = fleet.windows();
    process.stderr.write(
      `[sessionless mixed] ${transitions(windows)} transitions; hand-overs: ${kinds.join(', ')}\n`,
    );
    assert.deepEqual(overlaps(windows), []);
    assert.ok(
      kinds.some((k) => k.startsWith('lh->go')) && kinds.some((k) => k.startsWith('go->lh')),
      kinds.join(' '),
    );
  } finally {
    await fleet.close();
  }
});
