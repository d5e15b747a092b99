import { type RawLease, readRecord } from './record.ts';

/**
 * What a kind of Lease decides beyond client-go's protocol, which the elector runs unchanged: who the
 * Lease prefers as holder, whether the elector hands over to that holder itself, and which annotations an
 * acquisition writes. One Lease follows client-go (oneLeaseStrategy); a shard's comes from shards/.
 */
export interface LeaseStrategy {
  /** Who the Lease prefers as holder, if anyone. */
  preferredIn(lease: RawLease | undefined): string | undefined;
  /** Resign as soon as the Lease prefers another holder (else whoever owns the strategy decides). */
  readonly yieldsToPreferred: boolean;
  /** The annotations of a Lease this elector acquires (or creates, from {}), given those it has now. */
  acquiredAnnotations(current: Readonly<Record<string, string>>): Record<string, string>;
}

/** client-go's rules: spec.preferredHolder, yield to it, annotations left as they are. */
export const oneLeaseStrategy: LeaseStrategy = {
  preferredIn: (lease) => (lease ? readRecord(lease).preferredHolder : undefined),
  yieldsToPreferred: true,
  acquiredAnnotations: (current) => ({ ...current }),
};
