/**
 * The Lease protocol as pure functions: what a candidate does next, given what it has observed and the
 * time. No I/O, no timers — the Elector (elector.ts) performs what `decide` returns. Every rule here is
 * a table row in test/protocol.test.ts, in the style of client-go's tryAcquireOrRenew cases.
 */
import { formatMicroTime } from './micro-time.ts';
import {
  compareResourceVersions,
  type LeaseRecord,
  type RawLease,
  readRecord,
  sameRecord,
} from './record.ts';

export interface ElectionTimings {
  /** LD: followers take over this long after they last saw the record change. */
  leaseDurationMs: number;
  /** RD: a leader may act at most this long after it sent its last successful renewal. */
  renewDeadlineMs: number;
  /** RP: interval between renewals. */
  retryPeriodMs: number;
  /** The leader stops acting this long before followers may take over. */
  safetyMarginMs: number;
}

export interface Observation {
  /** The Lease as last read; undefined when it does not exist. */
  lease: RawLease | undefined;
  record: LeaseRecord | undefined;
  /** Monotonic time we saw the record change (or appear, or disappear): the base of expiry. */
  changedAt: number;
  /** Monotonic time the API last confirmed this state (a read, a write, a watch event). */
  confirmedAt: number;
  wallObservedAt: number;
  /** A write was refused (409) or the API failed: read again before trusting it. */
  stale: boolean;
  /**
   * Set when a held Lease was deleted, or its holder emptied by something other than a release: the old
   * holder may still be acting, so the Lease counts as held by it until `changedAt + durationMs`.
   */
  vanished: { holder: string; durationMs: number } | undefined;
}

export interface Leadership {
  epoch: number;
  /** Monotonic time the request that last proved leadership (acquire or renewal) was sent. */
  renewSentAt: number;
  /** renewSentAt + validity: the leader may act until here, and not a moment longer. */
  validUntil: number;
  /** Wall time written as renewTime by the last successful write. */
  lastRenewWallMs: number;
}

export type Phase = 'campaigning' | 'handing-off' | 'stopping' | 'stopped';

export interface ElectorState {
  identity: string;
  leaseDurationSeconds: number;
  timings: ElectionTimings;
  phase: Phase;
  observation: Observation | undefined;
  leading: Leadership | undefined;
  /** No campaigning before this (after a resign). */
  pausedUntil: number;
  /**
   * No acquisition before this, though reads and resyncs go on (sharding: a replica at its fair share,
   * or a released shard another replica is preferred for). Infinity: not until told otherwise.
   */
  holdOffUntil: number;
  /** No API call before this (after an error). */
  backoffUntil: number;
  /** The highest leaseTransitions ever seen: a new holder's epoch is above it. */
  maxTransitionsSeen: number;
}

export type DemotionReason =
  | 'renew-deadline'
  | 'lost'
  | 'epoch-changed'
  | 'preferred-holder'
  | 'resigned'
  | 'shutdown';

export type Decision =
  | { kind: 'wait'; until: number }
  | { kind: 'demote'; reason: 'renew-deadline' }
  | { kind: 'read'; timeoutMs: number }
  /** Write the Lease as holder: create it (no Lease) or update it over `observation.lease`. */
  | { kind: 'acquire'; create: boolean; spec: Record<string, unknown>; epoch: number; timeoutMs: number }
  /** The leader proves it is alive; `create` when its Lease was deleted under it. */
  | { kind: 'renew'; create: boolean; spec: Record<string, unknown>; timeoutMs: number };

/** How long the leader may act after sending a successful renewal: min(RD, LD − margin). */
export function validityMs(t: ElectionTimings): number {
  return Math.min(t.renewDeadlineMs, t.leaseDurationMs - t.safetyMarginMs);
}

/** Every API call's timeout: RD / 2, a whole number of milliseconds. */
export function requestTimeoutMs(t: ElectionTimings): number {
  return Math.max(1, Math.floor(t.renewDeadlineMs / 2));
}

/**
 * A follower re-reads the Lease when nothing has confirmed its view for 2 × LD, in case the watch died
 * silently. Not at LD: the expiry instant would then always cost a read before the takeover write.
 */
export function resyncMs(t: ElectionTimings): number {
  return 2 * t.leaseDurationMs;
}

/** A record's duration in ms; a missing or unusable one is judged with our own, never as expired. */
export function durationMsOf(record: LeaseRecord | undefined, ownDurationMs: number): number {
  return record?.leaseDurationSeconds === undefined ? ownDurationMs : record.leaseDurationSeconds * 1000;
}

/** A release as client-go and Leasehold write it: no holder, duration 1. */
export function isReleaseShaped(record: LeaseRecord): boolean {
  return record.holderIdentity === '' && record.leaseDurationSeconds === 1;
}

/**
 * Folds a read, a write answer or a watch event into the observation. Returns undefined for a state older
 * than the one already seen (a watch event delivered behind our own write): it must not undo it.
 */
export function observe(
  previous: Observation | undefined,
  lease: RawLease | undefined,
  now: number,
  wallNow: number,
  ownDurationMs: number,
): { observation: Observation; changed: boolean } | undefined {
  const older =
    lease !== undefined &&
    previous?.lease !== undefined &&
    (compareResourceVersions(lease.metadata?.resourceVersion, previous.lease.metadata?.resourceVersion) ??
      0) < 0;
  if (older) return undefined;
  const record = lease ? readRecord(lease) : undefined;
  const changed = previous === undefined || !sameObserved(previous.record, record);
  const observation: Observation = {
    lease,
    record,
    changedAt: changed ? now : previous.changedAt,
    confirmedAt: now,
    wallObservedAt: wallNow,
    stale: false,
    vanished: changed ? vanishedHolder(previous?.record, record, ownDurationMs) : previous.vanished,
  };
  return { observation, changed };
}

/** Both absent, or both present with the same record. */
function sameObserved(a: LeaseRecord | undefined, b: LeaseRecord | undefined): boolean {
  return a === undefined || b === undefined ? a === b : sameRecord(a, b);
}

function vanishedHolder(
  before: LeaseRecord | undefined,
  after: LeaseRecord | undefined,
  ownDurationMs: number,
): Observation['vanished'] {
  if (!before || before.holderIdentity === '') return undefined;
  if (after && (after.holderIdentity !== '' || isReleaseShaped(after))) return undefined;
  return { holder: before.holderIdentity, durationMs: durationMsOf(before, ownDurationMs) };
}

/**
 * When a follower may write the Lease as its own: -Infinity = now, Infinity = never (coordinated election
 * leaves the choice to the apiserver). A held Lease expires LD after we saw it change, whatever its
 * timestamps say; a vanished one as if its holder still held it.
 */
export function takeoverAt(observation: Observation, identity: string, ownDurationMs: number): number {
  const record = observation.record;
  const vanished = observation.vanished ? observation.changedAt + observation.vanished.durationMs : -Infinity;
  if (!record) return vanished;
  if (record.strategy) return Number.POSITIVE_INFINITY;
  if (record.holderIdentity === identity) return Number.NEGATIVE_INFINITY;
  if (record.holderIdentity === '') return vanished;
  return observation.changedAt + durationMsOf(record, ownDurationMs);
}

/** What an observation means for the current leader; undefined = it keeps leading. */
export function leaderVerdict(
  leading: Leadership,
  observation: Observation,
  identity: string,
): 'lost' | 'epoch-changed' | 'preferred-holder' | undefined {
  const record = observation.record;
  if (!record) return undefined; // deleted under us: the leader writes it again (decide)
  if (record.holderIdentity !== identity) return 'lost';
  if (record.leaseTransitions !== leading.epoch) return 'epoch-changed';
  if (record.preferredHolder && record.preferredHolder !== identity) return 'preferred-holder';
  return undefined;
}

/**
 * When the leader's next renewal is due: a retry period after the last one was sent, and never in the
 * same wall second as the last renewTime — client-go compares records at second resolution, so two
 * renewals within one second would look like none to its followers.
 */
export function renewDueAt(leading: Leadership, t: ElectionTimings, now: number, wallNow: number): number {
  const nextWallSecond = (Math.floor(leading.lastRenewWallMs / 1000) + 1) * 1000;
  return Math.max(leading.renewSentAt + t.retryPeriodMs, now + Math.max(0, nextWallSecond - wallNow));
}

/** A renewal's timeout: the request timeout, cut to the validity left (an answer after it extends nothing). */
export function renewTimeoutMs(leading: Leadership, t: ElectionTimings, now: number): number {
  return Math.max(1, Math.floor(Math.min(requestTimeoutMs(t), leading.validUntil - now)));
}

/** The leadership a successful renewal proves; undefined when its answer came too late to extend anything. */
export function afterRenew(
  leading: Leadership,
  sentAt: number,
  wallMs: number,
  now: number,
  t: ElectionTimings,
): Leadership | undefined {
  if (now >= leading.validUntil) return undefined;
  return { ...leading, renewSentAt: sentAt, validUntil: sentAt + validityMs(t), lastRenewWallMs: wallMs };
}

export function acquireSpec(
  state: ElectorState,
  wallMs: number,
): { spec: Record<string, unknown>; epoch: number } {
  const record = state.observation?.record;
  const time = formatMicroTime(wallMs);
  const own = record?.holderIdentity === state.identity ? record : undefined;
  // The fencing epoch never goes down, even when the Lease was deleted and created again.
  const epoch = own ? own.leaseTransitions : state.maxTransitionsSeen + 1;
  const spec: Record<string, unknown> = {
    holderIdentity: state.identity,
    leaseDurationSeconds: state.leaseDurationSeconds,
    acquireTime: own?.acquireTime ?? time,
    renewTime: time,
    leaseTransitions: epoch,
  };
  // A preference is settled by an acquisition (ours, or after the preferred replica let it pass), as
  // client-go's write of a whole spec settles it: left in place it would send us away again.
  if (record?.preferredHolder) spec.preferredHolder = undefined;
  return { epoch, spec };
}

export function renewSpec(state: ElectorState, wallMs: number): Record<string, unknown> {
  return {
    holderIdentity: state.identity,
    leaseDurationSeconds: state.leaseDurationSeconds,
    renewTime: formatMicroTime(wallMs),
  };
}

/** The leader writes its deleted Lease again: same holder, same epoch, so its term goes on. */
export function recreateSpec(
  state: ElectorState,
  leading: Leadership,
  wallMs: number,
): Record<string, unknown> {
  const time = formatMicroTime(wallMs);
  return {
    holderIdentity: state.identity,
    leaseDurationSeconds: state.leaseDurationSeconds,
    acquireTime: time,
    renewTime: time,
    leaseTransitions: leading.epoch,
  };
}

/** Release: no holder, duration 1 (0 is invalid), times now, transitions kept. */
export function releaseSpec(wallMs: number): Record<string, unknown> {
  const time = formatMicroTime(wallMs);
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: time, renewTime: time };
}

const wait = (until: number): Decision => ({ kind: 'wait', until });

/**
 * The next step. A wait's `until` is the latest of every constraint that applies (pause, backoff,
 * expiry, the renewal cadence) — never just the last event that woke the elector.
 */
export function decide(state: ElectorState, now: number, wallNow: number): Decision {
  if (state.phase !== 'campaigning') return wait(Number.POSITIVE_INFINITY);
  const t = state.timings;
  const observation = state.observation;
  const leading = state.leading;
  if (leading) {
    if (now >= leading.validUntil) return { kind: 'demote', reason: 'renew-deadline' };
    const notBefore = Math.max(state.backoffUntil, now);
    if (observation?.stale !== false) {
      if (now < notBefore) return wait(Math.min(notBefore, leading.validUntil));
      return { kind: 'read', timeoutMs: renewTimeoutMs(leading, t, now) };
    }
    const due = Math.max(renewDueAt(leading, t, now, wallNow), state.backoffUntil);
    if (now < due) return wait(Math.min(due, leading.validUntil));
    const timeoutMs = renewTimeoutMs(leading, t, now);
    if (observation.lease === undefined)
      return { kind: 'renew', create: true, spec: recreateSpec(state, leading, wallNow), timeoutMs };
    return { kind: 'renew', create: false, spec: renewSpec(state, wallNow), timeoutMs };
  }

  const notBefore = Math.max(state.pausedUntil, state.backoffUntil);
  if (now < notBefore) return wait(notBefore);
  if (!observation || observation.stale || now - observation.confirmedAt >= resyncMs(t)) {
    return { kind: 'read', timeoutMs: requestTimeoutMs(t) };
  }
  const resyncAt = observation.confirmedAt + resyncMs(t);
  const at = Math.max(takeoverAt(observation, state.identity, t.leaseDurationMs), state.holdOffUntil);
  if (now < at) return wait(Math.min(at, resyncAt));
  const { spec, epoch } = acquireSpec(state, wallNow);
  return {
    kind: 'acquire',
    create: observation.lease === undefined,
    spec,
    epoch,
    timeoutMs: requestTimeoutMs(t),
  };
}
