// The shard balancing rules (src/shards/balance.ts), one situation per test, on made-up views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LeaseView } from '../src/election-state.ts';
import { planBalance as plan } from '../src/shards/balance.ts';
import { shardCountAnnotation } from '../src/shards/shard-strategy.ts';

/** Plans over `views`, each shard held by another replica annotated with its count (N unless it says). */
function planBalance(
  views: readonly (LeaseView & { count?: number })[],
  identity: string,
  at: number,
  leaseDurationMs: number,
) {
  const annotated = views.map(({ count, ...view }) =>
    view.holder !== '' && !view.leading
      ? { ...view, annotations: { [shardCountAnnotation]: String(count ?? views.length) } }
      : view,
  );
  return plan(annotated, identity, at, leaseDurationMs);
}

const me = 'me_1';
const LD = 15_000;
const now = 100_000;
const inf = Number.POSITIVE_INFINITY;

const free = (extra: Partial<LeaseView> = {}): LeaseView => ({
  holder: '',
  preferredHolder: undefined,
  expiresAt: Number.NEGATIVE_INFINITY,
  changedAt: 50_000,
  preferenceSince: 99_000, // a request made a moment ago
  leading: false,
  known: true,
  annotations: {},
  ...extra,
});
/** Held by another replica; written with `count` shards (the count of the test's views, unless given). */
const theirs = (holder: string, extra: Partial<LeaseView> = {}, count?: number) => ({
  ...free({ holder, expiresAt: now + 5_000, ...extra }),
  count,
});
const ours = (extra: Partial<LeaseView> = {}) => free({ holder: me, leading: true, ...extra });
const reachable = (plan: { holdOffUntil: number[] }) =>
  plan.holdOffUntil.flatMap((until, shard) => (until === Number.NEGATIVE_INFINITY ? [shard] : []));

test('alone: every free shard is within reach; nothing to give or ask', () => {
  const plan = planBalance([free(), free(), free()], me, now, LD);
  assert.deepEqual(plan.live, [me]);
  assert.deepEqual([plan.fairMin, plan.fairMax], [3, 3]);
  assert.deepEqual(reachable(plan), [0, 1, 2]);
  assert.equal(plan.giveAway, undefined);
  assert.equal(plan.askFor, undefined);
  assert.equal(plan.nextChangeAt, inf);
});

test('at the fair share: free shards stay out of reach', () => {
  const plan = planBalance([ours(), ours(), theirs('b_2'), theirs('b_2'), free()], me, now, LD);
  assert.deepEqual(plan.live, ['b_2', me]);
  assert.deepEqual([plan.fairMin, plan.fairMax], [2, 3]);
  assert.deepEqual(reachable(plan), [4], 'one below the ceiling: one more');
  const full = planBalance([ours(), ours(), ours(), theirs('b_2'), free()], me, now, LD);
  assert.deepEqual(reachable(full), [], 'at the ceiling: none');
});

test('only as many free shards as the share allows, the ones preferred for us first', () => {
  const views = [theirs('b_2'), free(), free({ preferredHolder: me }), free(), theirs('c_3'), theirs('c_3')];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual([plan.fairMin, plan.fairMax], [2, 2]);
  assert.deepEqual(reachable(plan), [1, 2].sort(), 'two, the preferred one and the lowest');
  assert.equal(plan.holdOffUntil[3], inf);
  const one = planBalance([ours(), free(), free({ preferredHolder: me }), theirs('b_2')], me, now, LD);
  assert.deepEqual(reachable(one), [2], 'room for one: the preferred one, though not the lowest');
});

test('an expired shard counts as free and its holder as gone; the expiry is the next change', () => {
  const views = [theirs('b_2', { expiresAt: now }), theirs('b_2', { expiresAt: now + 700 }), free()];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual(plan.live, ['b_2', me], 'b_2 still holds shard 1');
  assert.deepEqual(reachable(plan), [0, 2]);
  assert.equal(plan.nextChangeAt, now + 700);
  const later = planBalance(views, me, now + 700, LD);
  assert.deepEqual(later.live, [me]);
  assert.deepEqual(reachable(later), [0, 1, 2]);
});

test('a released shard preferred for another replica is left to it for one lease duration', () => {
  const views = [free({ preferredHolder: 'b_2', changedAt: now - 1_000 }), free()];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual(plan.live, ['b_2', me], 'the preferred replica is alive');
  assert.equal(plan.holdOffUntil[0], inf);
  assert.deepEqual(reachable(plan), [1]);
  assert.equal(plan.nextChangeAt, now - 1_000 + LD);
  // Its time is up: the lowest free shard again, within a share of one (b_2 still counts as alive).
  const after = planBalance(views, me, now - 1_000 + LD, LD);
  assert.deepEqual(reachable(after), [0]);
  // Held (not released) with a preference for another: not ours to take, nor to hold back.
  const held = planBalance([theirs('c_3', { preferredHolder: 'b_2' })], me, now, LD);
  assert.deepEqual(reachable(held), []);
});

test('unknown shards and shards we lead are never planned for', () => {
  const plan = planBalance([free({ known: false }), ours(), free()], me, now, LD);
  assert.deepEqual(reachable(plan), [2]);
  assert.deepEqual(plan.mine, [1]);
});

test('below the floor with nothing free: ask the busiest replica for its lowest shard without a preference', () => {
  const views = [
    theirs('b_2'),
    theirs('c_3', { preferredHolder: 'd_4' }),
    theirs('c_3'),
    theirs('c_3'),
    theirs('b_2'),
    theirs('c_3'),
  ];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual(plan.live, ['b_2', 'c_3', 'd_4', me]);
  assert.deepEqual([plan.fairMin, plan.fairMax], [1, 2]);
  assert.equal(plan.askFor, 2, 'c_3 holds 4; its shard 1 already has a preference');
  // Ties: the replica met first, by lowest shard.
  const tie = planBalance([theirs('c_3'), theirs('b_2'), theirs('b_2'), theirs('c_3')], me, now, LD);
  assert.equal(tie.askFor, 0);
});

test('no asking while a request of ours stands, while something is free, or at the floor', () => {
  const busy = [theirs('b_2'), theirs('b_2'), theirs('b_2')];
  assert.equal(planBalance(busy, me, now, LD).askFor, 0);
  const pending = [theirs('b_2', { preferredHolder: me }), theirs('b_2'), theirs('b_2')];
  assert.equal(planBalance(pending, me, now, LD).askFor, undefined, 'our request is still pending');
  const freeOne = [theirs('b_2'), theirs('b_2'), free()];
  assert.equal(planBalance(freeOne, me, now, LD).askFor, undefined, 'take the free one instead');
  const atFloor = [ours(), theirs('b_2'), theirs('b_2')];
  assert.equal(planBalance(atFloor, me, now, LD).askFor, undefined, 'one of three is the floor');
  const even = [theirs('b_2'), theirs('c_3')];
  assert.equal(planBalance(even, me, now, LD).askFor, undefined, 'nobody is above the floor (0)');
});

test('at the floor, below the ceiling: ask a replica above the ceiling (4 / 2 / 2 of 8 stood for ever)', () => {
  const views = [
    ours(),
    ours(),
    theirs('b_2'),
    theirs('b_2'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
  ];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual([plan.fairMin, plan.fairMax], [2, 3]);
  assert.equal(plan.askFor, 4, 'c_3 holds 4, one above the ceiling');
  // 3 / 3 / 2: everyone within the share, nobody asks.
  const fair = [
    ours(),
    ours(),
    theirs('b_2'),
    theirs('b_2'),
    theirs('b_2'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
  ];
  assert.equal(planBalance(fair, me, now, LD).askFor, undefined);
  // At the ceiling already: no asking, although c_3 is above it (b_2, below the floor, asks).
  const atCeiling = [
    ours(),
    ours(),
    ours(),
    theirs('b_2'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
  ];
  assert.equal(planBalance(atCeiling, me, now, LD).askFor, undefined);
  assert.equal(
    planBalance(
      atCeiling.map((v) => (v.leading ? theirs('a_0') : v)),
      me,
      now,
      LD,
    ).live.length,
    4,
  );
});

test('a request of ours stands while its holder can give and for LD; declined or unmet for LD, it is withdrawn', () => {
  // b_2 holds 3 of 4 (above the floor of 2): our fresh request stands, nothing else is asked or withdrawn.
  const later = { expiresAt: now + 60_000 };
  const fresh = [
    ours(),
    theirs('b_2', { preferredHolder: me, ...later }),
    theirs('b_2', later),
    theirs('b_2', later),
  ];
  const standing = planBalance(fresh, me, now, LD);
  assert.equal(standing.withdraw, undefined);
  assert.equal(standing.askFor, undefined);
  assert.equal(standing.nextChangeAt, 99_000 + LD, 'decided again when the request runs out');
  // The same request made LD ago: withdrawn (then asked again, which others see as fresh).
  const old = fresh.map((v, i) =>
    i === 1 ? theirs('b_2', { preferredHolder: me, preferenceSince: now - LD }) : v,
  );
  assert.equal(planBalance(old, me, now, LD).withdraw, 1);
  // Declined: its holder is at the floor (2 of 4 with c_3 holding the rest), so we ask c_3 instead.
  const declined = [
    theirs('b_2', { preferredHolder: me }),
    theirs('b_2'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
    theirs('c_3'),
  ];
  const moved = planBalance(declined, me, now, LD);
  assert.deepEqual([moved.fairMin, moved.fairMax], [2, 2]);
  assert.equal(moved.withdraw, 0);
  assert.equal(moved.askFor, 2, 'moved on to the busiest');
  // A request for a shard that was released for us stands until we take it.
  const released = [free({ preferredHolder: me, preferenceSince: now - 2 * LD }), theirs('b_2')];
  assert.equal(planBalance(released, me, now, LD).withdraw, undefined);
});

test('a replica known only by its request counts as live for 2 x LD after the request; then no longer', () => {
  const views = [theirs('b_2', { preferredHolder: 'c_3' }), theirs('b_2')];
  assert.deepEqual(planBalance(views, me, now, LD).live, ['b_2', 'c_3', me]);
  const stale = [theirs('b_2', { preferredHolder: 'c_3', preferenceSince: now - 2 * LD }), theirs('b_2')];
  assert.deepEqual(planBalance(stale, me, now, LD).live, ['b_2', me]);
  // The plan changes by itself when the request runs out (a replica gone without taking it back).
  const asked = [free({ preferredHolder: 'c_3', preferenceSince: now - LD }), free()];
  assert.equal(planBalance(asked, me, now, LD).nextChangeAt, now + LD);
});

test('above the floor: give the shard another replica is preferred on; at the floor, keep it', () => {
  const views = [ours(), ours({ preferredHolder: 'b_2' }), ours(), free({ preferredHolder: 'b_2' })];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual([plan.fairMin, plan.fairMax], [2, 2]);
  assert.equal(plan.giveAway, 1);
  const aboveFloor = planBalance([ours(), ours({ preferredHolder: 'b_2' }), theirs('c_3')], me, now, LD);
  assert.deepEqual([aboveFloor.fairMin, aboveFloor.mine.length], [1, 2]);
  assert.equal(aboveFloor.giveAway, 1);
  const keep = planBalance([ours({ preferredHolder: 'b_2' }), theirs('c_3'), theirs('c_3')], me, now, LD);
  assert.equal(keep.giveAway, undefined, 'one shard of three replicas is the floor');
  const ownPreference = planBalance([ours({ preferredHolder: me }), ours()], me, now, LD);
  assert.equal(ownPreference.giveAway, undefined);
  const skipOwn = [ours({ preferredHolder: me }), ours({ preferredHolder: 'b_2' }), ours(), free()];
  assert.equal(planBalance(skipOwn, me, now, LD).giveAway, 1, 'a preference for ourselves is no request');
});

test('a request from a replica already at the ceiling is not served (it was met elsewhere meanwhile)', () => {
  // 7 shards, 3 live: fair 2 / 3. We hold 3 (above the floor); b_2 holds 3 and still prefers our shard 0.
  const views = [
    ours({ preferredHolder: 'b_2' }),
    ours(),
    ours(),
    theirs('b_2'),
    theirs('b_2'),
    theirs('b_2'),
    theirs('c_3'),
  ];
  assert.equal(planBalance(views, me, now, LD).giveAway, undefined);
  const needing = views.map((v, i) => (i === 5 ? theirs('c_3') : v));
  assert.equal(planBalance(needing, me, now, LD).giveAway, 0, 'with b_2 below the ceiling it is served');
});

test('another shard count on a held shard: acquire nothing, give nothing, ask nothing; expired, it no longer counts', () => {
  const views = [ours({ preferredHolder: 'b_2' }), ours(), ours(), free(), theirs('b_2', {}, 6)];
  const mismatched = planBalance(views, me, now, LD);
  assert.equal(mismatched.countMismatch, '6');
  assert.equal(planBalance(views.slice(0, 4), me, now, LD).giveAway, 0, 'without the other count: given');
  assert.deepEqual(reachable(mismatched), []);
  assert.equal(mismatched.giveAway, undefined);
  const asking = planBalance([theirs('b_2'), theirs('b_2'), theirs('b_2', {}, 8)], me, now, LD);
  assert.equal(asking.countMismatch, '8');
  assert.equal(asking.askFor, undefined);
  const unannotated = plan([free({ holder: 'b_2', expiresAt: now + 1 }), free()], me, now, LD);
  assert.equal(unannotated.countMismatch, 'none', 'a held shard without the annotation is not trusted');
  const stale = [free(), free(), theirs('b_2', {}, 6)];
  assert.deepEqual(reachable(planBalance(stale, me, now, LD)), []);
  const expired = planBalance(stale, me, now + 5_000, LD);
  assert.equal(expired.countMismatch, undefined);
  assert.deepEqual(reachable(expired), [0, 1, 2]);
  const same = planBalance([ours(), theirs('b_2'), free()], me, now, LD);
  assert.equal(same.countMismatch, undefined);
  assert.deepEqual(reachable(same), [2]);
});

test('a released shard is held for its preferred replica only while it is recent and names another', () => {
  const recent = now - 1_000;
  const views = [
    free({ preferredHolder: 'b_2', changedAt: recent }),
    free({ preferredHolder: me, changedAt: recent }),
    free({ holder: 'c_3', expiresAt: now - 1, preferredHolder: 'b_2', changedAt: recent }),
    free({ changedAt: recent }),
  ];
  const plan = planBalance(views, me, now, LD);
  assert.deepEqual(plan.live, ['b_2', me], 'c_3 has expired');
  assert.deepEqual([plan.holdOffUntil[0], plan.nextChangeAt], [inf, recent + LD]);
  assert.deepEqual(reachable(plan), [1, 2], 'ours first, then an expired one whatever it prefers');
});

test('a vanished holder (holder empty, expiry ahead) is neither alive nor counted', () => {
  const plan = planBalance([free({ expiresAt: now + 3_000 }), free()], me, now, LD);
  assert.deepEqual(plan.live, [me]);
  assert.deepEqual(reachable(plan), [0, 1], 'the elector itself waits for the expiry');
});

test('below the floor with a shard not yet read: nobody above the floor, so nobody is asked', () => {
  const plan = planBalance([theirs('b_2'), theirs('c_3'), free({ known: false })], me, now, LD);
  assert.deepEqual([plan.fairMin, plan.mine.length], [1, 0]);
  assert.equal(plan.askFor, undefined);
});

test('within the room left: the lowest free shards, a preferred one first wherever it is', () => {
  const five = [theirs('b_2'), free(), free(), free(), free({ preferredHolder: me })];
  const plan = planBalance(five, me, now, LD);
  assert.deepEqual([plan.fairMax, plan.mine.length], [3, 0]);
  assert.deepEqual(reachable(plan), [1, 2, 4]);
  const lowest = planBalance([theirs('b_2'), free(), free(), free(), free()], me, now, LD);
  assert.deepEqual(reachable(lowest), [1, 2, 3]);
});
