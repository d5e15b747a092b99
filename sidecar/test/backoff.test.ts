// Retry pacing after Lease API failures: the jittered backoff, the log throttle, and the delays the
// elector derives from the retry period (a short one here; elector.test.ts has the default 2 s).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, LogThrottle } from '../src/backoff.ts';
import { Elector } from '../src/elector.ts';
import { ManualClock, MemoryLeaseApi, silentLogger, stopElector } from './fakes.ts';

test('backoff: base x 2^(attempt-1), capped, times a jitter factor in [0.5, 1.5)', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => backoffMs(n, 100, 1_000, () => 0.5)),
    [100, 200, 400, 800, 1_000],
  );
  assert.equal(
    backoffMs(3, 100, 1_000, () => 0),
    200,
    'the lowest jitter halves it',
  );
  assert.equal(
    backoffMs(3, 100, 1_000, () => 0.999),
    600,
    'the highest adds half',
  );
  assert.equal(
    backoffMs(0, 100, 1_000, () => 0.5),
    100,
    'attempt 0 counts as the first',
  );
});

test('log throttle: the first at once, then one per interval with the count suppressed between', () => {
  let now = 0;
  const throttle = new LogThrottle(1_000, () => now);
  assert.equal(throttle.take(), 0);
  now = 500;
  assert.equal(throttle.take(), undefined);
  now = 999;
  assert.equal(throttle.take(), undefined);
  now = 1_000;
  assert.equal(throttle.take(), 2, 'exactly one interval later, with the two suppressed');
  now = 1_001;
  assert.equal(throttle.take(), undefined);
  throttle.reset();
  assert.equal(throttle.take(), 0, 'after a reset, at once again');
});

test('retry delays at RP 0.5 s (fixed jitter): a leader 63, 125, 125 ms; a follower 125 ms doubling to 2 s', async (t) => {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const config = {
    leaseName: 'l',
    namespace: 'ns',
    identity: 'me_1',
    leaseDurationSeconds: 4,
    renewDeadlineSeconds: 3,
    retryPeriodSeconds: 0.5,
    safetyMarginSeconds: 1,
  };
  const elector = new Elector({ config, api, clock, logger: silentLogger, random: () => 0.5 });
  t.after(() => stopElector(clock, elector));
  elector.start();
  await clock.advance(0);
  api.down = true;
  let from = api.calls.length;
  await clock.advance(1_500);
  assert.deepEqual(api.gaps(from, 'replace').slice(0, 3), [63, 125, 125]);
  await clock.advance(4_500); // past its deadline: a follower now
  from = api.calls.length;
  await clock.advance(20_000);
  assert.deepEqual(api.gaps(from, 'get').slice(-2), [2_000, 2_000]);
});
