// Which shard a key belongs to: the one function every replica, in every language, must agree on
// (docs/sharding.md spells it out for Go, Python and shell, and a test runs those against this one).
// FNV-1a with 32 bits over the key's UTF-8 bytes, modulo the shard count. The count is fixed for a
// deployment, so a key never changes shard while it runs; what moves between replicas is whole shards.
import { GateError } from './errors.ts';

const fnvOffsetBasis = 0x811c9dc5;
const fnvPrime = 0x01000193;
const utf8 = new TextEncoder();

/** FNV-1a (32 bits) of the UTF-8 bytes of `key`, as an unsigned integer. */
export function fnv1a32(key: string): number {
  let hash = fnvOffsetBasis;
  for (const byte of utf8.encode(key)) hash = Math.imul(hash ^ byte, fnvPrime) >>> 0;
  return hash;
}

/**
 * The shard (0 … shards − 1) that owns `key`. Keys name objects as `namespace/name` (`name` alone for
 * cluster-scoped objects), as controller-runtime and client-go print them.
 */
export function shardOf(key: string, shards: number): number {
  return fnv1a32(key) % checkShardCount(shards);
}

/** The most shards a deployment may have: the sidecar's SHARDS and the charts' `shards` allow as many. */
export const maxShards = 64;

/** `shards` when it is a valid shard count (an integer 1…maxShards); throws LEASEHOLD_GATE_INVALID_OPTION otherwise. */
export function checkShardCount(shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > maxShards) {
    throw new GateError(
      'LEASEHOLD_GATE_INVALID_OPTION',
      `shards must be an integer 1…${maxShards}, got ${shards}`,
    );
  }
  return shards;
}
