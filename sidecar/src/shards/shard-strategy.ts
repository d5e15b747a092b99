import type { LeaseStrategy } from '../lease/lease-strategy.ts';

/** Names the replica a shard's holder should hand it to (spec.preferredHolder needs an apiserver gate). */
// Stryker disable next-line StringLiteral: the unit tests share the name; the integration tests check it
export const preferredHolderAnnotation = 'leasehold.io/preferred-holder';

/** The shard count of the replica that holds a shard Lease, written with every acquisition. */
// Stryker disable next-line StringLiteral: the unit tests share the name; the integration tests check it
export const shardCountAnnotation = 'leasehold.io/shards';

/**
 * A shard Lease: the preferred holder is an annotation (the apiserver drops spec.preferredHolder unless
 * its CoordinatedLeaderElection gate is on), an acquisition settles it and writes the shard count, and the
 * shard set, not the elector, decides whether to hand the shard to the replica preferred on it (only the
 * set knows whether giving it away keeps this replica at its fair share).
 */
export function shardLeaseStrategy(shards: number): LeaseStrategy {
  return {
    preferredIn: (lease) =>
      ((lease?.metadata?.annotations ?? {}) as Record<string, string>)[preferredHolderAnnotation] ||
      undefined,
    yieldsToPreferred: false,
    acquiredAnnotations: (current) => {
      const { [preferredHolderAnnotation]: _settled, ...kept } = current;
      return { ...kept, [shardCountAnnotation]: String(shards) };
    },
  };
}
