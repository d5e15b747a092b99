// The chaos suite for gated apps: real sidecar + example-controller pairs on a control plane of their
// own, disturbed one way per test; then a checker proves from what the apps recorded that at most one
// replica acted at any instant, every write completed inside its writer's term, per-object epochs never
// decreased and no reconcile was lost. Each test has its own environment and checks itself.
// LEASEHOLD_CHAOS_TRANSITIONS sets the rapid hand-over count; LEASEHOLD_CHAOS_SOAK_SECONDS adds a soak.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import { checkEpochOrder, checkRecords } from '../support/checker.ts';
import { chartDir, helm } from '../support/helm.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import type { Replica } from '../support/replica.ts';
import { testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const minimumTransitions = Number(process.env.LEASEHOLD_CHAOS_TRANSITIONS ?? '60');
const soakSeconds = Number(process.env.LEASEHOLD_CHAOS_SOAK_SECONDS ?? '0');

interface Scenario {
  env: ChaosEnv;
  lease: LeaseRecorder;
  live(): Replica[];
  leader(timeoutMs?: number): Promise<Replica>;
  /** The next holder that is not `previous`, as seen on the Lease. */
  nextHolder(previous: string, from: number, timeoutMs: number): ReturnType<LeaseRecorder['waitFor']>;
}

/** Three replicas with work to do; after `body`, the checker must find nothing wrong. */
async function chaos(
  t: TestContext,
  body: (s: Scenario) => Promise<void>,
  envOptions: { fenced?: boolean } = {},
): Promise<void> {
  const env = await ChaosEnv.start(envOptions);
  // Each reconcile does 200 ms of work it cannot cancel: a term takes that long to stop after a loss.
  env.appEnv = { SYNC_DELAY_MS: '200' };
  const lease = new LeaseRecorder(namespace, leaseName, env.controlPlane.info);
  let checked = false;
  t.after(async () => {
    await lease.stop();
    await env.close({ keepEvidence: !checked });
  });
  await Promise.all(['replica-0', 'replica-1', 'replica-2'].map((name) => env.startReplica(name)));
  env.startMutator();
  const live = (): Replica[] => env.replicas.filter((r) => r.alive);
  const scenario: Scenario = {
    env,
    lease,
    live,
    async leader(timeoutMs = leaseDurationMs * 3) {
      try {
        const sidecar = await waitForSingleLeader(
          live().map((r) => r.sidecar),
          timeoutMs,
        );
        return live().find((r) => r.sidecar === sidecar) as Replica;
      } catch (err) {
        // Say what every replica believed, with the end of its logs, to make a failure debuggable.
        const states = await Promise.all(
          live().map(
            async (r) =>
              `${r.name}: ${JSON.stringify(await r.sidecar.tryLeader())}\n${r.sidecar.tail(8)}\n${r.appOutput.slice(-4).join('\n')}`,
          ),
        );
        throw new Error(`${(err as Error).message}\n${states.join('\n---\n')}`);
      }
    },
    nextHolder: (previous, from, timeoutMs) =>
      lease.waitFor((e) => e.holderIdentity !== '' && e.holderIdentity !== previous, timeoutMs, from),
  };
  await scenario.leader();
  await body(scenario);

  await env.stopMutator();
  await scenario.leader(leaseDurationMs * 4);
  await waitUntil(
    'derived objects to converge',
    async () => ((await env.converged()) ? true : undefined),
    leaseDurationMs * 4,
    200,
  );
  const result = await report(env);
  assert.deepEqual(result.violations, [], [...result.violations, ...result.details].join('\n'));
  assert.deepEqual(checkEpochOrder(env.derivedVersions), []);
  assert.ok(result.writes > 0, 'the terms did real work');
  checked = true;
}

/** Writes recorded by replicas other than `except` whose fence check came after `since`. */
async function writesSince(env: ChaosEnv, since: bigint, except: string): Promise<number> {
  let count = 0;
  for (const file of await readdir(env.recordDir)) {
    if (!file.endsWith('.jsonl')) continue;
    const text = await readFile(join(env.recordDir, file), 'utf8');
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      const entry = JSON.parse(line) as { type: string; replica: string; checkedAtNs?: string };
      if (entry.type === 'write' && entry.replica !== except && BigInt(entry.checkedAtNs ?? '0') > since)
        count++;
    }
  }
  return count;
}

async function report(env: ChaosEnv) {
  const files = (await readdir(env.recordDir))
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => join(env.recordDir, f));
  return checkRecords(files);
}

test('leader SIGKILL: another takes over after expiry, within LD + 1 s', async (t) => {
  await chaos(t, async ({ env, lease, leader, nextHolder }) => {
    const victim = await leader();
    const holder = (await victim.sidecar.leader()).holder;
    await lease.waitFor(
      (e) => e.type === 'MODIFIED' && e.holderIdentity === holder,
      leaseDurationMs,
      lease.events.length,
    );
    const from = lease.events.length;
    const killedAt = performance.now();
    await env.kill(victim);
    const next = await nextHolder(holder, from, leaseDurationMs * 3);
    assert.ok(
      next.at - killedAt <= leaseDurationMs + 1_000,
      `took over ${Math.round(next.at - killedAt)} ms after the kill`,
    );
    await env.startReplica(victim.name);
  });
});

test('leader SIGTERM (pod deletion order: both at once): graceful hand-over within 1 s, the old app stopped first', async (t) => {
  await chaos(t, async ({ lease, leader, nextHolder, env }) => {
    for (let round = 0; round < 3; round++) {
      const victim = await leader();
      const holder = (await victim.sidecar.leader()).holder;
      const from = lease.events.length;
      const sentAt = performance.now();
      victim.signal('SIGTERM');
      const next = await nextHolder(holder, from, leaseDurationMs);
      assert.ok(next.at - sentAt < 1_000, `hand-over took ${Math.round(next.at - sentAt)} ms`);
      await victim.stop();
      await env.startReplica(victim.name);
    }
  });
});

test('leader SIGSTOP past the lease duration, then SIGCONT: the frozen replica acts no more', async (t) => {
  await chaos(t, async ({ env, leader, nextHolder, lease }) => {
    const victim = await leader();
    const holder = (await victim.sidecar.leader()).holder;
    const from = lease.events.length;
    env.freeze(victim);
    await nextHolder(holder, from, leaseDurationMs * 3);
    await sleep(500);
    victim.signal('SIGCONT');
    await waitUntil(
      'the thawed sidecar to answer as follower',
      async () => ((await victim.sidecar.tryLeader())?.isLeader === false ? true : undefined),
      5_000,
    );
    await sleep(1_000); // the checker flags any write it made after the freeze
  });
});

test('apiserver restarted: exactly one leader afterwards', async (t) => {
  await chaos(t, async ({ env, leader }) => {
    await env.controlPlane.restartApiserver();
    await leader(leaseDurationMs * 4);
  });
});

test('the leader cut off from the apiserver: it stops acting, another takes over', async (t) => {
  await chaos(t, async ({ env, leader, nextHolder, lease }) => {
    const victim = await leader();
    const holder = (await victim.sidecar.leader()).holder;
    const from = lease.events.length;
    const cutAt = process.hrtime.bigint();
    env.proxies.get(victim.name)?.set('blackhole');
    await nextHolder(holder, from, leaseDurationMs * 3);
    assert.equal((await victim.sidecar.leader()).isLeader, false);
    // Keep the partition until the new leader has written: a request the victim's app had in flight
    // when it was cut off must not keep its term alive past its deadline (the checker would see both).
    await waitUntil(
      'another replica to write after the cut',
      async () => ((await writesSince(env, cutAt, victim.name)) > 0 ? true : undefined),
      leaseDurationMs * 2,
    );
    env.proxies.get(victim.name)?.set('pass');
  });
});

test('added API latency (150 ms each way): the same leader keeps leading, no term ends', async (t) => {
  await chaos(t, async ({ env, leader }) => {
    const before = await leader();
    const terms = await waitUntil(
      "the leader's app to start its term",
      async () => {
        const count = (await report(env)).transitions;
        return count > 0 ? count : undefined;
      },
      leaseDurationMs,
    );
    for (const proxy of env.proxies.values()) proxy.set('pass', 150);
    await sleep(leaseDurationMs * 2);
    assert.equal(await leader(), before);
    assert.equal((await report(env)).transitions, terms, 'no new term while latency was high');
    for (const proxy of env.proxies.values()) proxy.set('pass', 0);
  });
});

test('the app loses its stream to the sidecar mid-term: the session survives, a SIGTERM still waits for the app', async (t) => {
  await chaos(t, async ({ leader, nextHolder, lease, env }) => {
    const victim = await leader();
    const holder = (await victim.sidecar.leader()).holder;
    victim.link.set('refuse'); // every connection between app and sidecar cut
    await sleep(300);
    victim.link.set('pass');
    await sleep(500); // the gate reconnects, resumes its session, reports its activity again
    const from = lease.events.length;
    victim.signal('SIGTERM');
    await nextHolder(holder, from, leaseDurationMs);
    await victim.stop();
    await env.startReplica(victim.name);
  });
});

test('sidecar killed while its app lives: the app fails closed, another replica leads', async (t) => {
  await chaos(t, async ({ leader, nextHolder, lease }) => {
    const victim = await leader();
    const holder = (await victim.sidecar.leader()).holder;
    const from = lease.events.length;
    victim.sidecar.signal('SIGKILL');
    await victim.sidecar.exited;
    await nextHolder(holder, from, leaseDurationMs * 3);
    await victim.restartSidecar();
  });
});

test('Lease edited to a foreign holder, then deleted: one leader again, epochs move on', async (t) => {
  await chaos(t, async ({ env, leader }) => {
    const target = env.controlPlane.info;
    // Only an answer that says "leader" carries the leader's epoch: one read just after a demotion
    // names the Lease's current record (the intruder's, say), which is not a term of ours.
    const leaderEpoch = async (): Promise<number | undefined> => {
      const answer = await (await leader(leaseDurationMs * 3)).sidecar.leader();
      return answer.isLeader ? (answer.epoch ?? -1) : undefined;
    };
    const before = await waitUntil('the epoch of the leader', leaderEpoch, leaseDurationMs, 20);
    // The leader renews between our read and our write now and then (409): read again until it lands.
    await waitUntil(
      'the intruder written',
      async () => {
        const { status, body } = await rawApi('GET', leasePath(namespace, leaseName), { target });
        assert.equal(status, 200);
        body.spec.holderIdentity = 'intruder_0';
        body.spec.leaseTransitions += 1;
        const written = await rawApi('PUT', leasePath(namespace, leaseName), { body, target });
        assert.ok(written.status === 200 || written.status === 409, `PUT answered ${written.status}`);
        return written.status === 200 ? true : undefined;
      },
      leaseDurationMs,
      10,
    );
    // The robbed leader may still answer "leader" (epoch `before`) until its next renewal sees the
    // intruder: that promise is kept, so wait for the term after the intruder's, which must come.
    const after = await waitUntil(
      "a term after the intruder's",
      async () => {
        const epoch = await leaderEpoch();
        return epoch !== undefined && epoch !== before ? epoch : undefined;
      },
      leaseDurationMs * 3,
      20,
    );
    assert.ok(after > before + 1, `epoch ${after} after ${before} and the intruder's`);
    assert.equal((await rawApi('DELETE', leasePath(namespace, leaseName), { target })).status, 200);
    await leader(leaseDurationMs * 3);
  });
});

test(`rapid hand-overs: resign the leader until ${minimumTransitions} terms in all`, async (t) => {
  await chaos(t, async ({ env, leader }) => {
    while ((await report(env)).transitions < minimumTransitions) {
      const current = await leader();
      const response = await fetch(`${current.sidecar.url}/leader/resign?pauseSeconds=0.3`, {
        method: 'POST',
      });
      assert.ok(response.status === 202 || response.status === 409);
      await waitUntil(
        'a new term to start',
        async () => ((await leader()) !== current ? true : undefined),
        leaseDurationMs * 2,
      );
    }
  });
});

test("fenced (the chart's policy on): the example works through hand-overs; a standby pod's write is refused naming the holder", async (t) => {
  await helm(['dependency', 'build', chartDir]);
  await chaos(
    t,
    async ({ env, leader }) => {
      for (let i = 0; i < 6; i++) {
        const current = await leader();
        await fetch(`${current.sidecar.url}/leader/resign?pauseSeconds=0.3`, { method: 'POST' });
        await waitUntil(
          'a new term to start',
          async () => ((await leader()) !== current ? true : undefined),
          leaseDurationMs * 2,
        );
      }
      // The policy is in force: a replica that does not lead may not write, whatever it believes.
      const holder = await leader();
      const standby = env.replicas.find((r) => r.alive && r !== holder) as Replica;
      const { status, body } = await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
        token: await env.podToken(standby.name),
        target: env.controlPlane.info,
        body: { metadata: { name: 'from-the-standby' } },
      });
      assert.equal(status, 422);
      assert.match(
        body.message,
        new RegExp(`pod ${standby.name} does not hold Lease .*\\(holder: ${holder.name}_`),
      );
    },
    { fenced: true },
  );
});

test('ten replicas started at once: exactly one leads', async (t) => {
  await chaos(t, async ({ env, leader }) => {
    await Promise.all(Array.from({ length: 7 }, (_, i) => env.startReplica(`burst-${i}`)));
    await leader(leaseDurationMs * 4);
    await Promise.all(env.replicas.filter((r) => r.name.startsWith('burst-')).map((r) => r.stop('SIGTERM')));
  });
});

test('soak (LEASEHOLD_CHAOS_SOAK_SECONDS, default a few rounds): random kills, terms and resigns', {
  timeout: (soakSeconds + 600) * 1000,
}, async (t) => {
  await chaos(t, async ({ env, leader }) => {
    const until = performance.now() + soakSeconds * 1000;
    for (let round = 0; round < 3 || performance.now() < until; round++) {
      const victim = await leader();
      const action = round % 3;
      if (action === 0)
        await fetch(`${victim.sidecar.url}/leader/resign?pauseSeconds=0.2`, { method: 'POST' });
      else if (action === 1) {
        victim.signal('SIGTERM');
        await victim.stop();
        await env.startReplica(victim.name);
      } else {
        await env.kill(victim);
        await env.startReplica(victim.name);
      }
    }
  });
});
