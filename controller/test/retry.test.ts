// The gate's retry delays, row by row.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs } from '../src/retry.ts';

test('retryDelayMs: 50 ms after a clean end, then doubling from 100 ms, never above 2 s', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 20].map(retryDelayMs),
    [50, 100, 200, 400, 800, 1_600, 2_000, 2_000],
  );
});
