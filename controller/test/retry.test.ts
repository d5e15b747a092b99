// The gate's retry delays, row by row.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../src/retry.ts';

const top = () => 1;

test('retryDelayMs: a ceiling of 50 ms after a clean end, then doubling from 100 ms, never above 2 s', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 20].map((n) => retryDelayMs(n, top)),
    [50, 100, 200, 400, 800, 1_600, 2_000, 2_000],
  );
});

test('retryDelayMs: jittered over the upper half of the ceiling, so gates that fail together spread out', () => {
  assert.deepEqual(
    [1, 3, 6].map((n) => retryDelayMs(n, () => 0)),
    [50, 200, 1_000],
  );
  assert.equal(
    retryDelayMs(3, () => 0.5),
    300,
  );
  const spread = new Set(Array.from({ length: 50 }, () => retryDelayMs(6)));
  assert.ok(spread.size > 10, `Math.random by default: ${spread.size} distinct delays of 50`);
  for (const delay of spread) assert.ok(delay >= 1_000 && delay <= 2_000, String(delay));
});
