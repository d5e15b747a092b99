import { EventEmitter } from 'node:events';
import type { ElectionSnapshot } from './election-state.ts';
import { LeaseholdError } from './errors.ts';
import { formatMicroTime } from './lease/micro-time.ts';

/** What the HTTP API needs from an elector; the single-replica stand-in implements it too. */
export interface LeaderSource {
  snapshot(): ElectionSnapshot;
  isLeader(): boolean;
  resign(pauseMs: number): Promise<void>;
  on(event: 'change', listener: (snapshot: ElectionSnapshot) => void): unknown;
  off(event: 'change', listener: (snapshot: ElectionSnapshot) => void): unknown;
}

/** ENABLE_LEADER_ELECTION=false: always leader, no Lease, epoch 0. */
export class SingleReplicaLeader
  extends EventEmitter<{ change: [ElectionSnapshot] }>
  implements LeaderSource
{
  readonly #identity: string;
  readonly #leaseDurationSeconds: number;
  readonly #startedAt = formatMicroTime(Date.now());

  constructor(identity: string, leaseDurationSeconds: number) {
    super();
    this.#identity = identity;
    this.#leaseDurationSeconds = leaseDurationSeconds;
  }

  snapshot(): ElectionSnapshot {
    return {
      role: 'leader',
      identity: this.#identity,
      holder: this.#identity,
      isLeader: true,
      epoch: 0,
      // Nothing can take leadership away, but clients still get a finite deadline to refresh against.
      validForMs: this.#leaseDurationSeconds * 1000,
      leaseDurationSeconds: this.#leaseDurationSeconds,
      observedAt: this.#startedAt,
      known: true,
      version: 1,
    };
  }

  isLeader(): boolean {
    return true;
  }

  async resign(): Promise<void> {
    throw new LeaseholdError('LEASEHOLD_ELECTION_DISABLED');
  }
}
