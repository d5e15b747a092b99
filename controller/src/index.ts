export { type LeaderAnswer, SidecarClient } from './client.ts';
export { type GateErrorCode, LeaderGateError, LeadershipEndedError } from './errors.ts';
export {
  createLeaderGate,
  type GateState,
  type LeaderContext,
  LeaderGate,
  type LeaderGateOptions,
} from './gate.ts';
export { fnv1a32, shardOf } from './shards.ts';
