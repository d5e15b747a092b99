export { type LeaderAnswer, type ShardAnswer, type ShardsAnswer, SidecarClient } from './client.ts';
export type { GateClock, GateTimer } from './clock.ts';
export { GateError, type GateErrorCode, TermEndedError } from './errors.ts';
export {
  createLeaderGate,
  type GateState,
  type LeaderContext,
  LeaderGate,
  type LeaderGateOptions,
} from './gate.ts';
export {
  createShardGate,
  type ShardContext,
  ShardGate,
  type ShardGateOptions,
  type ShardState,
} from './shard-gate.ts';
export { fnv1a32, maxShards, shardOf } from './shards.ts';
export type { TermContext } from './term-loop.ts';
