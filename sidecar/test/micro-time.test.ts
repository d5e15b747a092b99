import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMicroTime, parseMicroTime } from '../src/lease/micro-time.ts';

test('MicroTime has exactly six fractional digits, in UTC', () => {
  assert.equal(formatMicroTime(Date.UTC(2026, 0, 15, 10, 0, 5, 123) + 0.456), '2026-01-15T10:00:05.123456Z');
  assert.equal(formatMicroTime(Date.UTC(2026, 11, 31, 23, 59, 59, 0)), '2026-12-31T23:59:59.000000Z');
  assert.equal(formatMicroTime(Date.UTC(2026, 0, 1, 0, 0, 0, 7) + 0.0009), '2026-01-01T00:00:00.007000Z');
});

test('MicroTime round-trips to the millisecond', () => {
  const wall = Date.UTC(2027, 5, 1, 12, 30, 0, 999);
  assert.equal(parseMicroTime(formatMicroTime(wall)), wall);
  assert.ok(Number.isNaN(parseMicroTime(42)));
});
