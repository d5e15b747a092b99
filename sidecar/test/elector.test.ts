// The elector's effect loop with an injected clock and an in-memory Lease: each test holds one guard of
// the election engine and fails when that guard is removed. The rules themselves are table-tested in
// protocol.test.ts; the same behaviour against a real apiserver is in test/integration.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { Elector, type ElectorConfig } from '../src/elector.ts';
import type { ElectorHooks } from '../src/elector-hooks.ts';
import { oneLeaseStrategy } from '../src/lease/lease-strategy.ts';
import {
  preferredHolderAnnotation,
  shardCountAnnotation,
  shardLeaseStrategy,
} from '../src/shards/shard-strategy.ts';
import {
  capturingLogger,
  electorConfig,
  flush,
  ManualClock,
  MemoryLeaseApi,
  PromiseGate,
  settle,
  silentLogger,
  stopElector,
} from './fakes.ts';

const defaults = electorConfig;
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function setup(hooks: Partial<ElectorHooks> = {}, config: Partial<ElectorConfig> = {}, startMs = 1_000) {
  const clock = new ManualClock();
  clock.nowMs = startMs;
  const api = new MemoryLeaseApi(clock);
  const elector = new Elector({
    config: { ...defaults, ...config },
    api,
    clock,
    logger: silentLogger,
    hooks,
  });
  return { clock, api, elector };
}

/** An elector with `options` on its own in-memory Lease (on `clock` if given), stopped after the test. */
function electorWith(
  t: TestContext,
  options: Partial<ConstructorParameters<typeof Elector>[0]>,
  clock = new ManualClock(),
) {
  const api = new MemoryLeaseApi(clock);
  const elector = new Elector({ config: defaults, api, clock, logger: silentLogger, ...options });
  t.after(() => stopElector(clock, elector));
  return { clock, api, elector };
}

test('creates a missing Lease: epoch 0, six-digit times, validity min(RD, LD - margin)', async (t) => {
  const { clock, api, elector } = setup({}, { safetyMarginSeconds: 6 });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const snapshot = elector.snapshot();
  assert.equal(snapshot.isLeader, true);
  assert.equal(snapshot.epoch, 0);
  assert.equal(snapshot.validForMs, 9_000, 'the margin binds: LD 15 - margin 6 < RD 10');
  assert.equal(snapshot.role, 'leader');
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
  assert.equal(api.lease?.spec?.leaseDurationSeconds, 15);
  assert.match(String(api.lease?.spec?.renewTime), microTime);
  assert.match(String(api.lease?.spec?.acquireTime), microTime);
});

test('a follower takes over exactly one lease duration after it last saw the record change', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({
    holderIdentity: 'other_9',
    leaseDurationSeconds: 15,
    renewTime: '2020-01-01T00:00:00.000000Z',
    leaseTransitions: 4,
  });
  elector.start();
  await clock.advance(0);
  assert.equal(elector.snapshot().holder, 'other_9');
  assert.equal(elector.snapshot().epoch, 4);
  // Old-looking timestamps do not matter: only the local time of the last observed change does.
  await clock.advance(10_000);
  api.externalWrite({ renewTime: '2020-01-01T00:00:10.000000Z' });
  await clock.advance(14_999);
  assert.equal(elector.isLeader(), false);
  await clock.advance(2);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 5);
  assert.equal(api.lease?.spec?.leaseTransitions, 5);
});

test('"am I leader" is computed from the clock when asked, not from timers having fired', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.down = true;
  clock.nowMs += 10_000; // an event-loop stall: time passes, no timer runs
  assert.equal(elector.isLeader(), false);
  assert.equal(elector.snapshot().validForMs, 0);
});

test('API down: the leader demotes at its deadline, and regains its own Lease (same epoch) when the API is back', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.down = true;
  await clock.advance(9_999);
  assert.equal(elector.isLeader(), true);
  await clock.advance(1);
  assert.equal(elector.isLeader(), false);
  assert.deepEqual(demotions, ['renew-deadline']);
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), false);
  api.down = false;
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 0);
});

test('a hung renewal is cut off at the deadline, and the loss is pushed then, not when the call gives up', async (t) => {
  // LD 8 / RD 6 / margin 6: the request timeout (RD/2 = 3 s) exceeds the validity (LD - margin = 2 s).
  const changes: boolean[] = [];
  const { clock, api, elector } = setup(
    { stateChanged: (s) => changes.push(s.isLeader) },
    { leaseDurationSeconds: 8, renewDeadlineSeconds: 6, retryPeriodSeconds: 1, safetyMarginSeconds: 6 },
  );
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.hang = true;
  await clock.advance(1_999);
  assert.equal(changes.at(-1), true);
  const hung = api.calls.filter((c) => c.method === 'replace').at(-1);
  assert.equal(hung?.timeoutMs, 1_000, 'the renewal sent at +1 s may wait only for the 1 s of validity left');
  await clock.advance(1);
  assert.equal(changes.at(-1), false, 'demotion pushed at the deadline');
});

test('renewals succeed when the validity left is shorter than the request timeout (whole-ms timeouts)', async (t) => {
  // LD 4 / RD 3 / RP 1 / margin 2: validity 2 s, request timeout 1.5 s; a fractional clock start makes
  // "validity left" a fraction, which AbortSignal.timeout refuses.
  const { clock, api, elector } = setup(
    {},
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1, safetyMarginSeconds: 2 },
    1_000.37,
  );
  t.after(() => stopElector(clock, elector));
  let lost = 0;
  let was = false;
  elector.on('change', (s) => {
    if (was && !s.isLeader) lost++;
    was = s.isLeader;
  });
  elector.start();
  await clock.advance(0);
  api.latencyMs = 600; // each renewal leaves less validity than the request timeout when it is sent
  await clock.advance(20_000);
  assert.equal(elector.isLeader(), true);
  assert.equal(lost, 0);
  const renewals = api.calls.filter((c) => c.method === 'replace');
  assert.ok(renewals.length >= 10, `${renewals.length} renewals`);
  assert.ok(renewals.every((c) => Number.isInteger(c.timeoutMs) && c.timeoutMs <= 1_500));
});

test('renews every retry period but never twice in one wall second, keeping acquireTime and epoch', async (t) => {
  // RP 0.3 s: without the wall-second rule there would be three renewals per second.
  const { clock, api, elector } = setup(
    {},
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 0.3, safetyMarginSeconds: 1 },
  );
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const acquireTime = api.lease?.spec?.acquireTime;
  const before = api.writes.length;
  await clock.advance(10_000);
  const renewals = api.writes.slice(before);
  assert.ok(renewals.length >= 9 && renewals.length <= 11, `${renewals.length} renewals in 10 s`);
  const seconds = renewals.map((w) => String(w.spec?.renewTime).slice(0, 19));
  assert.equal(new Set(seconds).size, seconds.length, 'one renewTime per wall second');
  assert.ok(renewals.every((w) => w.spec?.acquireTime === acquireTime && w.spec?.leaseTransitions === 0));
  assert.equal(elector.isLeader(), true);
});

test('a renewal answered after the deadline extends nothing', async (t) => {
  const { clock, api, elector } = setup(
    {},
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1, safetyMarginSeconds: 1 },
  );
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const acquiredAt = clock.nowMs;
  api.latencyMs = 2_500; // the first renewal (sent at +1 s) answers at +3.5 s, past validity (+3 s)
  await clock.advance(3_400);
  assert.equal(elector.isLeader(), false, 'demoted at the deadline');
  await clock.advance(150);
  assert.ok(api.writes.length >= 2, 'the renewal reached the Lease');
  assert.equal(elector.isLeader(), false, 'its late answer did not re-promote');
  assert.ok(clock.nowMs - acquiredAt >= 3_500);
});

test('a foreign holder written over ours demotes the leader at once; nobody takes over before expiry', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.externalWrite({ holderIdentity: 'intruder', leaseTransitions: 1 });
  await flush();
  assert.equal(elector.isLeader(), false);
  assert.deepEqual(demotions, ['lost']);
  assert.equal(elector.snapshot().holder, 'intruder');
  await clock.advance(14_990);
  assert.equal(elector.isLeader(), false);
  await clock.advance(20);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 2);
});

test('our own holder with another epoch demotes the leader', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.externalWrite({ leaseTransitions: 7 });
  await flush();
  assert.deepEqual(demotions, ['epoch-changed']);
  // The Lease still names us, so we take it again at once, but as a new term: the epoch moved on.
  assert.equal(elector.snapshot().epoch, 7);
});

test('a watch event older than what we wrote does not undo it', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const old = {
    metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
    spec: { holderIdentity: 'ghost_0', leaseDurationSeconds: 15 },
  };
  api.emitRaw({ type: 'MODIFIED', object: old });
  await flush();
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().holder, 'me_1');
});

test('garbage durations: missing or unusable are judged with our own; huge ones are honoured', async () => {
  for (const leaseDurationSeconds of [undefined, -5, 0, 2.5, 'ten']) {
    const { clock, api, elector } = setup();
    api.seed({ holderIdentity: 'odd_1', leaseDurationSeconds });
    elector.start();
    await clock.advance(14_000);
    assert.equal(elector.isLeader(), false, `took over early with duration ${leaseDurationSeconds}`);
    await clock.advance(1_100);
    assert.equal(elector.isLeader(), true, `never took over with duration ${leaseDurationSeconds}`);
    await elector.stop();
  }
  const { clock, api, elector } = setup();
  api.seed({ holderIdentity: 'forever_1', leaseDurationSeconds: 1_000_000_000 });
  elector.start();
  await clock.advance(3_600_000);
  assert.equal(elector.isLeader(), false);
  await elector.stop();
});

test('a Lease with no holder is free at once; unknown fields survive our writes', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({ leaseDurationSeconds: 15, futureField: { keep: true } }, { status: { somethingNew: 1 } });
  elector.start();
  await clock.advance(0);
  assert.equal(elector.isLeader(), true);
  assert.deepEqual(api.lease?.spec?.futureField, { keep: true });
  assert.deepEqual(api.lease?.status, { somethingNew: 1 });
});

test('a holder emptied by someone (not a release) is waited out like a held Lease', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15, leaseTransitions: 2 });
  elector.start();
  await clock.advance(1_000);
  api.externalWrite({ holderIdentity: '' });
  await clock.advance(14_900);
  assert.equal(elector.isLeader(), false);
  await clock.advance(200);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 3);
});

test('coordinated leader election (spec.strategy) is left to the apiserver', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: '', strategy: 'OldestEmulationVersion' });
  elector.start();
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), false);
  assert.equal(api.writes.length, 0);
});

test('deleted while a follower: waits out the old holder, then creates it with an epoch above anything seen', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: 'old_1', leaseDurationSeconds: 15, leaseTransitions: 41 });
  elector.start();
  await clock.advance(2_000);
  api.delete();
  await clock.advance(14_900);
  assert.equal(api.lease, undefined, 'not created while the old holder may still act');
  assert.equal(elector.isLeader(), false);
  await clock.advance(200);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 42);
  assert.equal(
    (api.lease as { spec?: { leaseTransitions?: number } } | undefined)?.spec?.leaseTransitions,
    42,
  );
});

test('deleted under the leader: it writes the Lease again and keeps leading with the same epoch', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: 'old_1', leaseDurationSeconds: 15, leaseTransitions: 4 });
  elector.start();
  await clock.advance(16_000);
  assert.equal(elector.snapshot().epoch, 5);
  api.delete();
  await clock.advance(2_100);
  assert.equal(elector.isLeader(), true);
  assert.deepEqual(demotions, []);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
  assert.equal(api.lease?.spec?.leaseTransitions, 5);
});

test('stop: demote first, keep every promise, then release (holder "", duration 1, epoch kept)', async () => {
  const order: string[] = [];
  const promises = new PromiseGate();
  const { clock, api, elector } = setup({
    demoted: (reason) => order.push(`demoted ${reason}`),
    promisesKept: () => {
      order.push(`waiting while holder=${api.lease?.spec?.holderIdentity}`);
      return promises.promisesKept();
    },
    released: () => order.push('released'),
  });
  elector.start();
  await clock.advance(0);
  const writes = api.writes.length;
  const stopping = elector.stop();
  await clock.advance(5_000);
  assert.equal(elector.snapshot().role, 'stopping');
  assert.equal(elector.isLeader(), false);
  assert.equal(api.writes.length, writes, 'nothing written while promises are outstanding');
  promises.open();
  await stopping;
  assert.deepEqual(order, ['demoted shutdown', 'waiting while holder=me_1', 'released']);
  assert.equal(api.lease?.spec?.holderIdentity, '');
  assert.equal(api.lease?.spec?.leaseDurationSeconds, 1);
  assert.equal(api.lease?.spec?.leaseTransitions, 0);
  assert.equal(api.lease?.spec?.acquireTime, api.lease?.spec?.renewTime);
  assert.equal(elector.snapshot().role, 'stopped');
});

test('resign: the pause counts from the release, and a watch event during it does not cut it short', async (t) => {
  const promises = new PromiseGate();
  const { clock, api, elector } = setup({ promisesKept: promises.promisesKept });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const resigning = elector.resign(3_000);
  assert.equal(elector.snapshot().role, 'releasing');
  await clock.advance(2_000); // promises take 2 s to be kept
  promises.open();
  await resigning;
  assert.equal(api.lease?.spec?.holderIdentity, '');
  const releasedAt = clock.nowMs;
  assert.equal(elector.snapshot().role, 'paused');
  api.externalWrite({ renewTime: '2026-01-15T10:00:09.000000Z' }); // a watch event while paused
  await clock.advance(2_990);
  assert.equal(elector.isLeader(), false, `re-acquired ${clock.nowMs - releasedAt} ms after the release`);
  await clock.advance(20);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 1);
});

test('while handing off, the elector writes nothing (no renewal, no acquire)', async (t) => {
  const promises = new PromiseGate();
  const { clock, api, elector } = setup({ promisesKept: promises.promisesKept });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const resigning = elector.resign(0);
  const calls = api.calls.length;
  await clock.advance(8_000); // four retry periods
  assert.equal(api.calls.length, calls);
  promises.open();
  await resigning;
});

test('a release it no longer owns is not written (the precondition fails, a fresh read says so)', async (t) => {
  const conflicts: number[] = [];
  const { clock, api, elector } = setup({ conflict: () => conflicts.push(clock.nowMs) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.muteWatch = true; // the elector does not see the next write
  api.externalWrite({ holderIdentity: 'next_2', leaseTransitions: 1 });
  const writes = api.writes.length;
  await elector.stop();
  assert.ok(
    api.calls.some((c) => c.method === 'replace'),
    'the release was attempted',
  );
  assert.ok(conflicts.length >= 1, 'and refused by the precondition');
  assert.equal(api.writes.length, writes);
  assert.equal(api.lease?.spec?.holderIdentity, 'next_2');
});

test('preferredHolder naming someone else: the leader resigns and stays out for a lease duration', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.externalWrite({ preferredHolder: 'other_2' });
  await clock.advance(10);
  assert.deepEqual(demotions, ['preferred-holder']);
  assert.equal(api.lease?.spec?.holderIdentity, '');
  await clock.advance(14_900);
  assert.equal(elector.isLeader(), false);
});

test('held off: a free Lease is left alone until the hold-off is lifted, then taken at once', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  elector.holdOff(Number.POSITIVE_INFINITY);
  elector.start();
  await clock.advance(60_000);
  assert.equal(api.calls.filter((c) => c.method === 'create').length, 0, 'never created while held off');
  assert.ok(
    api.calls.some((c) => c.method === 'get'),
    'still reads',
  );
  // Lifted in the same tick as another poke (the shard set does this on a watch event): not lost.
  elector.holdOff(1e12);
  elector.holdOff(Number.NEGATIVE_INFINITY);
  await clock.advance(0);
  assert.equal(elector.isLeader(), true);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
});

test('view() with the shard strategy: holder, expiry of another holder, preference from the annotation; an acquisition settles it', async (t) => {
  const { clock, api, elector } = electorWith(t, { strategy: shardLeaseStrategy(3) });
  const observed: number[] = [];
  elector.on('observed', () => observed.push(clock.nowMs));
  assert.deepEqual(elector.view(), {
    holder: '',
    preferredHolder: undefined,
    expiresAt: Number.NEGATIVE_INFINITY,
    changedAt: Number.NEGATIVE_INFINITY,
    preferenceSince: Number.NEGATIVE_INFINITY,
    leading: false,
    known: false,
    annotations: {},
  });
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15, leaseTransitions: 1 });
  elector.holdOff(Number.POSITIVE_INFINITY);
  elector.start();
  await clock.advance(0);
  assert.deepEqual(elector.view(), {
    holder: 'other_2',
    preferredHolder: undefined,
    expiresAt: 16_000,
    changedAt: 1_000,
    preferenceSince: Number.NEGATIVE_INFINITY,
    leading: false,
    known: true,
    annotations: {},
  });
  // Only the annotation changes: the record is the same, yet the change is announced.
  const announced = observed.length;
  await clock.advance(1_000);
  api.externalAnnotate({ [preferredHolderAnnotation]: 'me_1' });
  await clock.advance(0);
  assert.equal(elector.view().preferredHolder, 'me_1');
  assert.equal(elector.view().changedAt, 1_000, 'the record itself did not change');
  assert.equal(elector.view().preferenceSince, 2_000, 'the preference did, now');
  assert.equal(observed.length, announced + 1);
  // A write that changes neither the record nor the preference announces nothing; an empty one is none.
  await clock.advance(500);
  api.externalAnnotate({ 'example.io/other': 'x' });
  await clock.advance(0);
  assert.equal(observed.length, announced + 1);
  assert.equal(elector.view().preferenceSince, 2_000, 'another annotation is not a new preference');
  api.externalAnnotate({ [preferredHolderAnnotation]: '' });
  await clock.advance(0);
  assert.equal(elector.view().preferredHolder, undefined);
  api.externalAnnotate({ [preferredHolderAnnotation]: 'me_1' });
  await clock.advance(0);
  elector.holdOff(Number.NEGATIVE_INFINITY);
  await clock.advance(14_000);
  assert.equal(elector.isLeader(), true);
  const annotations = (api.lease?.metadata?.annotations ?? {}) as Record<string, string>;
  assert.equal(annotations[preferredHolderAnnotation], undefined, 'settled by the acquisition');
  assert.equal(annotations[shardCountAnnotation], '3', 'written by the acquisition');
  assert.equal(annotations['example.io/other'], 'x', 'other annotations are kept');
  await clock.advance(2_000);
  const renewed = (api.lease?.metadata?.annotations ?? {}) as Record<string, string>;
  assert.equal(renewed[shardCountAnnotation], '3', 'kept by renewals');
  assert.ok(api.writes.length >= 2);
  assert.equal(elector.view().leading, true);
  assert.equal(elector.view().expiresAt, Number.NEGATIVE_INFINITY, 'ours: no expiry to wait for');
});

test("a strategy's acquisition annotations: a Lease the elector creates carries them; one Lease's strategy writes none", async (t) => {
  const annotations = { [shardCountAnnotation]: '5' };
  const { clock, api, elector } = electorWith(t, { strategy: shardLeaseStrategy(5) });
  elector.start();
  await clock.advance(0);
  assert.equal(elector.isLeader(), true);
  assert.deepEqual(api.lease?.metadata?.annotations, annotations);
  // Taken over from another holder whose Lease has no annotations: written by the update too.
  const { api: api2, elector: taker } = electorWith(t, { strategy: shardLeaseStrategy(5) }, clock);
  api2.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 1, leaseTransitions: 1 });
  taker.start();
  await clock.advance(2_000);
  assert.equal(taker.isLeader(), true);
  assert.deepEqual(api2.lease?.metadata?.annotations, annotations);
  // One Lease's strategy adds nothing, neither by a creation nor by a takeover, and keeps what is there.
  const created = setup();
  t.after(() => stopElector(created.clock, created.elector));
  created.elector.start();
  await created.clock.advance(0);
  assert.equal(created.elector.isLeader(), true);
  assert.equal(created.api.lease?.metadata?.annotations, undefined);
  const plain = setup();
  t.after(() => stopElector(plain.clock, plain.elector));
  plain.api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 1, leaseTransitions: 1 });
  plain.elector.start();
  await plain.clock.advance(2_000);
  assert.equal(plain.elector.isLeader(), true);
  assert.equal(plain.api.lease?.metadata?.annotations, undefined);
  const annotated = setup();
  t.after(() => stopElector(annotated.clock, annotated.elector));
  annotated.api.seed(
    { holderIdentity: 'other_2', leaseDurationSeconds: 1, leaseTransitions: 1 },
    { metadata: { name: 'l', namespace: 'ns', annotations: { 'example.io/owner': 'team-a' } } },
  );
  annotated.elector.start();
  await annotated.clock.advance(2_000);
  assert.equal(annotated.elector.isLeader(), true);
  assert.deepEqual(annotated.api.lease?.metadata?.annotations, { 'example.io/owner': 'team-a' });
});

test('a preference for another replica with a strategy that does not yield: the leader keeps leading', async (t) => {
  const { clock, api, elector } = electorWith(t, {
    strategy: { ...oneLeaseStrategy, yieldsToPreferred: false },
  });
  elector.start();
  await clock.advance(0);
  api.externalWrite({ preferredHolder: 'other_2' });
  await clock.advance(10);
  assert.equal(elector.isLeader(), true);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
  assert.equal(elector.view().preferredHolder, 'other_2', 'read from the spec without an annotation');
  // Renewals keep a preference (an annotation here): only an acquisition settles it.
  const { api: api2, elector: annotated } = electorWith(t, { strategy: shardLeaseStrategy(1) }, clock);
  annotated.start();
  await clock.advance(0);
  api2.externalAnnotate({ [preferredHolderAnnotation]: 'other_2' });
  api2.externalWrite({ preferredHolder: 'other_2' }); // the spec's too: a shard's elector leaves it to the set
  const writes = api2.writes.length;
  await clock.advance(6_000);
  assert.ok(api2.writes.length > writes, 'renewed meanwhile');
  const kept = (api2.lease?.metadata?.annotations ?? {}) as Record<string, string>;
  assert.equal(kept[preferredHolderAnnotation], 'other_2');
  assert.equal(annotated.isLeader(), true);
  assert.equal(annotated.view().preferredHolder, 'other_2');
});

test('a follower whose watch died silently re-reads the Lease after 2 x LD', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 1_000, leaseTransitions: 1 });
  elector.start();
  await clock.advance(0);
  api.muteWatch = true;
  const reads = () => api.calls.filter((c) => c.method === 'get').length;
  const before = reads();
  await clock.advance(29_900);
  assert.equal(reads(), before);
  await clock.advance(200);
  assert.equal(reads(), before + 1);
});

test('after API errors the elector backs off instead of retrying at once', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.down = true;
  elector.start();
  await clock.advance(0);
  await clock.advance(10_000);
  const attempts = api.calls.filter((c) => c.method === 'get').length;
  assert.ok(attempts >= 3 && attempts <= 12, `${attempts} reads in 10 s`);
});

test('API unreachable for RD - 1 s right after a renewal: the leader renews when it is back and keeps leading', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const renewed = () => api.writes.length;
  const before = renewed();
  await clock.advance(2_000); // a renewal lands
  assert.equal(renewed(), before + 1);
  api.down = true;
  const callsBefore = api.calls.length;
  await clock.advance(9_000); // RD - 1 s
  api.down = false;
  await clock.advance(1_000);
  assert.deepEqual(demotions, []);
  assert.equal(elector.isLeader(), true);
  assert.ok(renewed() > before + 1, 'renewed after the outage');
  const reads = api.calls.slice(callsBefore).filter((c) => c.method === 'get').length;
  assert.equal(reads, 0, 'the leader retried its renewal without reading first');
});

test('two candidates race for a free Lease: one wins, the other is refused (409), reads again and follows', async (t) => {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const conflicts: string[] = [];
  const make = (identity: string) =>
    new Elector({
      config: { ...defaults, identity },
      api,
      clock,
      logger: silentLogger,
      hooks: { conflict: () => conflicts.push(identity) },
    });
  const a = make('a_1');
  const b = make('b_2');
  t.after(async () => {
    await stopElector(clock, a);
    await stopElector(clock, b);
  });
  api.seed({ holderIdentity: '', leaseDurationSeconds: 15 });
  api.muteWatch = true; // neither sees the other's write before its own
  a.start();
  b.start();
  await clock.advance(0);
  api.muteWatch = false;
  await clock.advance(100);
  assert.equal([a.isLeader(), b.isLeader()].filter(Boolean).length, 1);
  assert.equal(conflicts.length, 1);
  const loser = a.isLeader() ? b : a;
  assert.equal(loser.snapshot().holder, api.lease?.spec?.holderIdentity, 'the loser read the winner back');
  await clock.advance(14_000);
  assert.equal(loser.isLeader(), false);
});

test('a renewal that finds the Lease deleted (404) writes it again and keeps leading', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.muteWatch = true;
  api.delete();
  await clock.advance(2_100);
  assert.equal(elector.isLeader(), true);
  assert.deepEqual(demotions, []);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
  assert.ok(
    api.calls.some((c) => c.method === 'create'),
    'created again after the 404',
  );
});

test('a resign while a renewal is in flight: the renewal it answers does not make it leader again', async (t) => {
  const { clock, api, elector } = setup(
    {},
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1, safetyMarginSeconds: 1 },
  );
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.latencyMs = 300;
  await clock.advance(1_100); // a renewal was sent at +1 s and is waiting for its answer
  await settle(clock, elector.resign(5_000));
  assert.equal(api.lease?.spec?.holderIdentity, '', 'released');
  assert.equal(elector.isLeader(), false);
  assert.equal(elector.snapshot().role, 'paused');
  await clock.advance(4_000);
  assert.equal(elector.isLeader(), false, 'no leadership claimed during the pause');
});

test('stopped after the Lease was taken: no wait for promises, nothing written', async () => {
  const promises = new PromiseGate();
  const { clock, api, elector } = setup({ promisesKept: promises.promisesKept });
  elector.start();
  await clock.advance(0);
  api.externalWrite({ holderIdentity: 'thief_9', leaseTransitions: 1 });
  await clock.advance(10);
  const writes = api.writes.length;
  await elector.stop();
  assert.equal(promises.calls, 0, 'a Lease it does not hold is not released, so nothing to wait for');
  assert.equal(api.writes.length, writes);
});

test('an event-loop stall past the deadline: the next event it handles demotes it (renew-deadline)', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  clock.nowMs += 12_000; // no timer ran
  clock.wallMs += 12_000;
  api.emitRaw({ type: 'MODIFIED', object: structuredClone(api.lease as never) });
  await flush();
  assert.deepEqual(demotions, ['renew-deadline']);
});

test("snapshot: starting and unknown before the first read; a follower reports the holder's epoch; a free Lease none", async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  const first = elector.snapshot();
  assert.deepEqual(
    [first.role, first.known, first.holder, first.epoch, first.observedAt],
    ['starting', false, '', null, null],
  );
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15, leaseTransitions: 6 });
  elector.start();
  await clock.advance(0);
  const following = elector.snapshot();
  assert.deepEqual(
    [following.role, following.known, following.holder, following.epoch, following.isLeader],
    ['follower', true, 'other_2', 6, false],
  );
  assert.match(String(following.observedAt), microTime);
  api.externalWrite({ holderIdentity: '', leaseDurationSeconds: 1 });
  await flush();
  assert.equal(elector.snapshot().epoch, 7, 'it took the released Lease at once');
});

test('resign refuses a follower (LEASEHOLD_NOT_LEADER); a second stop does nothing', async () => {
  const released: number[] = [];
  const { clock, api, elector } = setup({ released: () => released.push(1) });
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15 });
  elector.start();
  await clock.advance(0);
  await assert.rejects(
    elector.resign(1_000),
    (err: { code?: string }) => err.code === 'LEASEHOLD_NOT_LEADER',
  );
  await clock.advance(16_000);
  assert.equal(elector.isLeader(), true);
  await elector.stop();
  await elector.stop();
  assert.deepEqual(released, [1]);
  assert.equal(elector.snapshot().role, 'stopped');
});

test('version moves on changes of holder, leadership, epoch or role only — not on renewals', async (t) => {
  const { clock, elector } = setup();
  t.after(() => stopElector(clock, elector));
  const versions: number[] = [];
  elector.on('change', (s) => versions.push(s.version));
  elector.start();
  await clock.advance(0);
  const afterAcquire = elector.snapshot().version;
  await clock.advance(20_000); // about ten renewals
  assert.equal(elector.snapshot().version, afterAcquire);
  assert.deepEqual(
    versions,
    [...versions].sort((a, b) => a - b),
  );
  assert.equal(new Set(versions).size, versions.length, 'each change a new version');
});

test('renewal latency reaches the metrics hook in seconds', async (t) => {
  const seconds: number[] = [];
  const { clock, api, elector } = setup({ renewed: (s) => seconds.push(s) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.latencyMs = 40;
  await clock.advance(2_100);
  assert.deepEqual(seconds, [0.04]);
});

test('a coordinated-election Lease is warned about once', async (t) => {
  const { logger, lines } = capturingLogger();
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const elector = new Elector({ config: defaults, api, clock, logger });
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: '', strategy: 'OldestEmulationVersion' });
  elector.start();
  await clock.advance(100_000);
  assert.equal(lines.filter((l) => String(l.msg).includes('coordinated election')).length, 1);
  const snapshot = elector.snapshot();
  assert.deepEqual(
    [snapshot.holder, snapshot.epoch, snapshot.isLeader],
    ['', null, false],
    'nobody holds it',
  );
});

test('API failures are logged once per 30 s, and at once again after a success; each reaches the metrics hook', async (t) => {
  const { logger, lines } = capturingLogger();
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const errors: unknown[] = [];
  const elector = new Elector({
    config: defaults,
    api,
    clock,
    logger,
    hooks: { apiError: (err) => errors.push(err) },
  });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  const failures = () => lines.filter((l) => l.msg === 'lease API call failed; retrying').length;
  api.down = true;
  await clock.advance(2_500); // the renewal at +2 s fails, and its retries
  assert.equal(failures(), 1);
  assert.ok(errors.length >= 2, 'every failure counted');
  api.down = false;
  await clock.advance(1_000); // a retry succeeds
  assert.equal(elector.isLeader(), true);
  api.down = true;
  await clock.advance(2_000); // the next renewal fails, 3 s after the first line
  assert.equal(failures(), 2, 'after a success the next failure is logged at once');
});

test('a follower whose write failed reads again before trying once more', async (t) => {
  const conflicts: number[] = [];
  const { clock, api, elector } = setup({ conflict: () => conflicts.push(1) });
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15 });
  elector.start();
  await clock.advance(0);
  api.muteWatch = true; // from here it sees only what it reads
  api.failNext = 1; // its takeover write at expiry fails
  await clock.advance(15_001);
  assert.equal(elector.isLeader(), false);
  api.externalWrite({ renewTime: '2026-01-15T10:00:16.000000Z' }); // the holder lives on, unseen
  await clock.advance(10_000);
  assert.equal(elector.isLeader(), false);
  assert.deepEqual(conflicts, [], 'it read the renewal instead of writing blindly over it');
});

/** The roles an elector published, in order, without repeats. */
function roles(elector: Elector): string[] {
  const seen: string[] = [];
  elector.on('change', (s) => {
    if (seen.at(-1) !== s.role) seen.push(s.role);
  });
  return seen;
}

test('resign: leader, releasing, paused, follower, leader again — with nothing else waking it', async (t) => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  t.after(() => stopElector(clock, elector));
  const seen = roles(elector);
  elector.start();
  await clock.advance(0);
  await elector.resign(3_000);
  const releasedAt = clock.nowMs;
  api.muteWatch = true; // no event will wake it: its own timer must
  await clock.advance(2_999);
  assert.equal(elector.snapshot().role, 'paused');
  await clock.advance(1);
  assert.equal(elector.isLeader(), true, `leading again ${clock.nowMs - releasedAt} ms after the release`);
  assert.deepEqual(seen, ['starting', 'follower', 'leader', 'releasing', 'paused', 'follower', 'leader']);
  assert.deepEqual(demotions, ['resigned']);
});

test('two resigns at once release once; a later resign releases again', async (t) => {
  const released: number[] = [];
  const { clock, elector } = setup({ released: () => released.push(clock.nowMs) });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  await Promise.all([elector.resign(100), elector.resign(100).catch(() => {})]);
  assert.equal(released.length, 1);
  await clock.advance(200);
  assert.equal(elector.isLeader(), true);
  await elector.resign(100);
  assert.equal(released.length, 2);
});

test('a resign whose release fails: still no leadership claimed during the pause', async (t) => {
  const { clock, api, elector } = setup(
    {},
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1, safetyMarginSeconds: 1 },
  );
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.latencyMs = 300;
  await clock.advance(1_100); // a renewal is on its way
  const resigning = elector.resign(5_000);
  api.failNext = 1; // the release will fail
  await settle(clock, resigning);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1', 'not released');
  assert.equal(
    elector.isLeader(),
    false,
    'but the renewal that landed during the resign did not make it leader again',
  );
  await clock.advance(2_000);
  assert.equal(elector.isLeader(), false);
});

test('stopped while its acquire is on its way: it never becomes leader, and releases what it wrote', async () => {
  const acquired: number[] = [];
  const { clock, api, elector } = setup({ acquired: (epoch) => acquired.push(epoch) });
  api.seed({ holderIdentity: '', leaseDurationSeconds: 15 });
  api.latencyMs = 500;
  elector.start();
  await clock.advance(600); // the read answered; the acquire was sent at +500
  await settle(clock, elector.stop());
  assert.deepEqual(acquired, []);
  assert.equal(api.lease?.spec?.holderIdentity, '', 'the write that landed was released');
});

test('an acquire answered after the validity it would grant: not leader; leader once answers are quick', async (t) => {
  // LD 4 - margin 2.75 = 1.25 s of validity, less than the 1.5 s request timeout.
  const acquired: number[] = [];
  const { clock, api, elector } = setup(
    { acquired: (e) => acquired.push(e) },
    { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 0.5, safetyMarginSeconds: 2.75 },
  );
  t.after(() => stopElector(clock, elector));
  api.seed({ holderIdentity: '', leaseDurationSeconds: 4 });
  api.latencyMs = 1_400;
  elector.start();
  await clock.advance(5_000);
  assert.deepEqual(acquired, []);
  assert.equal(elector.isLeader(), false);
  api.latencyMs = 0;
  await clock.advance(3_000);
  assert.equal(elector.isLeader(), true);
  assert.equal(acquired.length, 1);
});

test('a release refused twice by the precondition gives up (at most two attempts); refused once, it succeeds', async () => {
  for (const [conflicts, released] of [
    [1, true],
    [2, false],
  ] as const) {
    const { clock, api, elector } = setup();
    elector.start();
    await clock.advance(0);
    api.conflictNext = conflicts;
    await settle(clock, elector.stop());
    assert.equal(api.lease?.spec?.holderIdentity === '', released, `${conflicts} conflict(s)`);
    assert.equal(api.calls.filter((c) => c.method === 'replace').length, conflicts === 1 ? 2 : 2);
  }
});

test('a release the API refuses: reported, logged, and the sidecar still stops', async () => {
  const errors: unknown[] = [];
  const { logger, lines } = capturingLogger();
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const elector = new Elector({
    config: defaults,
    api,
    clock,
    logger,
    hooks: { apiError: (err) => errors.push(err) },
  });
  elector.start();
  await clock.advance(0);
  api.down = true;
  await settle(clock, elector.stop());
  assert.equal(elector.snapshot().role, 'stopped');
  assert.ok(errors.length >= 1);
  assert.ok(lines.some((l) => String(l.msg).startsWith('could not release the lease')));
});

test('resign then stop during the hand-off: it stops, and never campaigns again', async () => {
  const promises = new PromiseGate();
  const { clock, api, elector } = setup({ promisesKept: promises.promisesKept });
  elector.start();
  await clock.advance(0);
  const resigning = elector.resign(0);
  const stopping = elector.stop();
  promises.open();
  await settle(clock, Promise.all([resigning, stopping]));
  const writes = api.writes.length;
  await clock.advance(30_000);
  assert.equal(elector.snapshot().role, 'stopped');
  assert.equal(api.writes.length, writes);
});

test('stop before start, and stop twice: nothing happens, nothing breaks', async () => {
  const { clock, api, elector } = setup();
  const seen = roles(elector);
  await elector.stop();
  await elector.stop();
  assert.equal(elector.snapshot().role, 'stopped');
  assert.deepEqual(seen, ['stopping', 'stopped']);
  assert.equal(api.calls.length, 0);
  await clock.advance(10_000);
});

test('stopped after it saw its Lease deleted (and before writing it again): it stops without releasing', async () => {
  const { clock, api, elector } = setup();
  api.seed({ holderIdentity: 'other_2', leaseDurationSeconds: 15 });
  elector.start();
  await clock.advance(0);
  api.delete();
  await flush();
  await settle(clock, elector.stop());
  assert.equal(elector.snapshot().role, 'stopped');
  assert.equal(api.lease, undefined);
});

test('role "starting" until the first read answers; "paused" ends exactly at the pause', async (t) => {
  const { clock, api, elector } = setup();
  t.after(() => stopElector(clock, elector));
  api.latencyMs = 100;
  elector.start();
  await clock.advance(50);
  assert.equal(elector.snapshot().role, 'starting');
  await clock.advance(400);
  assert.equal(elector.isLeader(), true);
  api.latencyMs = 0;
  api.seed({ holderIdentity: 'other_9', leaseDurationSeconds: 15 }); // stolen: it follows; then pause it by hand
  await flush();
  assert.equal(elector.snapshot().role, 'follower');
});

test('retry delays under failures (fixed jitter): a leader 100, 200, 250 ms; a follower up to 8 s; a success starts over', async (t) => {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const elector = new Elector({ config: defaults, api, clock, logger: silentLogger, random: () => 0.5 });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.down = true;
  let from = api.calls.length;
  await clock.advance(3_000);
  assert.deepEqual(
    api.gaps(from, 'replace').slice(0, 4),
    [100, 200, 250, 250],
    'the leader retries its renewal',
  );
  await clock.advance(7_000); // past its deadline: a follower now
  from = api.calls.length;
  await clock.advance(40_000);
  assert.deepEqual(api.gaps(from, 'get').slice(-3), [8_000, 8_000, 8_000], 'a follower backs off to 4 x RP');
  api.down = false;
  await clock.advance(8_001);
  assert.equal(elector.isLeader(), true, 'back, and leading its own Lease');
  await clock.advance(1_000);
  api.down = true;
  from = api.calls.length;
  await clock.advance(2_000);
  assert.deepEqual(
    api.gaps(from, 'replace').slice(0, 2),
    [100, 200],
    'after a success the delays start over',
  );
});
