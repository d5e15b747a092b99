// answer(): the one place a "leader" answer's promise is sized and entered in the ledger.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SingleReplicaLeader } from '../src/leader-source.ts';
import { PromiseLedger } from '../src/promise-ledger.ts';
import { type Answering, answer } from '../src/routes/answers.ts';
import { ManualClock } from './fakes.ts';

function context(): Answering & { ledger: PromiseLedger; clock: ManualClock } {
  const clock = new ManualClock();
  return {
    source: new SingleReplicaLeader('pod-a_x1', 15), // a leader whose answers could promise 15 s
    ledger: new PromiseLedger(clock),
    clock,
    lease: 'ns/ctl',
    sessionlessValidityMs: 500,
  };
}

test('a session the ledger does not know gets the session-less cap, and its promise is nobody’s to give back', () => {
  const ctx = context();
  const { body, deadline } = answer(ctx, 'nobody');
  assert.equal(body.validForMs, 500);
  assert.equal(deadline, ctx.clock.nowMs + 500);
  assert.equal(ctx.ledger.has('nobody'), false, 'answering does not open a session');
  ctx.ledger.report('nobody', false);
  assert.equal(
    ctx.ledger.keptAt(),
    ctx.clock.nowMs + 500,
    'an idle report under that name gives nothing back',
  );
});

test('a session the ledger knows gets the full validity, recorded for it; no session gets the cap', () => {
  const ctx = context();
  const session = ctx.ledger.attach('gate-1');
  assert.equal(answer(ctx, session).body.validForMs, 15_000);
  assert.equal(ctx.ledger.keptAt(), ctx.clock.nowMs + 15_000);
  ctx.ledger.report(session, false);
  assert.equal(ctx.ledger.keptAt(), Number.NEGATIVE_INFINITY, 'the session gave its promise back');
  assert.equal(answer(ctx).body.validForMs, 500);
});
