// The key → shard function: published FNV-1a test vectors, its range, and that it spreads keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GateError } from '../src/errors.ts';
import { fnv1a32, shardOf } from '../src/shards.ts';

test('fnv1a32 gives the published FNV-1a 32-bit values, over UTF-8 bytes', () => {
  // Vectors from the FNV reference (Fowler, Noll, Vo): "", "a", "foobar".
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  // "é" is two bytes in UTF-8 (c3 a9), not one UTF-16 unit: hashed byte by byte.
  const byHand = Math.imul(Math.imul(0x811c9dc5 ^ 0xc3, 0x01000193) ^ 0xa9, 0x01000193) >>> 0;
  assert.equal(fnv1a32('é'), byHand);
  assert.ok(fnv1a32('zz-top/deployment-7') >= 0, 'unsigned');
});

test('shardOf: the hash modulo the count, in range, the same on every call', () => {
  assert.equal(shardOf('foobar', 7), 0xbf9cf968 % 7);
  assert.equal(shardOf('default/web', 1), 0);
  for (let i = 0; i < 200; i++) {
    const shard = shardOf(`team-a/object-${i}`, 8);
    assert.ok(Number.isInteger(shard) && shard >= 0 && shard < 8);
    assert.equal(shardOf(`team-a/object-${i}`, 8), shard);
  }
});

test('shardOf spreads similar keys evenly: 8,000 names over 8 shards, each within 10 % of 1,000', () => {
  const counts = new Array<number>(8).fill(0);
  for (let i = 0; i < 8_000; i++) {
    const shard = shardOf(`prod/orders-${i}`, 8);
    counts[shard] = (counts[shard] ?? 0) + 1;
  }
  for (const count of counts) assert.ok(count > 900 && count < 1_100, `counts ${counts.join(', ')}`);
});

test('shardOf refuses a shard count that is not an integer 1…maxShards (64), naming the value', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, 65, 1025]) {
    assert.throws(
      () => shardOf('default/web', bad),
      (err: unknown) =>
        err instanceof GateError &&
        err.code === 'LEASEHOLD_GATE_INVALID_OPTION' &&
        err.message.includes(String(bad)),
    );
  }
  assert.equal(shardOf('default/web', 64), fnv1a32('default/web') % 64);
});
