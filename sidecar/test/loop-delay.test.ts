// The event-loop delay behind /healthz: one timer a second, how late it fires, over the last ten.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp } from '../src/app.ts';
import { SingleReplicaLeader } from '../src/leader-source.ts';
import { LoopDelay } from '../src/loop-delay.ts';
import { createMetrics } from '../src/metrics.ts';

test('lateness of each tick, the worst of the last ten, and how overdue the next one is', (t) => {
  let now = 0;
  const delay = new LoopDelay({ intervalMs: 1_000, windowSize: 10, now: () => now });
  t.after(() => delay.stop());
  assert.equal(delay.maxMs(), 0, 'not started: nothing');
  delay.start();
  now = 1_000;
  delay.tick();
  assert.equal(delay.maxMs(), 0);
  now = 4_500; // a stall: the tick due at 2 000 runs at 4 500
  assert.equal(delay.maxMs(), 2_500, 'overdue, seen before the late tick runs');
  delay.tick();
  assert.equal(delay.maxMs(), 2_500);
  for (let i = 0; i < 9; i++) {
    now += 1_000;
    delay.tick();
  }
  assert.equal(delay.maxMs(), 2_500, 'still in the window of ten');
  now += 1_000;
  delay.tick();
  assert.equal(delay.maxMs(), 0, 'gone from the window');
});

test('/healthz fails while the event loop was stalled beyond the limit, and recovers', async (t) => {
  let now = 0;
  const loopDelay = new LoopDelay({ now: () => now });
  const source = new SingleReplicaLeader('me_1', 15);
  const { app } = await buildApp({
    source,
    registry: createMetrics({ leaseName: 'l', now: () => 0, validForMs: () => source.snapshot().validForMs })
      .registry,
    lease: 'ns/l',
    loopDelay,
    maxEventLoopDelayMs: 2_000,
  });
  t.after(() => app.close());
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  now = 3_500; // the tick due at 1 000 has not run
  const stalled = await app.inject('/healthz');
  assert.equal(stalled.statusCode, 503);
  assert.match(stalled.json().reason, /event loop delayed 2500 ms/);
  loopDelay.tick();
  for (let i = 0; i < 10; i++) {
    now += 1_000;
    loopDelay.tick();
  }
  assert.equal((await app.inject('/healthz')).statusCode, 200);
});
