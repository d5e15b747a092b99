import type { LeaderSource } from './leader-source.ts';

/** A reason /readyz gives, with the stable code of docs/errors.md. */
export interface HealthProblem {
  code: string;
  message: string;
}

/** What /healthz and /readyz ask, in either mode (one Lease, or shard Leases). */
export interface HealthSource {
  /** Ready: the Lease state (every shard Lease's) has been read and nothing stands in the way. */
  ready(): boolean;
  /** Why this replica is stuck (a term it still claims past its deadline: its timers do not run). */
  stuck(): string | undefined;
  /** Why it is not ready, when it knows (an API failure, another shard count). */
  problem(): HealthProblem | undefined;
}

/** One Lease (or none, with election disabled): health from the elector's snapshot. */
export function leaderHealth(
  source: LeaderSource,
  lastApiError: () => HealthProblem | undefined,
): HealthSource {
  return {
    ready: () => source.snapshot().known,
    stuck() {
      const snapshot = source.snapshot();
      return snapshot.role === 'leader' && !snapshot.isLeader ? 'leader past its renew deadline' : undefined;
    },
    problem: lastApiError,
  };
}
