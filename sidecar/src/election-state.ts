// What an elector knows, as the rest of the sidecar reads it (HTTP answers, hooks, metrics, balancing).

export type Role = 'starting' | 'follower' | 'leader' | 'paused' | 'releasing' | 'stopping' | 'stopped';

/** What the elector knows, computed when asked: "am I leader" is judged on the monotonic clock now. */
export interface ElectionSnapshot {
  role: Role;
  identity: string;
  holder: string;
  isLeader: boolean;
  epoch: number | null;
  validForMs: number;
  leaseDurationSeconds: number;
  /** Wall time of the last observation of the Lease from the API; null before the first. */
  observedAt: string | null;
  /** True once the Lease state has been read from the API. */
  known: boolean;
  /** Increases on every change of holder, leadership, epoch or role; keys long-polls. */
  version: number;
}

/** One Lease as a shard set sees it (shards/balance.ts). */
export interface LeaseView {
  /** '' when free or not yet read. */
  holder: string;
  preferredHolder: string | undefined;
  /** Monotonic time this replica may take the Lease over (-Infinity: now, or ours). */
  expiresAt: number;
  /** Monotonic time the record last changed. */
  changedAt: number;
  /** Monotonic time the preferred holder last changed, as this replica saw it. */
  preferenceSince: number;
  /** This replica leads on it now. */
  leading: boolean;
  /** Read from the API at least once. */
  known: boolean;
  /** The Lease's annotations as last seen. */
  annotations: Readonly<Record<string, string>>;
}
