import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { backoffMs, LogThrottle } from './backoff.ts';
import type { Clock, Timer } from './clock.ts';
import type { Config } from './config.ts';
import { type ElectorHooks, noHooks } from './elector-hooks.ts';
import { KubernetesApiError, LeaseholdError } from './errors.ts';
import type { LeaseApi } from './lease/api.ts';
import { formatMicroTime } from './lease/micro-time.ts';
import {
  compareResourceVersions,
  type LeaseRecord,
  type RawLease,
  readRecord,
  sameRecord,
  withSpec,
} from './lease/record.ts';
import { LeaseWatcher } from './lease/watcher.ts';

export type ElectorConfig = Pick<
  Config,
  | 'leaseName'
  | 'namespace'
  | 'identity'
  | 'leaseDurationSeconds'
  | 'renewDeadlineSeconds'
  | 'retryPeriodSeconds'
  | 'safetyMarginSeconds'
>;

export type Role = 'starting' | 'follower' | 'leader' | 'paused' | 'stopping' | 'stopped';

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

interface Observation {
  lease: RawLease | undefined;
  record: LeaseRecord | undefined;
  /** Monotonic time the record last changed as we saw it: the base of expiry. */
  changedAt: number;
  /** Monotonic time the API last confirmed this state. */
  confirmedAt: number;
  wallObservedAt: number;
  stale: boolean;
}

interface Leadership {
  epoch: number;
  /** Monotonic time the last successful renew (or the acquire) was sent: the base of validity. */
  renewSentAt: number;
  validUntil: number;
  lastRenewWallMs: number;
}

/**
 * The election state machine, following client-go's Lease protocol (see docs/architecture.md):
 * one action at a time, a watch for instant notice, takeover scheduled for the exact expiry instant.
 */
export class Elector extends EventEmitter<{ change: [ElectionSnapshot] }> {
  readonly #config: ElectorConfig;
  readonly #api: LeaseApi;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #hooks: ElectorHooks;
  readonly #watcher: LeaseWatcher;
  readonly #errorLog: LogThrottle;
  readonly #requestTimeoutMs: number;
  readonly #validityMs: number;
  #observation: Observation | undefined;
  #leading: Leadership | undefined;
  #role: Role = 'starting';
  #version = 0;
  #maxTransitionsSeen = -1;
  #pausedUntil = 0;
  #failures = 0;
  #timer: Timer | undefined;
  #deadlineTimer: Timer | undefined;
  #running: Promise<void> | undefined;
  #rerun = false;
  #warnedStrategy = false;
  #handingOff = false;

  constructor(options: {
    config: ElectorConfig;
    api: LeaseApi;
    clock: Clock;
    logger: Logger;
    hooks?: ElectorHooks;
  }) {
    super();
    const { config } = options;
    this.#config = config;
    this.#api = options.api;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#hooks = options.hooks ?? noHooks;
    this.#errorLog = new LogThrottle(30_000, () => this.#clock.now());
    this.#requestTimeoutMs = (config.renewDeadlineSeconds * 1000) / 2;
    this.#validityMs =
      Math.min(config.renewDeadlineSeconds, config.leaseDurationSeconds - config.safetyMarginSeconds) * 1000;
    this.#watcher = new LeaseWatcher(this.#api, this.#clock, this.#log, {
      onObject: (lease) => this.#observe(lease, 'watch'),
      onDeleted: () => this.#observe(undefined, 'watch'),
      onError: (err) => this.#hooks.apiError(err),
    });
  }

  start(): void {
    this.#log.info({ identity: this.#config.identity }, 'campaigning for the lease');
    this.#watcher.start();
    this.#kick(0);
  }

  isLeader(): boolean {
    return this.#leading !== undefined && this.#clock.now() < this.#leading.validUntil;
  }

  snapshot(): ElectionSnapshot {
    const now = this.#clock.now();
    const leading = this.#leading !== undefined && now < this.#leading.validUntil ? this.#leading : undefined;
    const record = this.#observation?.record;
    return {
      role: this.#role,
      identity: this.#config.identity,
      holder: record?.holderIdentity ?? '',
      isLeader: leading !== undefined,
      epoch: leading
        ? leading.epoch
        : record && record.holderIdentity !== ''
          ? record.leaseTransitions
          : null,
      validForMs: leading ? Math.floor(leading.validUntil - now) : 0,
      leaseDurationSeconds: this.#config.leaseDurationSeconds,
      observedAt: this.#observation ? formatMicroTime(this.#observation.wallObservedAt) : null,
      known: this.#observation !== undefined,
      version: this.#version,
    };
  }

  /** Gives up leadership: demote, wait for the app, release, then stay out for `pauseMs`. */
  async resign(pauseMs: number): Promise<void> {
    if (!this.isLeader()) throw new LeaseholdError('LEASEHOLD_NOT_LEADER');
    this.#pausedUntil = this.#clock.now() + pauseMs;
    this.#demote('resigned');
    this.#setRole('paused');
    await this.#handOff();
    this.#kick(pauseMs);
  }

  /** SIGTERM: demote first (clients are told), wait for the app, release the Lease, stop. */
  async stop(): Promise<void> {
    if (this.#role === 'stopping' || this.#role === 'stopped') return;
    const wasLeader = this.#leading !== undefined;
    this.#demote('shutdown');
    this.#setRole('stopping');
    this.#timer?.cancel();
    await this.#running;
    if (wasLeader) await this.#handOff();
    await this.#watcher.stop();
    this.#setRole('stopped');
  }

  async #handOff(): Promise<void> {
    this.#handingOff = true;
    try {
      await this.#hooks.waitForAppIdle();
      await this.#running;
      await this.#release();
    } finally {
      this.#handingOff = false;
    }
  }

  // ---- scheduling: one action at a time ------------------------------------------------------------

  #kick(delayMs: number): void {
    if (this.#role === 'stopping' || this.#role === 'stopped') return;
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimeout(() => void this.#run(), Math.max(0, delayMs));
  }

  async #run(): Promise<void> {
    if (this.#running) {
      this.#rerun = true;
      return;
    }
    const running = (async () => {
      do {
        this.#rerun = false;
        try {
          await this.#step();
        } catch (err) {
          this.#onApiError(err);
        }
      } while (this.#rerun && this.#role !== 'stopping' && this.#role !== 'stopped');
    })();
    this.#running = running;
    await running;
    this.#running = undefined;
  }

  async #step(): Promise<void> {
    if (this.#role === 'stopping' || this.#role === 'stopped' || this.#handingOff) return;
    const now = this.#clock.now();
    if (this.#leading) {
      if (now >= this.#leading.validUntil) {
        this.#demote('renew-deadline');
        return this.#kick(0);
      }
      const dueIn = this.#nextRenewAt(this.#leading) - now;
      if (dueIn > 0) return this.#kick(dueIn);
      return this.#renew(this.#leading);
    }
    if (now < this.#pausedUntil) return this.#kick(this.#pausedUntil - now);
    if (this.#role === 'paused') this.#setRole('follower');

    // Re-read now and then in case the watch died silently; not at the expiry instant itself (that
    // would add a round trip to every takeover): a stale view only costs a 409 and a re-read.
    const resyncMs = this.#config.leaseDurationSeconds * 2000;
    if (!this.#observation || this.#observation.stale || now - this.#observation.confirmedAt > resyncMs) {
      this.#observe(await this.#api.get(this.#requestTimeoutMs), 'get');
    }
    const observation = this.#observation as Observation;
    const record = observation.record;
    if (!record) return this.#acquire(undefined);
    if (record.strategy) {
      if (!this.#warnedStrategy)
        this.#log.warn({ strategy: record.strategy }, 'lease uses coordinated election; not acquiring');
      this.#warnedStrategy = true;
      return this.#kick(resyncMs);
    }
    if (record.holderIdentity !== '' && record.holderIdentity !== this.#config.identity) {
      const expiresAt = observation.changedAt + this.#durationMsOf(record);
      if (now < expiresAt) return this.#kick(Math.min(expiresAt - now, resyncMs));
    }
    return this.#acquire(observation);
  }

  // ---- protocol actions -------------------------------------------------------------------------

  async #acquire(observation: Observation | undefined): Promise<void> {
    const wallMs = this.#clock.wallNow();
    const time = formatMicroTime(wallMs);
    const record = observation?.record;
    const mine = record?.holderIdentity === this.#config.identity;
    // Fencing epoch: never lower than anything seen, even if the Lease was deleted and re-created.
    const epoch = mine && record ? record.leaseTransitions : this.#maxTransitionsSeen + 1;
    const spec = {
      holderIdentity: this.#config.identity,
      leaseDurationSeconds: this.#config.leaseDurationSeconds,
      acquireTime: mine && record?.acquireTime ? record.acquireTime : time,
      renewTime: time,
      leaseTransitions: epoch,
    };
    const sentAt = this.#clock.now();
    try {
      const written = observation?.lease
        ? await this.#api.replace(withSpec(observation.lease, spec), this.#requestTimeoutMs)
        : await this.#api.create(
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.#config.leaseName, namespace: this.#config.namespace },
              spec,
            },
            this.#requestTimeoutMs,
          );
      this.#failures = 0;
      this.#becomeLeader(sentAt, wallMs, epoch, written);
    } catch (err) {
      if (this.#isConflict(err)) {
        this.#hooks.conflict();
        if (this.#observation) this.#observation.stale = true;
        return this.#kick(0);
      }
      throw err;
    }
  }

  async #renew(leading: Leadership): Promise<void> {
    const observation = this.#observation;
    if (!observation?.lease) return this.#demote('lease-deleted');
    const wallMs = this.#clock.wallNow();
    const sentAt = this.#clock.now();
    const body = withSpec(observation.lease, {
      holderIdentity: this.#config.identity,
      leaseDurationSeconds: this.#config.leaseDurationSeconds,
      renewTime: formatMicroTime(wallMs),
    });
    try {
      const written = await this.#api.replace(
        body,
        Math.min(this.#requestTimeoutMs, leading.validUntil - sentAt),
      );
      this.#hooks.renewed((this.#clock.now() - sentAt) / 1000);
      this.#failures = 0;
      this.#errorLog.reset();
      this.#observe(written, 'write');
      // An answer that arrives after the deadline (or after a demotion) does not extend anything.
      if (this.#leading === leading && this.#clock.now() < leading.validUntil) {
        leading.renewSentAt = sentAt;
        leading.validUntil = sentAt + this.#validityMs;
        leading.lastRenewWallMs = wallMs;
        this.#armDeadline(leading);
      }
      return this.#kick(0);
    } catch (err) {
      if (!this.#isConflict(err)) throw err;
      this.#hooks.conflict();
      // Someone else wrote the Lease: continue only if a fresh read still names us with our epoch.
      const fresh = await this.#api.get(this.#requestTimeoutMs);
      this.#observe(fresh, 'get');
      return this.#kick(0);
    }
  }

  async #release(): Promise<void> {
    try {
      const fresh = await this.#api.get(this.#requestTimeoutMs);
      if (!fresh || readRecord(fresh).holderIdentity !== this.#config.identity) {
        this.#log.info('lease not held by us any more; nothing to release');
        return;
      }
      const time = formatMicroTime(this.#clock.wallNow());
      const released = await this.#api.replace(
        withSpec(fresh, { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: time, renewTime: time }),
        this.#requestTimeoutMs,
      );
      this.#observe(released, 'write');
      this.#hooks.released();
      this.#log.info({ transition: 'released' }, 'lease released');
    } catch (err) {
      this.#hooks.apiError(err);
      this.#log.warn({ err }, 'could not release the lease; followers take over after it expires');
    }
  }

  // ---- state ------------------------------------------------------------------------------------

  #observe(lease: RawLease | undefined, source: 'watch' | 'get' | 'write'): void {
    const previous = this.#observation;
    const version = lease?.metadata?.resourceVersion;
    if (
      lease &&
      previous?.lease &&
      (compareResourceVersions(version, previous.lease.metadata?.resourceVersion) ?? 1) < 0
    ) {
      return; // an older state delivered late (e.g. a watch event behind our own write)
    }
    const now = this.#clock.now();
    const record = lease ? readRecord(lease) : undefined;
    const changed =
      !previous ||
      (previous.record === undefined) !== (record === undefined) ||
      (record !== undefined && previous.record !== undefined && !sameRecord(record, previous.record));
    if (record) this.#maxTransitionsSeen = Math.max(this.#maxTransitionsSeen, record.leaseTransitions);
    this.#observation = {
      lease,
      record,
      changedAt: changed || !previous ? now : previous.changedAt,
      confirmedAt: now,
      wallObservedAt: this.#clock.wallNow(),
      stale: false,
    };
    if (this.#role === 'starting') this.#setRole('follower');
    const leading = this.#leading;
    if (leading) {
      if (!record) this.#demote('lease-deleted');
      else if (record.holderIdentity !== this.#config.identity) this.#demote('lost');
      else if (record.leaseTransitions !== leading.epoch) this.#demote('epoch-changed');
      else if (record.preferredHolder && record.preferredHolder !== this.#config.identity) {
        this.#log.info(
          { preferredHolder: record.preferredHolder },
          'lease prefers another holder; resigning',
        );
        void this.resign(this.#config.leaseDurationSeconds * 1000).catch(() => {});
      }
    }
    if (changed) this.#changed();
    if (source === 'watch' && !this.#leading) this.#kick(0);
  }

  #becomeLeader(sentAt: number, wallMs: number, epoch: number, written: RawLease): void {
    const leading: Leadership = {
      epoch,
      renewSentAt: sentAt,
      validUntil: sentAt + this.#validityMs,
      lastRenewWallMs: wallMs,
    };
    this.#leading = leading;
    this.#observe(written, 'write');
    if (this.#leading !== leading) return;
    this.#setRole('leader');
    this.#armDeadline(leading);
    this.#log.info(
      { transition: 'acquired', epoch, validForMs: Math.floor(leading.validUntil - this.#clock.now()) },
      'became leader',
    );
    this.#hooks.acquired(epoch);
    this.#changed();
    this.#kick(0);
  }

  #demote(reason: string): void {
    const leading = this.#leading;
    if (!leading) return;
    this.#leading = undefined;
    this.#deadlineTimer?.cancel();
    if (this.#role === 'leader') this.#setRole('follower');
    const level = reason === 'shutdown' || reason === 'resigned' ? 'info' : 'warn';
    this.#log[level]({ transition: 'demoted', reason, epoch: leading.epoch }, 'stopped leading');
    this.#hooks.demoted(reason, leading.epoch);
    this.#changed();
  }

  #armDeadline(leading: Leadership): void {
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = this.#clock.setTimeout(() => {
      if (this.#leading === leading && this.#clock.now() >= leading.validUntil) {
        this.#demote('renew-deadline');
        this.#kick(0);
      }
    }, leading.validUntil - this.#clock.now());
  }

  /** Renew every retry period, and never twice within one wall second (client-go compares seconds). */
  #nextRenewAt(leading: Leadership): number {
    const retryMs = this.#config.retryPeriodSeconds * 1000;
    const nextSecondMs = (Math.floor(leading.lastRenewWallMs / 1000) + 1) * 1000 + 1;
    return leading.renewSentAt + Math.max(retryMs, nextSecondMs - leading.lastRenewWallMs);
  }

  #durationMsOf(record: LeaseRecord): number {
    // A missing or unusable duration is judged with our own, never as "already expired".
    return (record.leaseDurationSeconds ?? this.#config.leaseDurationSeconds) * 1000;
  }

  #setRole(role: Role): void {
    if (this.#role === role) return;
    this.#role = role;
    this.#changed();
  }

  #changed(): void {
    this.#version++;
    const snapshot = this.snapshot();
    this.#hooks.stateChanged(snapshot);
    this.emit('change', snapshot);
  }

  #isConflict(err: unknown): boolean {
    return err instanceof KubernetesApiError && err.httpStatus === 409;
  }

  #onApiError(err: unknown): void {
    this.#hooks.apiError(err);
    this.#failures++;
    if (this.#observation) this.#observation.stale = true;
    const suppressed = this.#errorLog.take();
    if (suppressed !== undefined) this.#log.warn({ err, suppressed }, 'lease API call failed; retrying');
    const retryMs = this.#config.retryPeriodSeconds * 1000;
    this.#kick(backoffMs(this.#failures, retryMs / 4, this.#leading ? retryMs / 2 : retryMs * 4));
  }
}
