/**
 * How a replica shares N shard Leases with the others, as a pure function of what it sees (docs/sharding.md).
 * Safety does not depend on it: each shard is an ordinary Lease, held by at most one replica at a time.
 * This only decides which shards this replica reaches for, gives away, or asks for.
 */
import type { LeaseView } from '../election-state.ts';
import { shardCountAnnotation } from './shard-strategy.ts';

export interface BalancePlan {
  /** Every replica known to be alive, this one included, sorted. */
  live: string[];
  /** floor(N / live) and ceil(N / live). */
  fairMin: number;
  fairMax: number;
  /** The shards this replica leads. */
  mine: number[];
  /** Per shard: no acquisition before this (Infinity: not now); ignored for shards this replica leads. */
  holdOffUntil: number[];
  /** A shard this replica leads and should hand to the replica preferred on it, now. */
  giveAway: number | undefined;
  /** A shard held by a busier replica that this replica should ask for (preferredHolder = itself). */
  askFor: number | undefined;
  /** A shard carrying a request of ours that no longer stands (declined, or unmet for LD): clear it. */
  withdraw: number | undefined;
  /** The next instant the plan changes by itself (an expiry, a preference running out); Infinity if none. */
  nextChangeAt: number;
  /**
   * Another replica holds a shard Lease written with another shard count (or none): the two would map
   * keys to shards differently. Set, this replica acquires nothing and gives up what it holds.
   */
  countMismatch: string | undefined;
}

const held = (view: LeaseView, now: number): boolean =>
  view.leading || (view.holder !== '' && now < view.expiresAt);

/**
 * - Live replicas: this one, every holder of an unexpired shard, every replica named as preferred holder.
 * - A replica takes free or expired shards only up to ceil(N / live), the ones preferred for it first, then
 *   the lowest; a released shard preferred for another is left to that replica for one lease duration.
 * - A replica below floor(N / live) with nothing free to take asks the busiest replica (most shards above
 *   the floor; ties: its lowest shard) for its lowest shard, one request at a time; one at the floor but
 *   below ceil(N / live) asks a replica above the ceiling the same way.
 * - A replica above the floor gives a shard to the replica preferred on it, one at a time.
 */
export function planBalance(
  views: readonly LeaseView[],
  identity: string,
  now: number,
  leaseDurationMs: number,
): BalancePlan {
  const shards = views.length;
  const liveSet = new Set<string>([identity]);
  const counts = new Map<string, number[]>();
  let nextChangeAt = Number.POSITIVE_INFINITY;
  for (const [shard, view] of views.entries()) {
    // A replica that holds nothing yet is known by its request, for as long as it keeps it fresh (the
    // plan changes when that runs out: a replica gone without taking it back stops counting then).
    const knownUntil = view.preferenceSince + 2 * leaseDurationMs;
    if (view.preferredHolder && now < knownUntil) {
      liveSet.add(view.preferredHolder);
      nextChangeAt = Math.min(nextChangeAt, knownUntil);
    }
    if (!held(view, now)) continue;
    const holder = view.leading ? identity : view.holder;
    liveSet.add(holder);
    counts.set(holder, [...(counts.get(holder) ?? []), shard]);
  }
  const live = [...liveSet].sort();
  const fairMin = Math.floor(shards / live.length);
  const fairMax = Math.ceil(shards / live.length);
  const mine = counts.get(identity) ?? [];
  const foreign = views.find(
    (view) => !view.leading && held(view, now) && view.annotations[shardCountAnnotation] !== String(shards),
  );
  const countMismatch = foreign && (foreign.annotations[shardCountAnnotation] ?? 'none');

  // Free or expired shards, those preferred for us first; preferred for another: theirs for a while.
  const holdOffUntil = views.map(() => Number.POSITIVE_INFINITY);
  const reachable: number[] = [];
  for (const [shard, view] of views.entries()) {
    if (!view.known || view.leading) continue;
    if (held(view, now)) {
      nextChangeAt = Math.min(nextChangeAt, view.expiresAt);
      continue;
    }
    const theirsUntil =
      view.preferredHolder && view.preferredHolder !== identity && view.holder === ''
        ? view.changedAt + leaseDurationMs
        : Number.NEGATIVE_INFINITY;
    if (now < theirsUntil) {
      nextChangeAt = Math.min(nextChangeAt, theirsUntil);
      continue;
    }
    reachable.push(shard);
  }
  const forUs = views.map((view) => view.preferredHolder === identity);
  // Stable: among equals, the lowest first (reachable is in shard order).
  reachable.sort((a, b) => Number(forUs[b]) - Number(forUs[a]));
  const room = countMismatch === undefined ? fairMax - mine.length : 0;
  for (const shard of reachable.slice(0, Math.max(0, room))) {
    holdOffUntil[shard] = Number.NEGATIVE_INFINITY;
  }

  // Give a shard to the replica preferred on it while that replica still needs one (below the ceiling): a
  // request that was met elsewhere meanwhile is left alone.
  const giveAway =
    mine.length > fairMin && countMismatch === undefined
      ? mine.find((shard) => {
          const preferred = (views[shard] as LeaseView).preferredHolder;
          return (
            preferred !== undefined &&
            preferred !== identity &&
            (counts.get(preferred)?.length ?? 0) < fairMax
          );
        })
      : undefined;

  let askFor: number | undefined;
  // A request of ours stands while it can still be met: the shard is released (held for us), or its
  // holder is above the floor and so will give it. One its holder declines (at the floor) moves on.
  // An unmet one is renewed every LD (withdrawn, then asked again), so that others keep counting us.
  const standing = (view: LeaseView): boolean =>
    !held(view, now) ||
    ((counts.get(view.holder)?.length ?? 0) > fairMin && now < view.preferenceSince + leaseDurationMs);
  const ours = views.flatMap((view, shard) =>
    view.preferredHolder === identity && !view.leading ? [shard] : [],
  );
  const stands = ours.filter((shard) => standing(views[shard] as LeaseView));
  const asking = stands.length > 0;
  const withdraw = ours.find((shard) => !stands.includes(shard));
  // Below the floor: ask anyone above the floor. At the floor but below the ceiling: ask anyone above the
  // ceiling — without this, 4 / 2 / 2 of 8 shards would stand for ever (nobody below the floor asks).
  const above = mine.length < fairMin ? fairMin : mine.length < fairMax ? fairMax : undefined;
  if (above !== undefined && reachable.length === 0 && !asking && countMismatch === undefined) {
    let busiest: number[] | undefined;
    for (const theirs of counts.values()) {
      // (This replica holds at most `above` here, so it is never the busiest.)
      if (theirs.length <= above) continue;
      if (!busiest || theirs.length > busiest.length) busiest = theirs;
    }
    askFor = busiest?.find((shard) => (views[shard] as LeaseView).preferredHolder === undefined);
  }
  for (const shard of stands)
    nextChangeAt = Math.min(nextChangeAt, (views[shard] as LeaseView).preferenceSince + leaseDurationMs);
  return {
    live,
    fairMin,
    fairMax,
    mine,
    holdOffUntil,
    giveAway,
    askFor,
    withdraw,
    nextChangeAt,
    countMismatch,
  };
}
