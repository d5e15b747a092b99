// The gate's rules for trusting answers, row by row: no network, no clock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  acknowledged,
  acknowledging,
  admit,
  initialOrder,
  pushedLoss,
  termEnd,
} from '../src/answer-rules.ts';

const leader = { isLeader: true, validForMs: 800 };
const follower = { isLeader: false, validForMs: 0 };

test('admit: a leader answer grants (send time + validForMs); a follower answer grants nothing', () => {
  assert.deepEqual(admit(initialOrder, 100, leader), {
    order: { ...initialOrder, lastAppliedSentAt: 100 },
    deadline: 900,
  });
  assert.deepEqual(admit(initialOrder, 100, follower), {
    order: { ...initialOrder, lastAppliedSentAt: 100 },
    deadline: 0,
  });
  assert.equal(
    admit(initialOrder, 100, { isLeader: true, validForMs: 0 })?.deadline,
    0,
    'nothing left to act on',
  );
});

test('admit: an answer to a request older than one already applied is ignored', () => {
  const order = { ...initialOrder, lastAppliedSentAt: 200 };
  assert.equal(admit(order, 150, leader), undefined);
  assert.equal(admit(order, 200, leader)?.deadline, 1_000, 'the same request time is not older');
  assert.equal(admit(order, 250, follower)?.order.lastAppliedSentAt, 250);
});

test('admit: after a pushed loss, no answer sent before it may promote again', () => {
  const order = pushedLoss({ ...initialOrder, lastAppliedSentAt: 100 }, 300);
  assert.equal(order.voidBefore, 300);
  assert.equal(admit(order, 250, leader), undefined, 'sent before the push');
  assert.equal(admit(order, 300, leader), undefined, 'sent at the push');
  assert.equal(admit(order, 301, leader)?.deadline, 1_101, 'sent after the push: a new grant');
  assert.equal(pushedLoss({ ...initialOrder, voidBefore: 500 }, 300).voidBefore, 500, 'never moves back');
});

test('acknowledging idle voids every answer until the sidecar confirms; then only later requests count', () => {
  const pending = acknowledging({ ...initialOrder, lastAppliedSentAt: 100 });
  assert.equal(pending.voidBefore, Number.POSITIVE_INFINITY);
  assert.equal(admit(pending, 10_000, leader), undefined);
  const confirmed = acknowledged(pending, 400);
  assert.equal(confirmed.voidBefore, 400);
  assert.equal(confirmed.lastAppliedSentAt, 100);
  assert.equal(admit(confirmed, 350, leader), undefined);
  assert.equal(admit(confirmed, 401, leader)?.deadline, 1_201);
});

test('termEnd: closed, stopped, lost, new epoch, or carry on', () => {
  const leading = { closed: false, stopped: false, isLeader: true, epoch: 4 };
  assert.equal(termEnd(leading, 4), undefined);
  assert.equal(termEnd({ ...leading, closed: true }, 4), 'gate closed');
  assert.equal(termEnd({ ...leading, stopped: true }, 4), 'stopped');
  assert.equal(termEnd({ ...leading, isLeader: false }, 4), 'lost');
  assert.equal(termEnd({ ...leading, epoch: 5 }, 4), 'new epoch');
  assert.equal(termEnd({ ...leading, epoch: null }, 4), 'new epoch');
});
