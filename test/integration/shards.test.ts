// Sharded leadership against the real apiserver: sidecar processes with SHARDS set share the shard Leases,
// balance themselves as replicas come and go, and a /shards client that acts on each "held" answer until
// send + validForMs never acts for two replicas on one shard. Bounds come from support/sidecar.ts timings.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1PolicyRule } from '@kubernetes/client-node';
import { createShardGate } from '@leasehold/controller';
import { addWindow, nowNs, overlaps, type Window } from '../support/acting-windows.ts';
import {
  createNamespace,
  createServiceAccount,
  serviceAccountKubeconfig,
  sidecarRules,
} from '../support/cluster.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { rawApi } from '../support/raw-api.ts';
import { SidecarProcess, testTimings, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const shardCount = 6;

interface ShardsBody {
  identity: string;
  mine: number[];
  live: string[];
  shards: { shard: number; isLeader: boolean; validForMs: number; holder: string; lease: string }[];
}

/** Asks one sidecar's /shards every 20 ms and records, per shard, when a client may act on its answers. */
class ShardPoller {
  readonly sidecar: SidecarProcess;
  readonly windows = new Map<number, Window[]>();
  latest: ShardsBody | undefined;
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(sidecar: SidecarProcess) {
    this.sidecar = sidecar;
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const sent = nowNs();
      try {
        const response = await fetch(`${this.sidecar.url}/shards`, { signal: AbortSignal.timeout(2_000) });
        const received = nowNs();
        if (response.ok) {
          this.latest = (await response.json()) as ShardsBody;
          for (const item of this.latest.shards) {
            if (!item.isLeader || item.validForMs <= 0) continue;
            const list = this.windows.get(item.shard) ?? [];
            const end = sent + BigInt(item.validForMs) * 1_000_000n;
            addWindow(list, { replica: this.sidecar.podName, start: received, end });
            this.windows.set(item.shard, list);
          }
        }
      } catch {
        this.latest = undefined; // down or stopped: it holds nothing we may count on
      }
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}

/** A namespace whose ServiceAccount may use the shard Leases (and `extraLeases`), and its sidecars. */
async function shardGroup(t: TestContext, leaseName: string, extraLeases: string[] = []) {
  const namespace = await createNamespace('shards');
  const names = [...Array.from({ length: shardCount }, (_, i) => `${leaseName}-${i}`), ...extraLeases];
  const [byName, ...others] = sidecarRules(leaseName);
  await createServiceAccount(namespace, 'sidecar', [
    { ...(byName as V1PolicyRule), resourceNames: names },
    ...others,
  ]);
  const kubeconfig = await serviceAccountKubeconfig(namespace, 'sidecar');
  const recorders = names.slice(0, shardCount).map((name) => new LeaseRecorder(namespace, name));
  const sidecars: SidecarProcess[] = [];
  const pollers: ShardPoller[] = [];
  const add = async (podName: string, shards = shardCount) => {
    const sidecar = await SidecarProcess.start({
      namespace,
      leaseName,
      podName,
      kubeconfig,
      env: { SHARDS: String(shards) },
    });
    sidecars.push(sidecar);
    pollers.push(new ShardPoller(sidecar));
    return sidecar;
  };
  t.after(async () => {
    await Promise.all(recorders.map((r) => r.stop()));
    await Promise.all(pollers.map((p) => p.stop()));
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
  });
  /** The held shards of each sidecar still answering, once every shard is held by exactly one of them. */
  const assignment = (): Map<string, number[]> | undefined => {
    const byShard = new Map<number, string[]>();
    const bySidecar = new Map<string, number[]>();
    for (const poller of pollers) {
      const body = poller.latest;
      if (!body || poller.sidecar.child.exitCode !== null || poller.sidecar.child.signalCode !== null)
        continue;
      bySidecar.set(poller.sidecar.podName, body.mine);
      for (const shard of body.mine)
        byShard.set(shard, [...(byShard.get(shard) ?? []), poller.sidecar.podName]);
    }
    const complete = Array.from({ length: shardCount }, (_, i) => byShard.get(i)?.length === 1).every(
      Boolean,
    );
    return complete ? bySidecar : undefined;
  };
  /** The assignment once each of `replicas` holds within `slack` shards of N / replicas. */
  const balanced = (replicas: number, slack = 1) => {
    const held = assignment();
    if (!held || held.size !== replicas) return undefined;
    const fair = shardCount / replicas;
    return [...held.values()].every((mine) => Math.abs(mine.length - fair) <= slack) ? held : undefined;
  };
  return { namespace, kubeconfig, recorders, sidecars, pollers, add, assignment, balanced };
}

test('six shards: one replica takes all, three share two each, a crash and a stop are rebalanced, no shard acted on twice', async (t) => {
  const group = await shardGroup(t, 'sharded');
  const first = await group.add('replica-0');
  const all = await waitUntil(
    'replica-0 holding every shard',
    async () => {
      const held = group.assignment();
      return held?.get('replica-0')?.length === shardCount ? held : undefined;
    },
    leaseDurationMs,
  );
  assert.deepEqual(all.get('replica-0'), [0, 1, 2, 3, 4, 5]);
  assert.equal(first.podName, 'replica-0');

  // Scale 1 → 3: the newcomers ask, replica-0 hands shards over one at a time.
  let changedAt = performance.now();
  await Promise.all([group.add('replica-1'), group.add('replica-2')]);
  await waitUntil(
    'three replicas within one shard of fair',
    async () => group.balanced(3),
    2 * leaseDurationMs,
  );
  const scaleUpMs = performance.now() - changedAt;
  await waitUntil(
    'two shards each, no move under way',
    async () => group.balanced(3, 0),
    2 * leaseDurationMs,
  );

  // SIGKILL: each of the victim's shards is owned again within 1 s of its expiry (LD after its last
  // renewal, as this test's own watch saw it), then the shards are shared within one of fair.
  const named = (podName: string) => group.sidecars.find((s) => s.podName === podName) as SidecarProcess;
  const victim = named('replica-1');
  // The Lease states our own watch saw (bookmarks carry none).
  const states = (shard: number) =>
    (group.recorders[shard] as LeaseRecorder).events.filter(
      (e) => e.type === 'ADDED' || e.type === 'MODIFIED',
    );
  const victimShards = group.recorders.flatMap((_, shard) =>
    states(shard).at(-1)?.holderIdentity.startsWith('replica-1_') ? [shard] : [],
  );
  assert.equal(victimShards.length, 2);
  await victim.stop('SIGKILL');
  await waitUntil(
    'every shard owned again after the crash',
    async () => group.assignment(),
    2 * leaseDurationMs,
  );
  const takenOver = (shard: number) => {
    const holder = states(shard).at(-1)?.holderIdentity ?? '';
    return holder !== '' && !holder.startsWith('replica-1_');
  };
  await waitUntil(
    'our own watch seeing the takeovers',
    async () => victimShards.every(takenOver) || undefined,
    1_000,
  );
  let takeoverMs = 0;
  for (const shard of victimShards) {
    const events = states(shard);
    const taken = events.findLastIndex(
      (e) => e.holderIdentity !== '' && !e.holderIdentity.startsWith('replica-1_'),
    );
    const lastRenewal = events.slice(0, taken).findLast((e) => e.holderIdentity.startsWith('replica-1_'));
    assert.ok(taken >= 0 && lastRenewal, `shard ${shard}: renewed by the victim, then taken by another`);
    const beyondLD = (events[taken]?.at ?? 0) - lastRenewal.at - leaseDurationMs;
    assert.ok(beyondLD <= 1_000, `shard ${shard} owned again ${Math.round(beyondLD)} ms after its expiry`);
    takeoverMs = Math.max(takeoverMs, beyondLD);
  }
  await waitUntil(
    'two replicas within one shard of fair',
    async () => group.balanced(2),
    2 * leaseDurationMs,
  );

  // SIGTERM: the stopping replica releases its shards; the last one takes them at once.
  changedAt = performance.now();
  await named('replica-2').stop('SIGTERM');
  const last = await waitUntil(
    'replica-0 holding every shard again',
    async () => group.balanced(1),
    leaseDurationMs,
  );
  const scaleDownMs = performance.now() - changedAt;
  assert.equal(last.get('replica-0')?.length, shardCount);
  assert.ok(
    scaleDownMs < leaseDurationMs / 2,
    `released shards taken at once, not at expiry (${scaleDownMs} ms)`,
  );

  await Promise.all(group.pollers.map((p) => p.stop()));
  for (let shard = 0; shard < shardCount; shard++) {
    const windows = group.pollers.flatMap((p) => p.windows.get(shard) ?? []);
    assert.ok(windows.length > 0, `shard ${shard} was acted on`);
    assert.deepEqual(overlaps(windows), [], `shard ${shard}: two replicas acted at once`);
  }
  t.diagnostic(
    `scale-up 1→3 balanced in ${Math.round(scaleUpMs)} ms; crash: owned again ${Math.round(takeoverMs)} ms after expiry; ` +
      `scale-down 2→1 in ${Math.round(scaleDownMs)} ms`,
  );
});

test('a sharded sidecar refuses the single-Lease routes; a single one refuses /shards; bad shard numbers', async (t) => {
  const group = await shardGroup(t, 'routes', ['routes-single']);
  const sharded = await group.add('replica-0');
  const leader = await fetch(`${sharded.url}/leader`);
  assert.equal(leader.status, 409);
  assert.equal(((await leader.json()) as { code: string }).code, 'LEASEHOLD_SHARDED');
  const missing = await fetch(`${sharded.url}/shards?shard=${shardCount}`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as { code: string }).code, 'LEASEHOLD_NO_SUCH_SHARD');
  const one = await waitUntil(
    'shard 2 held',
    async () => {
      const body = (await (await fetch(`${sharded.url}/shards?shard=2`)).json()) as ShardsBody;
      return body.shards[0]?.isLeader ? body : undefined;
    },
    leaseDurationMs,
  );
  assert.deepEqual(
    one.shards.map((s) => [s.shard, s.lease.endsWith('/routes-2')]),
    [[2, true]],
  );
  assert.ok((one.shards[0]?.validForMs ?? 0) <= 500, 'a session-less answer promises at most 0.5 s');
  // Sessions: an unknown one is named, a bad activity body or shard is refused, nothing changes.
  const unknown = await fetch(`${sharded.url}/shards?session=nobody`);
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { code: string }).code, 'LEASEHOLD_SESSION_NOT_FOUND');
  const activity = async (body: unknown) => {
    const response = await fetch(`${sharded.url}/shards/activity`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return [response.status, ((await response.json()) as { code: string }).code];
  };
  assert.deepEqual(await activity({ session: 'nobody', shard: 0, active: false }), [
    404,
    'LEASEHOLD_SESSION_NOT_FOUND',
  ]);
  assert.deepEqual(await activity({ session: 'nobody', shard: shardCount, active: false }), [
    404,
    'LEASEHOLD_NO_SUCH_SHARD',
  ]);
  assert.deepEqual((await activity({ session: 'nobody', active: false }))[0], 400, 'shard missing');
  assert.equal((await activity({ session: 'x y', shard: 0, active: 'no' }))[0], 400);

  const single = await SidecarProcess.start({
    namespace: group.namespace,
    leaseName: 'routes-single',
    podName: 'single',
    kubeconfig: group.kubeconfig,
  });
  t.after(() => single.stop('SIGKILL'));
  for (const [method, path] of [
    ['GET', '/shards'],
    ['GET', '/shards/watch'],
    ['POST', '/shards/activity'],
  ] as const) {
    const refused = await fetch(`${single.url}${path}`, { method });
    assert.equal(refused.status, 409, path);
    assert.equal(((await refused.json()) as { code: string }).code, 'LEASEHOLD_NOT_SHARDED');
  }
});

/** Reads Server-Sent Events from `url` until `done` says enough; returns them parsed. */
async function readEvents(url: string, done: (events: { event: string; data: any }[]) => boolean) {
  const controller = new AbortController();
  const response = await fetch(url, { signal: controller.signal });
  assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const events: { event: string; data: any }[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
    if (done(events)) break;
  }
  controller.abort();
  return events;
}

test('GET /shards/watch: hello, then the shards now and on every change, held ones with their stream deadline', async (t) => {
  const group = await shardGroup(t, 'watched');
  const sidecar = await group.add('replica-0');
  await waitUntil('replica-0 holding every shard', async () => group.balanced(1, 0), leaseDurationMs);
  const openedAt = performance.now();
  let resigned: Promise<Response> | undefined;
  const events = await readEvents(`${sidecar.url}/shards/watch`, (seen) => {
    if (seen.length === 2)
      resigned = fetch(`${sidecar.url}/shards/resign?shard=1&pauseSeconds=5`, { method: 'POST' });
    return seen.some((e, i) => i > 1 && e.event === 'shards' && !e.data.shards[1].isLeader);
  });
  const receivedAt = performance.now();
  assert.equal((await resigned)?.status, 202);
  assert.deepEqual(events[0], { event: 'hello', data: { session: null, heartbeatMs: 5000 } });
  const first = events[1]?.data;
  assert.equal(events[1]?.event, 'shards');
  assert.deepEqual(first.mine, [0, 1, 2, 3, 4, 5]);
  // At most 0.5 s from when the answer was made, counted from when the stream was asked for.
  const bound = 500 + (receivedAt - openedAt);
  for (const item of first.shards) {
    assert.ok(
      item.streamDeadlineMs > 0 && item.streamDeadlineMs <= bound,
      `shard ${item.shard}: ${item.streamDeadlineMs}`,
    );
  }
  const last = events.at(-1)?.data;
  assert.deepEqual(last.mine, [0, 2, 3, 4, 5], 'the resigned shard is no longer held');
  assert.equal(last.shards[1].streamDeadlineMs, 0);
  assert.ok(receivedAt - openedAt < leaseDurationMs, 'the change was pushed, not found at expiry');
});

test("a shard gate's session: a shard's hand-over waits for the app's work on it, not for its promise; other shards keep theirs", async (t) => {
  const group = await shardGroup(t, 'sessions');
  const sidecar = await group.add('replica-0');
  await waitUntil('replica-0 holding every shard', async () => group.balanced(1, 0), leaseDurationMs);
  const gate = createShardGate({ url: sidecar.url, shards: shardCount });
  t.after(() => gate.close());
  const windDownMs = 300;
  const stopped: number[] = [];
  const loops = [1, 2].map((shard) =>
    gate.runWhileOwning(shard, async ({ signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      await sleep(windDownMs); // work that takes a while to wind down after its signal
      stopped[shard] = performance.now();
    }),
  );
  await waitUntil(
    'the gate owning shards 1 and 2',
    async () => (gate.ownsShard(1) && gate.ownsShard(2)) || undefined,
    leaseDurationMs,
  );
  const promisedMs = gate.current()[1]?.validForMs ?? 0;
  const askedAt = performance.now();
  const resigned = await fetch(`${sidecar.url}/shards/resign?shard=1&pauseSeconds=5`, { method: 'POST' });
  const releasedAt = performance.now();
  assert.equal(resigned.status, 202);
  assert.ok(
    stopped[1] !== undefined && releasedAt >= stopped[1],
    'released only once the work on shard 1 had stopped',
  );
  assert.ok(
    releasedAt - askedAt < promisedMs,
    `released ${Math.round(releasedAt - askedAt)} ms after asking, before the ${promisedMs} ms promised ran out`,
  );
  // More than any session-less client gets (SESSIONLESS_VALIDITY_SECONDS, 0.5 s by default).
  assert.ok(promisedMs > 500, `a session's promise: ${promisedMs} ms`);
  const lease = group.recorders[1]?.events.at(-1);
  assert.equal(lease?.holderIdentity, '', 'shard 1 released');
  assert.equal(gate.ownsShard(2), true, 'shard 2 untouched');
  assert.equal(stopped[2], undefined);
  await gate.close();
  await Promise.all(loops);
});

test('another shard count: the newcomer takes nothing and is not ready while the old count holds; then it takes over', async (t) => {
  const group = await shardGroup(t, 'recount');
  const old = await group.add('old-0');
  await waitUntil('old-0 holding every shard', async () => group.balanced(1, 0), leaseDurationMs);
  const renumbered = await group.add('new-0', 4);
  const ready = async () => {
    const response = await fetch(`${renumbered.url}/readyz`);
    return { status: response.status, body: (await response.json()) as { code?: string } };
  };
  const notReady = await waitUntil(
    'the newcomer not ready',
    async () => {
      const answer = await ready();
      return answer.status === 503 && answer.body.code ? answer : undefined;
    },
    leaseDurationMs,
  );
  assert.equal(notReady.body.code, 'LEASEHOLD_SHARD_COUNT_MISMATCH');
  await sleep(leaseDurationMs); // a whole lease duration: still nothing taken, nothing given
  const newcomer = group.pollers.find((p) => p.sidecar === renumbered);
  assert.deepEqual(newcomer?.latest?.mine, []);
  assert.equal(group.assignment()?.get('old-0')?.length, shardCount);
  for (const shard of [0, 1, 2, 3]) {
    const windows = group.pollers.flatMap((p) => p.windows.get(shard) ?? []);
    assert.deepEqual(
      windows.map((w) => w.replica).filter((r) => r !== 'old-0'),
      [],
      `shard ${shard}`,
    );
  }
  // The old count leaves (SIGTERM releases): the new one takes its four shards at once and is ready.
  await old.stop('SIGTERM');
  await waitUntil(
    'new-0 holding four shards, ready',
    async () => {
      const body = group.pollers.find((p) => p.sidecar === renumbered)?.latest;
      return body?.mine.length === 4 && (await ready()).status === 200 ? body : undefined;
    },
    leaseDurationMs,
  );
});

/** One sidecar's Prometheus text as {series: value}. */
async function scrape(sidecar: SidecarProcess): Promise<Map<string, number>> {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text();
  const series = new Map<string, number>();
  for (const line of text.split('\n'))
    if (line && !line.startsWith('#')) {
      const at = line.lastIndexOf(' ');
      series.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
  return series;
}

test('observable per shard: owned, epoch, master status per shard Lease, owned count and fair share, an Event per transition', async (t) => {
  const group = await shardGroup(t, 'seen');
  const [a, b] = [await group.add('replica-0'), await group.add('replica-1')];
  const held = await waitUntil(
    'two replicas with three shards each',
    async () => group.balanced(2, 0),
    leaseDurationMs * 6,
  );
  const [first, second] = [await scrape(a), await scrape(b)];
  for (let shard = 0; shard < shardCount; shard++) {
    const owners = [first, second].filter((m) => m.get(`leasehold_shard_owned{shard="${shard}"}`) === 1);
    assert.equal(owners.length, 1, `shard ${shard} owned by exactly one replica in the metrics`);
    const status = [first, second].map((m) => m.get(`leader_election_master_status{name="seen-${shard}"}`));
    assert.deepEqual(status.sort(), [0, 1], `client-go's series for Lease seen-${shard}`);
    assert.ok((first.get(`leasehold_shard_epoch{shard="${shard}"}`) ?? -1) >= 0);
  }
  assert.equal(
    first.get('leader_election_master_status{name="seen"}'),
    undefined,
    'no series for a Lease nobody holds',
  );
  for (const [metrics, sidecar] of [
    [first, a],
    [second, b],
  ] as const) {
    const mine = held.get(sidecar.podName) ?? [];
    assert.equal(metrics.get('leasehold_shards_owned'), mine.length);
    assert.equal(metrics.get('leasehold_shards_fair_share{bound="max"}'), 3);
    for (const shard of mine)
      assert.ok(
        (metrics.get(`leasehold_shard_transitions_total{shard="${shard}",kind="acquired"}`) ?? 0) >= 1,
      );
    assert.ok(
      [...metrics.keys()].some((k) => k.startsWith('leasehold_shard_renew_duration_seconds_count{shard=')),
      'renewals by shard',
    );
  }
  // Each acquisition is an Event on its shard's Lease, as client-go records leadership.
  const { body } = await rawApi('GET', `/api/v1/namespaces/${group.namespace}/events`);
  const acquiredOn = new Set(
    (body.items as { involvedObject: { name: string }; reason: string; message: string }[])
      .filter((e) => e.reason === 'LeaderElection' && e.message.includes('became leader'))
      .map((e) => e.involvedObject.name),
  );
  for (let shard = 0; shard < shardCount; shard++)
    assert.ok(acquiredOn.has(`seen-${shard}`), `Event on seen-${shard}`);
});

test('sharded /readyz says LEASEHOLD_API_FORBIDDEN when the ServiceAccount may not use the shard Leases', async (t) => {
  const namespace = await createNamespace('shards-rbac');
  await createServiceAccount(namespace, 'norbac', []);
  const sidecar = await SidecarProcess.start({
    namespace,
    leaseName: 'denied',
    podName: 'denied-0',
    kubeconfig: await serviceAccountKubeconfig(namespace, 'norbac'),
    env: { SHARDS: '2' },
  });
  t.after(() => sidecar.stop('SIGKILL'));
  const body = await waitUntil(
    'not ready with the RBAC code',
    async () => {
      const response = await fetch(`${sidecar.url}/readyz`);
      const answer = (await response.json()) as { code?: string };
      return response.status === 503 && answer.code ? answer : undefined;
    },
    leaseDurationMs,
  );
  assert.equal(body.code, 'LEASEHOLD_API_FORBIDDEN');
  assert.ok(
    sidecar
      .logLines()
      .some((l) => l.level === 50 && String(l.msg).includes('grant get/watch/update on leases')),
    'the RBAC hint is logged',
  );
});
