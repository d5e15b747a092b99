// The promise ledger: what the sidecar has promised, to whom, until when — and when a hand-over may
// let the Lease go.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PromiseLedger } from '../src/promise-ledger.ts';
import { flush, ManualClock } from './fakes.ts';

function setup() {
  const clock = new ManualClock();
  clock.nowMs = 0;
  return { clock, ledger: new PromiseLedger(clock, { forgetSessionsAfterMs: 60_000 }) };
}

async function keptAfter(
  clock: ManualClock,
  ledger: PromiseLedger,
  stepMs = 10,
  maxMs = 60_000,
): Promise<number> {
  const start = clock.nowMs;
  let kept = false;
  const waiting = ledger.allKept().then(() => {
    kept = true;
  });
  await flush();
  while (!kept && clock.nowMs - start < maxMs) await clock.advance(stepMs);
  await waiting;
  return clock.nowMs - start;
}

test('nothing promised: kept at once', async () => {
  const { clock, ledger } = setup();
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY);
  assert.equal(await keptAfter(clock, ledger), 0);
});

test('session-less promises: kept when the latest deadline has passed, not the first', async () => {
  const { clock, ledger } = setup();
  ledger.promise(300);
  ledger.promise(500);
  ledger.promise(200);
  assert.equal(ledger.keptAt(), 500);
  assert.equal(await keptAfter(clock, ledger, 1), 500);
});

test('a gate session gives its promises back when it reports idle; others still count', async () => {
  const { clock, ledger } = setup();
  const gate = ledger.attach('gate-a');
  assert.equal(gate, 'gate-a');
  ledger.promise(9_000, gate);
  ledger.promise(400);
  assert.equal(ledger.keptAt(), 9_000);
  let kept = false;
  const waiting = ledger.allKept().then(() => {
    kept = true;
  });
  await clock.advance(50);
  ledger.report(gate, false);
  await flush();
  assert.equal(kept, false, 'the session-less promise still runs');
  await clock.advance(349);
  assert.equal(kept, false);
  await clock.advance(2);
  await waiting;
  assert.equal(kept, true);
});

test('reporting active gives nothing back; a promise made after an idle report counts again', async () => {
  const { clock, ledger } = setup();
  const gate = ledger.attach();
  assert.match(gate, /^[0-9a-f-]{36}$/);
  ledger.promise(1_000, gate);
  ledger.report(gate, true);
  assert.equal(ledger.keptAt(), 1_000);
  assert.equal(ledger.activeCount, 1);
  ledger.report(gate, false);
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY);
  assert.equal(ledger.activeCount, 0);
  ledger.promise(2_000, gate);
  assert.equal(await keptAfter(clock, ledger, 100), 2_000);
});

test('a promise to an unknown session counts as session-less (it can only be given back by a session)', () => {
  const { ledger } = setup();
  ledger.promise(700, 'nobody');
  ledger.report('nobody', false);
  assert.equal(ledger.keptAt(), 700);
  assert.equal(ledger.has('nobody'), false);
});

test('a session survives its stream: resumed by id after a reconnect, with its promises', () => {
  const { clock, ledger } = setup();
  ledger.attach('gate-b');
  ledger.promise(5_000, 'gate-b');
  ledger.detach('gate-b');
  assert.equal(ledger.has('gate-b'), true);
  assert.equal(ledger.keptAt(), 5_000);
  clock.nowMs = 30_000;
  ledger.attach('gate-b');
  assert.equal(ledger.sessionCount, 1);
  ledger.report('gate-b', false);
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY);
});

test('sessions nobody resumes are forgotten once they hold nothing; ones with promises or streams stay', () => {
  const { clock, ledger } = setup();
  ledger.attach('idle');
  ledger.detach('idle');
  ledger.attach('holding');
  ledger.promise(200_000, 'holding');
  ledger.detach('holding');
  ledger.attach('streaming');
  clock.nowMs = 60_001;
  ledger.attach('newcomer');
  assert.equal(ledger.has('idle'), false);
  assert.equal(ledger.has('holding'), true);
  assert.equal(ledger.has('streaming'), true);
  clock.nowMs = 59_000 + 60_000;
  ledger.attach('another');
  assert.equal(ledger.has('holding'), true, 'still promised until 200 s');
});

test('two streams of one session: detaching one keeps it attached', () => {
  const { clock, ledger } = setup();
  ledger.attach('twice');
  ledger.attach('twice');
  ledger.detach('twice');
  clock.nowMs = 120_000;
  ledger.attach('other');
  assert.equal(ledger.has('twice'), true);
  ledger.detach('twice');
  ledger.detach('twice');
  clock.nowMs = 240_000;
  ledger.attach('third');
  assert.equal(ledger.has('twice'), false);
});

test('allKept waits again when the deadline it waited for is extended meanwhile', async () => {
  const { clock, ledger } = setup();
  ledger.promise(100);
  let kept = false;
  const waiting = ledger.allKept().then(() => {
    kept = true;
  });
  await clock.advance(50);
  ledger.promise(300); // an answer given just before the demotion, recorded late
  await clock.advance(60);
  assert.equal(kept, false);
  await clock.advance(200);
  await waiting;
  assert.equal(kept, true);
});

test('session ids: 1-64 letters, digits, "-" and "_", nothing else', async () => {
  const { sessionIdPattern } = await import('../src/promise-ledger.ts');
  for (const ok of ['a', 'gate-1_X', 'x'.repeat(64), '0b1e0c6e-5a3b-4b8e-9f4f-2b8b5a1c3d4e'])
    assert.match(ok, sessionIdPattern, ok);
  for (const bad of ['', 'x'.repeat(65), 'has space', 'dot.ted', 'ünï', 'a/b', ' a', 'a '])
    assert.doesNotMatch(bad, sessionIdPattern, bad);
});

test('a new session is idle; detaching an unknown session is harmless', () => {
  const { ledger } = setup();
  ledger.attach('fresh');
  assert.equal(ledger.activeCount, 0);
  ledger.detach('nobody');
  assert.equal(ledger.sessionCount, 1);
});

test('a detached session is forgotten exactly after the grace (default one minute), counted from its detach', () => {
  const clock = new ManualClock();
  clock.nowMs = 0;
  const ledger = new PromiseLedger(clock);
  ledger.attach('late');
  clock.nowMs = 100_000;
  ledger.detach('late');
  clock.nowMs = 160_000;
  ledger.attach('probe-1');
  assert.equal(ledger.has('late'), true, 'exactly a minute after: still kept');
  clock.nowMs = 160_001;
  ledger.attach('probe-2');
  assert.equal(ledger.has('late'), false);
});

test('a session holding a promise that ends exactly now may be forgotten; one that ends later may not', () => {
  const { clock, ledger } = setup();
  ledger.attach('ends-now');
  ledger.promise(70_000, 'ends-now');
  ledger.detach('ends-now');
  ledger.attach('ends-later');
  ledger.promise(70_001, 'ends-later');
  ledger.detach('ends-later');
  clock.nowMs = 70_000;
  ledger.attach('probe');
  assert.equal(ledger.has('ends-now'), false);
  assert.equal(ledger.has('ends-later'), true);
});
