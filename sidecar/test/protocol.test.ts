// The Lease protocol's pure rules, one table row per rule, in the style of client-go's
// TestTryAcquireOrRenew: a state, a time, the expected decision. No clock, no I/O.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acquireSpec,
  afterRenew,
  type Decision,
  decide,
  durationMsOf,
  type ElectionTimings,
  type ElectorState,
  isReleaseShaped,
  type Leadership,
  leaderVerdict,
  type Observation,
  observe,
  recreateSpec,
  releaseSpec,
  renewDueAt,
  renewSpec,
  renewTimeoutMs,
  requestTimeoutMs,
  resyncMs,
  takeoverAt,
  validityMs,
} from '../src/lease/protocol.ts';
import { type RawLease, readRecord } from '../src/lease/record.ts';

// 15/10/2 with a margin that binds: validity = min(RD, LD - margin) = min(10, 15 - 6) = 9 s.
const t: ElectionTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  safetyMarginMs: 6_000,
};
const me = 'me_1';
const wall = Date.UTC(2026, 0, 15, 10, 0, 0, 250);
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function lease(spec: Record<string, unknown>, resourceVersion = '100'): RawLease {
  return { metadata: { name: 'l', namespace: 'ns', resourceVersion }, spec };
}

function seen(spec: Record<string, unknown> | undefined, extra: Partial<Observation> = {}): Observation {
  const raw = spec === undefined ? undefined : lease(spec);
  return {
    lease: raw,
    record: raw ? readRecord(raw) : undefined,
    changedAt: 1_000,
    confirmedAt: 1_000,
    wallObservedAt: wall,
    stale: false,
    vanished: undefined,
    ...extra,
  };
}

function state(extra: Partial<ElectorState> = {}): ElectorState {
  return {
    identity: me,
    leaseDurationSeconds: 15,
    timings: t,
    phase: 'campaigning',
    observation: undefined,
    leading: undefined,
    pausedUntil: Number.NEGATIVE_INFINITY,
    holdOffUntil: Number.NEGATIVE_INFINITY,
    backoffUntil: Number.NEGATIVE_INFINITY,
    maxTransitionsSeen: -1,
    ...extra,
  };
}

const leading = (extra: Partial<Leadership> = {}): Leadership => ({
  epoch: 3,
  renewSentAt: 1_000,
  validUntil: 1_000 + validityMs(t),
  lastRenewWallMs: wall,
  ...extra,
});
const held = (holder: string, extra: Record<string, unknown> = {}) => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  leaseTransitions: 3,
  acquireTime: '2026-01-15T09:00:00.000000Z',
  renewTime: '2026-01-15T10:00:00.000000Z',
  ...extra,
});

test('timing rules: validity is min(RD, LD - margin); requests time out at RD/2 (whole ms); resync at 2 LD', () => {
  assert.equal(validityMs(t), 9_000);
  assert.equal(validityMs({ ...t, safetyMarginMs: 2_000 }), 10_000);
  assert.equal(requestTimeoutMs(t), 5_000);
  assert.equal(requestTimeoutMs({ ...t, renewDeadlineMs: 3_001 }), 1_500);
  assert.equal(requestTimeoutMs({ ...t, renewDeadlineMs: 1 }), 1);
  assert.equal(resyncMs(t), 30_000);
});

test('durations: the record\'s own, else ours; a release is holder "" with duration 1', () => {
  assert.equal(durationMsOf(readRecord(lease({ leaseDurationSeconds: 40 })), 15_000), 40_000);
  assert.equal(durationMsOf(readRecord(lease({})), 15_000), 15_000);
  assert.equal(durationMsOf(undefined, 7_000), 7_000);
  assert.equal(isReleaseShaped(readRecord(lease({ holderIdentity: '', leaseDurationSeconds: 1 }))), true);
  assert.equal(isReleaseShaped(readRecord(lease({ holderIdentity: '', leaseDurationSeconds: 15 }))), false);
  assert.equal(isReleaseShaped(readRecord(lease({ holderIdentity: 'x', leaseDurationSeconds: 1 }))), false);
});

test('observe: first sight, unchanged, changed, older states ignored, versions that are not numbers accepted', () => {
  const first = observe(undefined, lease(held('a')), 500, wall, 15_000);
  assert.ok(first);
  assert.equal(first.changed, true);
  assert.equal(first.observation.changedAt, 500);
  assert.equal(first.observation.confirmedAt, 500);
  assert.equal(first.observation.wallObservedAt, wall);
  const same = observe(first.observation, lease(held('a'), '101'), 900, wall + 400, 15_000);
  assert.ok(same);
  assert.equal(same.changed, false);
  assert.equal(same.observation.changedAt, 500, 'expiry keeps counting from the last change');
  assert.equal(same.observation.confirmedAt, 900);
  const renewed = observe(
    same.observation,
    lease(held('a', { renewTime: '2026-01-15T10:00:02.000000Z' }), '102'),
    1_200,
    wall,
    15_000,
  );
  assert.equal(renewed?.changed, true);
  assert.equal(renewed?.observation.changedAt, 1_200);
  // A watch event behind a state we already saw must not undo it.
  assert.equal(observe(renewed?.observation, lease(held('b'), '101'), 1_300, wall, 15_000), undefined);
  const opaque = observe(renewed?.observation, lease(held('c'), 'abc'), 1_300, wall, 15_000);
  assert.equal(opaque?.observation.record?.holderIdentity, 'c');
  const stale = { ...(renewed?.observation as Observation), stale: true };
  assert.equal(
    observe(stale, lease(held('a', { renewTime: '2026-01-15T10:00:02.000000Z' }), '102'), 1_400, wall, 15_000)
      ?.observation.stale,
    false,
  );
});

test('observe: a Lease without metadata (no resourceVersion) is never taken for an older state', () => {
  const bare: RawLease = { spec: held('a') };
  const first = observe(undefined, bare, 100, wall, 15_000);
  assert.equal(first?.changed, true);
  const again = observe(first?.observation, { spec: held('b') }, 200, wall, 15_000);
  assert.equal(again?.observation.record?.holderIdentity, 'b');
  const after = observe(again?.observation, lease(held('c'), '5'), 300, wall, 15_000);
  assert.equal(after?.observation.record?.holderIdentity, 'c');
  assert.equal(
    observe(after?.observation, { spec: held('d') }, 400, wall, 15_000)?.observation.record?.holderIdentity,
    'd',
  );
});

test('observe: appearing and disappearing are changes', () => {
  const gone = observe(seen(held('a')), undefined, 2_000, wall, 15_000);
  assert.equal(gone?.changed, true);
  assert.equal(gone?.observation.record, undefined);
  const back = observe(gone?.observation, lease(held('a')), 3_000, wall, 15_000);
  assert.equal(back?.changed, true);
  assert.equal(back?.observation.changedAt, 3_000);
  const stillGone = observe(gone?.observation, undefined, 2_500, wall, 15_000);
  assert.equal(stillGone?.changed, false);
  assert.equal(stillGone?.observation.changedAt, 2_000);
});

test('observe: a held Lease deleted or emptied without a release counts as held until it could have expired', () => {
  const cases: [string, Record<string, unknown> | undefined, Observation['vanished']][] = [
    ['deleted', undefined, { holder: 'a', durationMs: 15_000 }],
    [
      'holder emptied, duration kept',
      held('', { leaseDurationSeconds: 15 }),
      { holder: 'a', durationMs: 15_000 },
    ],
    ['released (holder "", duration 1)', held('', { leaseDurationSeconds: 1 }), undefined],
    ['another holder', held('b'), undefined],
  ];
  for (const [name, after, expected] of cases) {
    const result = observe(
      seen(held('a', { leaseDurationSeconds: 15 })),
      after && lease(after, '101'),
      2_000,
      wall,
      9_000,
    );
    assert.deepEqual(result?.observation.vanished, expected, name);
  }
  // A free Lease seen free before is simply free; its vanished mark is kept while nothing changes.
  assert.equal(observe(seen(held('')), undefined, 2_000, wall, 15_000)?.observation.vanished, undefined);
  const vanished = observe(
    seen(held('a', { leaseDurationSeconds: 20 })),
    undefined,
    2_000,
    wall,
    15_000,
  )?.observation;
  assert.deepEqual(observe(vanished, undefined, 3_000, wall, 15_000)?.observation.vanished, {
    holder: 'a',
    durationMs: 20_000,
  });
  // The old holder's own duration counts, or ours when it wrote none.
  const noDuration = observe(
    seen(held('a', { leaseDurationSeconds: undefined })),
    undefined,
    2_000,
    wall,
    9_000,
  );
  assert.deepEqual(noDuration?.observation.vanished, { holder: 'a', durationMs: 9_000 });
});

test('takeoverAt: expiry LD after the observed change; free now; ours now; coordinated never; vanished later', () => {
  const rows: [string, Observation, number][] = [
    ['held by another', seen(held('other_2')), 1_000 + 15_000],
    ['held with its own duration', seen(held('other_2', { leaseDurationSeconds: 40 })), 1_000 + 40_000],
    ['held, duration unusable', seen(held('other_2', { leaseDurationSeconds: -5 })), 1_000 + 15_000],
    ['free', seen(held('')), Number.NEGATIVE_INFINITY],
    ['no Lease', seen(undefined), Number.NEGATIVE_INFINITY],
    ['ours', seen(held(me)), Number.NEGATIVE_INFINITY],
    ['coordinated', seen(held('', { strategy: 'OldestEmulationVersion' })), Number.POSITIVE_INFINITY],
    ['deleted while held', seen(undefined, { vanished: { holder: 'a', durationMs: 15_000 } }), 16_000],
    ['emptied while held', seen(held(''), { vanished: { holder: 'a', durationMs: 7_000 } }), 8_000],
  ];
  for (const [name, observation, expected] of rows)
    assert.equal(takeoverAt(observation, me, 15_000), expected, name);
});

test('leaderVerdict: keep, lost, epoch changed, preferred holder; a deleted Lease is written again', () => {
  const rows: [string, Observation, ReturnType<typeof leaderVerdict>][] = [
    ['ours, same epoch', seen(held(me)), undefined],
    ['another holder', seen(held('thief')), 'lost'],
    ['freed by someone', seen(held('')), 'lost'],
    ['ours, other epoch', seen(held(me, { leaseTransitions: 4 })), 'epoch-changed'],
    ['prefers another', seen(held(me, { preferredHolder: 'other_2' })), 'preferred-holder'],
    ['prefers us', seen(held(me, { preferredHolder: me })), undefined],
    ['deleted', seen(undefined), undefined],
  ];
  for (const [name, observation, expected] of rows)
    assert.equal(leaderVerdict(leading(), observation, me), expected, name);
});

test('renewDueAt: every retry period, and never within the wall second of the last renewTime', () => {
  const last = leading({ renewSentAt: 1_000, lastRenewWallMs: Date.UTC(2026, 0, 15, 10, 0, 0, 900) });
  // RP has passed but the wall clock is still in the same second: wait for the next second.
  const fast = { ...t, retryPeriodMs: 200 };
  assert.equal(renewDueAt(last, fast, 1_250, Date.UTC(2026, 0, 15, 10, 0, 0, 950)), 1_300);
  // In a new wall second: RP rules.
  assert.equal(renewDueAt(last, fast, 1_150, Date.UTC(2026, 0, 15, 10, 0, 1, 50)), 1_200);
  assert.equal(renewDueAt(last, t, 1_500, Date.UTC(2026, 0, 15, 10, 0, 1, 400)), 3_000);
  // The wall clock stepped back under us: still a new second first.
  assert.equal(renewDueAt(last, fast, 5_000, Date.UTC(2026, 0, 15, 10, 0, 0, 500)), 5_500);
});

test('renewTimeoutMs: the request timeout, cut to the validity left, always a whole positive number', () => {
  const l = leading({ validUntil: 10_000.75 });
  assert.equal(renewTimeoutMs(l, t, 1_000), 5_000);
  assert.equal(renewTimeoutMs(l, t, 8_000.5), 2_000);
  assert.equal(renewTimeoutMs(l, t, 9_999.9), 1);
  for (const now of [1_000.3, 7_777.7, 9_500.25]) assert.ok(Number.isInteger(renewTimeoutMs(l, t, now)));
});

test('afterRenew: extends from the send time; an answer after the deadline extends nothing', () => {
  const l = leading({ renewSentAt: 1_000, validUntil: 10_000 });
  assert.deepEqual(afterRenew(l, 3_000, wall + 2_000, 3_050, t), {
    ...l,
    renewSentAt: 3_000,
    validUntil: 3_000 + 9_000,
    lastRenewWallMs: wall + 2_000,
  });
  assert.equal(afterRenew(l, 3_000, wall, 10_000, t), undefined);
  assert.equal(afterRenew(l, 3_000, wall, 12_000, t), undefined);
});

test('specs: acquire bumps the epoch past anything seen; re-acquiring our own keeps it; times have six digits', () => {
  const fromOther = acquireSpec(state({ observation: seen(held('other_2')), maxTransitionsSeen: 3 }), wall);
  assert.equal(fromOther.epoch, 4);
  assert.equal(fromOther.spec.holderIdentity, me);
  assert.equal(fromOther.spec.leaseDurationSeconds, 15);
  assert.equal(fromOther.spec.leaseTransitions, 4);
  assert.match(String(fromOther.spec.renewTime), microTime);
  assert.equal(fromOther.spec.acquireTime, fromOther.spec.renewTime);
  // Deleted and seen at 41 before: the new Lease starts above it.
  assert.equal(acquireSpec(state({ observation: seen(undefined), maxTransitionsSeen: 41 }), wall).epoch, 42);
  assert.equal(acquireSpec(state({ observation: seen(undefined) }), wall).epoch, 0);
  assert.equal(acquireSpec(state({ maxTransitionsSeen: 2 }), wall).epoch, 3, 'nothing observed yet');
  const own = acquireSpec(state({ observation: seen(held(me)), maxTransitionsSeen: 3 }), wall);
  assert.equal(own.epoch, 3);
  assert.equal(own.spec.acquireTime, '2026-01-15T09:00:00.000000Z');
  const ownNoAcquireTime = acquireSpec(
    state({ observation: seen(held(me, { acquireTime: undefined })) }),
    wall,
  );
  assert.equal(ownNoAcquireTime.spec.acquireTime, ownNoAcquireTime.spec.renewTime);
  // An acquisition settles a preference, ours or another's; without one the spec does not name the field.
  const preferred = acquireSpec(state({ observation: seen(held('', { preferredHolder: me })) }), wall);
  assert.ok('preferredHolder' in preferred.spec && preferred.spec.preferredHolder === undefined);
  const stale = acquireSpec(state({ observation: seen(held('', { preferredHolder: 'gone_9' })) }), wall);
  assert.ok('preferredHolder' in stale.spec && stale.spec.preferredHolder === undefined);
  assert.equal('preferredHolder' in fromOther.spec, false);

  assert.deepEqual(renewSpec(state(), wall), {
    holderIdentity: me,
    leaseDurationSeconds: 15,
    renewTime: '2026-01-15T10:00:00.250000Z',
  });
  assert.deepEqual(recreateSpec(state(), leading({ epoch: 7 }), wall), {
    holderIdentity: me,
    leaseDurationSeconds: 15,
    acquireTime: '2026-01-15T10:00:00.250000Z',
    renewTime: '2026-01-15T10:00:00.250000Z',
    leaseTransitions: 7,
  });
  assert.deepEqual(releaseSpec(wall), {
    holderIdentity: '',
    leaseDurationSeconds: 1,
    acquireTime: '2026-01-15T10:00:00.250000Z',
    renewTime: '2026-01-15T10:00:00.250000Z',
  });
});

interface Row {
  name: string;
  state: Partial<ElectorState>;
  now: number;
  wallNow?: number;
  expect: Partial<Decision> & { kind: Decision['kind'] };
}

const rows: Row[] = [
  // Follower
  { name: 'nothing known yet: read', state: {}, now: 1_000, expect: { kind: 'read', timeoutMs: 5_000 } },
  {
    name: 'stale view: read',
    state: { observation: seen(held('other_2'), { stale: true }) },
    now: 1_100,
    expect: { kind: 'read' },
  },
  {
    name: 'unconfirmed for 2 LD: read (the watch may be dead)',
    state: { observation: seen(held('other_2')) },
    now: 1_000 + 30_000,
    expect: { kind: 'read' },
  },
  {
    name: 'held by another, not expired: wait for expiry',
    state: { observation: seen(held('other_2')) },
    now: 5_000,
    expect: { kind: 'wait', until: 16_000 },
  },
  {
    name: 'held by another, expired: acquire over it with epoch + 1',
    state: { observation: seen(held('other_2')), maxTransitionsSeen: 3 },
    now: 16_000,
    expect: { kind: 'acquire', create: false, epoch: 4, timeoutMs: 5_000 },
  },
  {
    name: 'held with a huge duration: wait until the resync, not forever',
    state: { observation: seen(held('other_2', { leaseDurationSeconds: 1_000_000 })) },
    now: 5_000,
    expect: { kind: 'wait', until: 31_000 },
  },
  {
    name: 'free: acquire at once',
    state: { observation: seen(held('')) },
    now: 1_001,
    expect: { kind: 'acquire', create: false },
  },
  {
    name: 'no Lease: create',
    state: { observation: seen(undefined) },
    now: 1_001,
    expect: { kind: 'acquire', create: true, epoch: 0 },
  },
  {
    name: 'deleted while held: wait as if still held',
    state: { observation: seen(undefined, { vanished: { holder: 'a', durationMs: 15_000 } }) },
    now: 1_001,
    expect: { kind: 'wait', until: 16_000 },
  },
  {
    name: 'deleted while held, then expired: create',
    state: {
      observation: seen(undefined, { vanished: { holder: 'a', durationMs: 15_000 } }),
      maxTransitionsSeen: 9,
    },
    now: 16_000,
    expect: { kind: 'acquire', create: true, epoch: 10 },
  },
  {
    name: 'coordinated election: never acquire, only resync',
    state: { observation: seen(held('', { strategy: 'OldestEmulationVersion' })) },
    now: 2_000,
    expect: { kind: 'wait', until: 31_000 },
  },
  {
    name: 'still names us (demoted at the deadline): acquire again, same epoch',
    state: { observation: seen(held(me)), maxTransitionsSeen: 3 },
    now: 2_000,
    expect: { kind: 'acquire', create: false, epoch: 3 },
  },
  {
    name: 'paused after a resign: wait for the pause, whatever else is due',
    state: { observation: seen(held('')), pausedUntil: 4_000 },
    now: 2_000,
    expect: { kind: 'wait', until: 4_000 },
  },
  {
    name: 'backing off: wait for the backoff, even with a stale view',
    state: { observation: seen(held(''), { stale: true }), backoffUntil: 2_500 },
    now: 2_000,
    expect: { kind: 'wait', until: 2_500 },
  },
  {
    name: 'held off (a fair share reached): a free Lease waits, still resyncing',
    state: { observation: seen(held('')), holdOffUntil: Number.POSITIVE_INFINITY },
    now: 2_000,
    expect: { kind: 'wait', until: 31_000 },
  },
  {
    name: 'held off until a moment: an expired Lease waits for it',
    state: { observation: seen(held('other_2')), holdOffUntil: 17_500 },
    now: 16_500,
    expect: { kind: 'wait', until: 17_500 },
  },
  {
    name: 'hold-off over: acquire',
    state: { observation: seen(held('other_2')), holdOffUntil: 17_500, maxTransitionsSeen: 3 },
    now: 17_500,
    expect: { kind: 'acquire', create: false, epoch: 4 },
  },
  {
    name: 'held off, but the Lease is not expired yet: wait for the expiry',
    state: { observation: seen(held('other_2')), holdOffUntil: 5_000 },
    now: 2_000,
    expect: { kind: 'wait', until: 16_000 },
  },
  {
    name: 'pause and backoff: the later one',
    state: { observation: seen(held('')), pausedUntil: 2_500, backoffUntil: 3_500 },
    now: 2_000,
    expect: { kind: 'wait', until: 3_500 },
  },
  // Leader
  {
    name: 'leader, renewal not due: wait for it',
    state: { observation: seen(held(me)), leading: leading() },
    now: 1_500,
    wallNow: wall + 500,
    expect: { kind: 'wait', until: 3_000 },
  },
  {
    name: 'leader, due: renew over the observed Lease, timeout capped by validity',
    state: { observation: seen(held(me)), leading: leading({ validUntil: 6_000 }) },
    now: 3_000,
    wallNow: wall + 2_000,
    expect: { kind: 'renew', create: false, timeoutMs: 3_000 },
  },
  {
    name: 'leader, Lease deleted under it: write it again with its epoch',
    state: { observation: seen(undefined), leading: leading() },
    now: 3_000,
    wallNow: wall + 2_000,
    expect: { kind: 'renew', create: true },
  },
  {
    name: 'leader past its deadline: demote',
    state: { observation: seen(held(me)), leading: leading() },
    now: 1_000 + 9_000,
    expect: { kind: 'demote', reason: 'renew-deadline' },
  },
  {
    name: 'leader backing off: wait, but no later than the deadline',
    state: { observation: seen(held(me)), leading: leading(), backoffUntil: 50_000 },
    now: 3_000,
    wallNow: wall + 2_000,
    expect: { kind: 'wait', until: 10_000 },
  },
  {
    name: 'leader with a stale view (after a 409): read first',
    state: { observation: seen(held(me), { stale: true }), leading: leading({ validUntil: 4_000 }) },
    now: 3_000,
    expect: { kind: 'read', timeoutMs: 1_000 },
  },
  {
    name: 'leader with a stale view, backing off: wait, no later than the deadline',
    state: { observation: seen(held(me), { stale: true }), leading: leading(), backoffUntil: 3_500 },
    now: 3_000,
    expect: { kind: 'wait', until: 3_500 },
  },
  // Phases
  {
    name: 'handing off: nothing until told',
    state: { phase: 'handing-off', observation: seen(held('')) },
    now: 2_000,
    expect: { kind: 'wait', until: Number.POSITIVE_INFINITY },
  },
  {
    name: 'stopping: nothing',
    state: { phase: 'stopping', leading: leading() },
    now: 2_000,
    expect: { kind: 'wait', until: Number.POSITIVE_INFINITY },
  },
  {
    name: 'stopped: nothing',
    state: { phase: 'stopped' },
    now: 2_000,
    expect: { kind: 'wait', until: Number.POSITIVE_INFINITY },
  },
];

test('decide: every row', () => {
  for (const row of rows) {
    const decision = decide(state(row.state), row.now, row.wallNow ?? wall + row.now);
    for (const [key, value] of Object.entries(row.expect)) {
      assert.deepEqual((decision as Record<string, unknown>)[key], value, `${row.name}: ${key}`);
    }
  }
});

test("decide: the specs it returns are the spec builders' (renew keeps acquireTime by not writing it)", () => {
  const renew = decide(state({ observation: seen(held(me)), leading: leading() }), 3_000, wall + 2_000);
  assert.equal(renew.kind, 'renew');
  assert.deepEqual((renew as { spec: unknown }).spec, renewSpec(state(), wall + 2_000));
  const acquire = decide(state({ observation: seen(held('')), maxTransitionsSeen: 5 }), 2_000, wall);
  assert.deepEqual(
    (acquire as { spec: unknown }).spec,
    acquireSpec(state({ observation: seen(held('')), maxTransitionsSeen: 5 }), wall).spec,
  );
  const recreate = decide(state({ observation: seen(undefined), leading: leading() }), 3_000, wall + 2_000);
  assert.deepEqual((recreate as { spec: unknown }).spec, recreateSpec(state(), leading(), wall + 2_000));
});
