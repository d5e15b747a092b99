// The shard set with an injected clock and one in-memory Lease per shard: what it takes, asks for, gives
// up and reports, each guard on its own. The balancing rules are table-tested in balance.test.ts; the same
// behaviour against a real apiserver is in test/integration/shards.test.ts.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import type { ElectorHooks } from '../src/elector-hooks.ts';
import { ShardSet } from '../src/shards/shard-set.ts';
import { preferredHolderAnnotation, shardCountAnnotation } from '../src/shards/shard-strategy.ts';
import { electorConfig, ManualClock, MemoryLeaseApi, settle, silentLogger } from './fakes.ts';

const config = { ...electorConfig, leaseName: 'ctl', shards: 4 };

function shardSet(t: TestContext, hooksFor?: (index: number, name: string) => Partial<ElectorHooks>) {
  const clock = new ManualClock();
  const apis = new Map<string, MemoryLeaseApi>();
  const set = new ShardSet({
    config,
    apiFor: (name) => {
      const api = new MemoryLeaseApi(clock, name);
      apis.set(name, api);
      return api;
    },
    clock,
    logger: silentLogger,
    ...(hooksFor ? { hooksFor } : {}),
  });
  t.after(() => settle(clock, set.stop()));
  const api = (i: number) => apis.get(`ctl-${i}`) as MemoryLeaseApi;
  const owned = () => set.shards.filter((s) => s.elector.isLeader()).map((s) => s.index);
  return { clock, set, api, owned };
}

const annotations = (api: MemoryLeaseApi) =>
  (api.lease?.metadata?.annotations ?? {}) as Record<string, string>;

/** Another replica holding shard `i` with `shards` in its count annotation, renewed just now. */
function heldByOther(api: MemoryLeaseApi, clock: ManualClock, shards = '4', holder = 'other_1'): void {
  api.seed(
    {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: new Date(clock.wallMs).toISOString().replace('Z', '000Z'),
      renewTime: new Date(clock.wallMs).toISOString().replace('Z', '000Z'),
      leaseTransitions: 0,
    },
    { metadata: { name: api.name, namespace: 'ns', annotations: { [shardCountAnnotation]: shards } } },
  );
}

/** Another replica holds all four shards, the set started: it has asked for one (see the test below). */
async function busierHoldsAll(t: TestContext) {
  const made = shardSet(t);
  for (let i = 0; i < 4; i++) heldByOther(made.api(i), made.clock);
  made.set.start();
  await made.clock.advance(0);
  await made.clock.advance(0);
  const mine = () =>
    [0, 1, 2, 3].filter((i) => annotations(made.api(i))[preferredHolderAnnotation] === 'me_1');
  return { ...made, mine };
}

test('alone: nothing before the shard Leases are read, then every shard, each written with the shard count', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  const health = set.health(() => undefined);
  assert.equal(health.ready(), false, 'not ready before the reads');
  set.start();
  assert.deepEqual(owned(), []);
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), [0, 1, 2, 3]);
  for (let i = 0; i < 4; i++) assert.equal(annotations(api(i))[shardCountAnnotation], '4', `shard ${i}`);
  assert.equal(health.ready(), true);
  assert.equal(health.stuck(), undefined);
  assert.equal(set.isLeader(), true);
  assert.equal(set.identity, 'me_1');
});

test('hooksFor: each shard elector gets the hooks made for its index and Lease name', async (t) => {
  const acquired: string[] = [];
  const { clock, set } = shardSet(t, (index, name) => ({
    acquired: () => acquired.push(`${index}:${name}`),
  }));
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(acquired.sort(), ['0:ctl-0', '1:ctl-1', '2:ctl-2', '3:ctl-3']);
});

test('another shard count holds a shard Lease: not ready with LEASEHOLD_SHARD_COUNT_MISMATCH, owns nothing', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  heldByOther(api(2), clock, '8');
  const health = set.health(() => ({ code: 'LEASEHOLD_API_ERROR', message: 'x' }));
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), []);
  assert.equal(health.ready(), false);
  assert.equal(health.problem()?.code, 'LEASEHOLD_SHARD_COUNT_MISMATCH', 'the mismatch before any API error');
  assert.match(health.problem()?.message ?? '', /with 8 shards, this one has 4/);
});

test('without a mismatch, /readyz explains with the last API error', async (t) => {
  const { set } = shardSet(t);
  const health = set.health(() => ({ code: 'LEASEHOLD_API_FORBIDDEN', message: 'no' }));
  assert.equal(health.problem()?.code, 'LEASEHOLD_API_FORBIDDEN');
});

test('a busier replica holds every shard: this one asks for one (preferred-holder annotation), once per retry period', async (t) => {
  const { clock, api, mine: asked } = await busierHoldsAll(t);
  assert.equal(asked().length, 1, 'one shard asked for');
  await clock.advance(1_000);
  assert.equal(asked().length, 1, 'not a second one within the retry period');
  const writes = [0, 1, 2, 3].reduce((n, i) => n + api(i).writes.length, 0);
  assert.equal(writes, 1, 'the ask is the only write');
});

test('resign: every owned shard is handed over and stays out for the pause', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  await settle(clock, set.resign(5_000));
  assert.deepEqual(owned(), []);
  assert.equal(set.isLeader(), false);
  for (let i = 0; i < 4; i++) assert.equal(api(i).lease?.spec?.holderIdentity, '', `shard ${i} released`);
});

test('a shard still claimed past its deadline (timers not running) makes /healthz say which', async (t) => {
  const { clock, set } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  // Time jumps past every deadline without a timer firing (a frozen event loop).
  clock.nowMs += 20_000;
  assert.match(set.health(() => undefined).stuck() ?? '', /^shard 0 past its renew deadline$/);
});

test('some shards owned, not all: isLeader; resign and stop touch only what it owns', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  heldByOther(api(3), clock);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), [0, 1], 'two live replicas: two each, shard 2 stays free');
  assert.equal(set.isLeader(), true);
  const before = api(3).writes.length;
  await settle(clock, set.resign(5_000));
  assert.equal(api(3).writes.length, before, "the other replica's shard is not written");
  assert.equal(api(3).lease?.spec?.holderIdentity, 'other_1');
});

test('one shard Lease not read yet (its API down): not ready', async (t) => {
  const { clock, set, api } = shardSet(t);
  api(1).down = true;
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.equal(set.health(() => undefined).ready(), false);
  api(1).down = false;
  await clock.advance(10_000);
  assert.equal(set.health(() => undefined).ready(), true);
});

test('a request of ours unmet for LD is withdrawn (the annotation removed), and asked again later', async (t) => {
  const { clock, api, mine } = await busierHoldsAll(t);
  const [asked] = mine();
  assert.notEqual(asked, undefined);
  // The other replica keeps renewing, and never hands it over.
  const renew = () => {
    for (let i = 0; i < 4; i++)
      api(i).externalWrite({ renewTime: new Date(clock.wallMs).toISOString().replace('Z', '000Z') });
  };
  let withdrawnAt: number | undefined;
  for (let step = 0; step < 20 && withdrawnAt === undefined; step++) {
    renew();
    await clock.advance(1_000);
    if (mine().length === 0) withdrawnAt = clock.nowMs;
  }
  assert.ok(withdrawnAt !== undefined && withdrawnAt >= 1_000 + 15_000, `withdrawn at ${withdrawnAt}`);
  for (let step = 0; step < 5 && mine().length === 0; step++) {
    renew();
    await clock.advance(1_000);
  }
  assert.equal(mine().length, 1, 'asked again');
});

test('asked for a shard by a replica below its share: this one (above it) hands that shard over and stays out for LD', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), [0, 1, 2, 3]);
  const versionBefore = set.version;
  // Another replica, holding nothing, asks for shard 1: two live replicas, two each.
  api(1).externalAnnotate({ [preferredHolderAnnotation]: 'other_1' });
  await clock.advance(0);
  await clock.advance(0);
  assert.equal(api(1).lease?.spec?.holderIdentity, '', 'shard 1 released for the asker');
  assert.deepEqual(owned(), [0, 2, 3]);
  assert.ok(set.version > versionBefore, 'the change counted');
  assert.deepEqual(set.plan()?.live, ['me_1', 'other_1']);
  // Nobody takes it: this replica stays out of it for LD, and while the asker counts as live (2 × LD
  // from its request) it stays at its share; then it is alone again and takes the shard back.
  await clock.advance(10_000);
  assert.equal(owned().includes(1), false, 'out for LD');
  await clock.advance(25_000);
  assert.deepEqual(owned(), [0, 1, 2, 3], 'taken back once the asker no longer counts as live');
});

test('a shard handed over comes back at once when its taker lets it go: the giver waits on the plan, not a pause', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  api(1).externalAnnotate({ [preferredHolderAnnotation]: 'other_1' });
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), [0, 2, 3], 'handed over');
  // The asker takes it (its acquisition settles the request) and, a second later, lets it go again.
  await clock.advance(1_000);
  api(1).externalWrite({ holderIdentity: 'other_1', leaseDurationSeconds: 15, leaseTransitions: 2 });
  api(1).externalAnnotate({ [preferredHolderAnnotation]: undefined });
  await clock.advance(1_000);
  api(1).externalWrite({ holderIdentity: '', leaseDurationSeconds: 1 });
  await clock.advance(0);
  await clock.advance(0);
  // Nobody asks for it now: this replica, alone with room, takes it back well inside LD of the hand-over.
  assert.deepEqual(owned(), [0, 1, 2, 3]);
});

test('another shard count appears while holding shards: every held shard is released and none taken', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.deepEqual(owned(), [0, 1, 2, 3]);
  // Shard 3 taken by a replica of another count (its Lease rewritten under us).
  api(3).externalWrite({ holderIdentity: 'other_1', leaseTransitions: 1 });
  api(3).externalAnnotate({ [shardCountAnnotation]: '8' });
  await clock.advance(0);
  await clock.advance(0);
  for (let i = 0; i < 3; i++) assert.equal(api(i).lease?.spec?.holderIdentity, '', `shard ${i} released`);
  assert.deepEqual(owned(), []);
  for (let step = 0; step < 30; step++) {
    api(3).externalWrite({ renewTime: new Date(clock.wallMs).toISOString().replace('Z', '000Z') });
    await clock.advance(1_000);
  }
  assert.deepEqual(owned(), [], 'nothing taken while the other count holds a shard');
  assert.equal(set.problem()?.code, 'LEASEHOLD_SHARD_COUNT_MISMATCH');
  // The other count's holder goes away: its Lease expires, and the shards are taken again.
  await clock.advance(20_000);
  assert.deepEqual(owned(), [0, 1, 2, 3]);
});

test('stop: every held shard released, and nothing taken afterwards', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  await settle(clock, set.stop());
  for (let i = 0; i < 4; i++) assert.equal(api(i).lease?.spec?.holderIdentity, '', `shard ${i} released`);
  const writes = [0, 1, 2, 3].map((i) => api(i).writes.length);
  await clock.advance(60_000);
  assert.deepEqual(owned(), []);
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => api(i).writes.length),
    writes,
    'no write after stop',
  );
});

test("a holder that stops renewing: its shard is taken when its Lease expires, by the plan's own timer", async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  heldByOther(api(2), clock);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  assert.equal(owned().includes(2), false);
  // No watch event comes: only the expiry (LD after the last renewal seen) changes the plan.
  await clock.advance(14_000);
  assert.equal(owned().includes(2), false, 'not before the expiry');
  await clock.advance(2_000);
  assert.equal(owned().includes(2), true, 'taken at the expiry');
  assert.equal(set.plan()?.live.length, 1);
});

test("each shard is released only once its own ledger's promises are kept", async (t) => {
  const { clock, set, api } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  (set.shards[1] as (typeof set.shards)[number]).ledger.promise(clock.now() + 5_000);
  const resigning = set.resign(1_000);
  await clock.advance(0);
  await clock.advance(0);
  assert.equal(api(0).lease?.spec?.holderIdentity, '', 'shard 0 released at once');
  assert.equal(api(1).lease?.spec?.holderIdentity, 'me_1', 'shard 1 kept while its promise runs');
  await clock.advance(4_900);
  assert.equal(api(1).lease?.spec?.holderIdentity, 'me_1');
  await settle(clock, resigning);
  assert.equal(api(1).lease?.spec?.holderIdentity, '', 'released once the promise ran out');
  assert.ok(clock.nowMs >= 6_000, `at ${clock.nowMs}`);
});

test('stop takes back a request of ours still standing, so that the others stop counting this replica at once', async (t) => {
  const { clock, set, api, mine } = await busierHoldsAll(t);
  assert.equal(mine().length, 1, 'a request stands');
  // Someone else's request elsewhere is not ours to take back.
  const other = [0, 1, 2, 3].find((i) => !mine().includes(i)) as number;
  api(other).externalAnnotate({ [preferredHolderAnnotation]: 'third_3' });
  await settle(clock, set.stop());
  assert.deepEqual(mine(), []);
  assert.equal(annotations(api(other))[preferredHolderAnnotation], 'third_3');
});

test('stop leaves the annotation of a shard it leads to that shard, and stops even when taking a request back fails', async (t) => {
  const { clock, set, api, owned } = shardSet(t);
  set.start();
  await clock.advance(0);
  await clock.advance(0);
  const [held] = owned();
  assert.notEqual(held, undefined);
  api(held as number).externalAnnotate({ [preferredHolderAnnotation]: 'me_1' });
  await settle(clock, set.stop());
  assert.equal(annotations(api(held as number))[preferredHolderAnnotation], 'me_1', 'not taken back');
  assert.equal(api(held as number).lease?.spec?.holderIdentity, '', 'released');

  const other = await busierHoldsAll(t);
  const [asked] = other.mine();
  assert.notEqual(asked, undefined);
  (other.api(asked as number) as { down: boolean }).down = true;
  await settle(other.clock, other.set.stop()); // resolves: the request ages out by itself
  assert.equal(annotations(other.api(asked as number))[preferredHolderAnnotation], 'me_1');
});
