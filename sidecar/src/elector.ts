import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { backoffMs, LogThrottle, retryDelayMs } from './backoff.ts';
import type { Clock, Timer } from './clock.ts';
import type { Config } from './config.ts';
import type { ElectionSnapshot, LeaseView, Role } from './election-state.ts';
import { type ElectorHooks, noHooks } from './elector-hooks.ts';
import { KubernetesApiError, LeaseholdError } from './errors.ts';
import type { LeaseApi } from './kube/lease-api.ts';
import { type LeaseStrategy, oneLeaseStrategy } from './lease/lease-strategy.ts';
import { formatMicroTime } from './lease/micro-time.ts';
import {
  afterRenew,
  type Decision,
  type DemotionReason,
  decide,
  type ElectionTimings,
  type ElectorState,
  type Leadership,
  leaderVerdict,
  type Observation,
  observe,
  releaseSpec,
  requestTimeoutMs,
  takeoverAt,
  validityMs,
} from './lease/protocol.ts';
import { type RawLease, withSpec } from './lease/record.ts';
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

export function electionTimings(config: ElectorConfig): ElectionTimings {
  return {
    leaseDurationMs: config.leaseDurationSeconds * 1000,
    renewDeadlineMs: config.renewDeadlineSeconds * 1000,
    retryPeriodMs: config.retryPeriodSeconds * 1000,
    safetyMarginMs: config.safetyMarginSeconds * 1000,
  };
}

/**
 * Runs the Lease protocol (lease/protocol.ts decides, this performs): one API call at a time, a watch for
 * instant notice, the next wake-up at the latest of every constraint. Letting the Lease go (SIGTERM,
 * resign) is demote → wait until every promise is kept → release.
 */
export class Elector extends EventEmitter<{ change: [ElectionSnapshot]; observed: [] }> {
  readonly #config: ElectorConfig;
  readonly #api: LeaseApi;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #hooks: ElectorHooks;
  readonly #watcher: LeaseWatcher;
  readonly #errorLog: LogThrottle;
  readonly #state: ElectorState;
  readonly #random: () => number;
  readonly #strategy: LeaseStrategy;
  // Stryker disable next-line StringLiteral: equivalent, #publish() sets the role before anyone reads it
  #role: Role = 'starting';
  #version = 0;
  #failures = 0;
  #timer: Timer | undefined;
  #busy: Promise<void> | undefined;
  /** Poked while the loop was finishing its last decision: decide once more. */
  // Stryker disable next-line BooleanLiteral: equivalent, every poke that starts the loop clears it first
  #pokedWhileBusy = false;
  #lettingGo: Promise<void> | undefined;
  #warnedStrategy = false;
  /** When the preference annotation last changed, as this elector saw it (monotonic ms). */
  #preferenceSince = Number.NEGATIVE_INFINITY;
  // Stryker disable next-line StringLiteral: equivalent, no snapshot key is ever empty
  #publishedKey = '';

  constructor(options: {
    config: ElectorConfig;
    api: LeaseApi;
    clock: Clock;
    logger: Logger;
    hooks?: Partial<ElectorHooks>;
    /** The jitter of retry delays (tests fix it). */
    random?: () => number;
    /** What this kind of Lease decides beyond the protocol (preference, annotations). Default: one Lease. */
    strategy?: LeaseStrategy;
  }) {
    super();
    this.#config = options.config;
    this.#api = options.api;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#hooks = { ...noHooks, ...options.hooks };
    this.#errorLog = new LogThrottle(30_000, () => this.#clock.now());
    this.#random = options.random ?? Math.random;
    this.#strategy = options.strategy ?? oneLeaseStrategy;
    this.#state = {
      identity: options.config.identity,
      leaseDurationSeconds: options.config.leaseDurationSeconds,
      timings: electionTimings(options.config),
      phase: 'campaigning',
      observation: undefined,
      leading: undefined,
      pausedUntil: Number.NEGATIVE_INFINITY,
      holdOffUntil: Number.NEGATIVE_INFINITY,
      backoffUntil: Number.NEGATIVE_INFINITY,
      maxTransitionsSeen: -1,
    };
    this.#watcher = new LeaseWatcher(this.#api, this.#clock, this.#log, {
      onObject: (lease) => this.#observe(lease),
      onDeleted: () => this.#observe(undefined),
      // Stryker disable next-line ArrowFunction: metrics only (watch failures are counted), checked in the integration suite
      onError: (err) => this.#hooks.apiError(err),
    });
  }

  start(): void {
    // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
    this.#log.info({ identity: this.#config.identity }, 'campaigning for the lease');
    this.#watcher.start();
    this.#poke();
  }

  isLeader(): boolean {
    return this.#leadingNow() !== undefined;
  }

  /** No acquisition before `until` (Infinity: until told otherwise); reads and resyncs go on. */
  holdOff(until: number): void {
    // Stryker disable next-line ConditionalExpression: equivalent, a needless poke decides the same again
    if (this.#state.holdOffUntil === until) return;
    this.#state.holdOffUntil = until;
    this.#poke();
  }

  view(): LeaseView {
    const now = this.#clock.now();
    const observation = this.#state.observation;
    const record = observation?.record;
    const leading = this.#leadingNow(now) !== undefined;
    const expiresAt = observation
      ? takeoverAt(observation, this.#config.identity, this.#state.timings.leaseDurationMs)
      : Number.NEGATIVE_INFINITY;
    return {
      holder: record?.holderIdentity ?? '',
      preferredHolder: this.#preferredIn(observation?.lease),
      expiresAt,
      changedAt: observation?.changedAt ?? Number.NEGATIVE_INFINITY,
      preferenceSince: this.#preferenceSince,
      leading,
      known: observation !== undefined,
      annotations: (observation?.lease?.metadata?.annotations ?? {}) as Record<string, string>,
    };
  }

  snapshot(): ElectionSnapshot {
    const now = this.#clock.now();
    const leading = this.#leadingNow(now);
    const observation = this.#state.observation;
    const record = observation?.record;
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
      observedAt: observation ? formatMicroTime(observation.wallObservedAt) : null,
      known: observation !== undefined,
      version: this.#version,
    };
  }

  /** Gives up leadership: demote, wait until every promise is kept, release, stay out for `pauseMs`. */
  async resign(pauseMs: number): Promise<void> {
    if (!this.isLeader()) throw new LeaseholdError('LEASEHOLD_NOT_LEADER');
    await this.#letGo('resigned', pauseMs);
  }

  /** SIGTERM: demote (clients are told), wait until every promise is kept, release the Lease, stop. */
  async stop(): Promise<void> {
    if (this.#state.phase === 'stopping' || this.#state.phase === 'stopped') return;
    const lettingGo = this.#lettingGo;
    this.#state.phase = 'stopping';
    this.#timer?.cancel();
    this.#demote('shutdown');
    this.#publish();
    await lettingGo;
    await this.#busy;
    if (this.#holdsLease()) await this.#keepPromisesThenRelease();
    await this.#watcher.stop();
    this.#state.phase = 'stopped';
    this.#publish();
  }

  // ---- the loop: decide, perform, repeat ----------------------------------------------------------

  /** Decides again now, unless a call is in flight (the loop decides again when it returns). */
  #poke(): void {
    if (this.#busy) {
      // The loop may already have decided to wait on what it knew before this poke.
      this.#pokedWhileBusy = true;
      return;
    }
    this.#pokedWhileBusy = false;
    // Busy before the loop runs a single line: an event delivered while it starts must not start another.
    let done: () => void = () => {};
    this.#busy = new Promise<void>((resolve) => {
      done = resolve;
    });
    void this.#loop().finally(() => {
      this.#busy = undefined;
      done();
      if (this.#pokedWhileBusy) this.#poke();
    });
  }

  async #loop(): Promise<void> {
    for (;;) {
      this.#timer?.cancel();
      const now = this.#clock.now();
      const decision = decide(this.#state, now, this.#clock.wallNow());
      this.#publish();
      if (decision.kind === 'wait') {
        // Stryker disable next-line ConditionalExpression: equivalent, a timer with an infinite delay never fires either
        if (Number.isFinite(decision.until))
          this.#timer = this.#clock.setTimeout(() => this.#poke(), decision.until - now);
        return;
      }
      try {
        await this.#perform(decision);
      } catch (err) {
        this.#onApiError(err);
      }
    }
  }

  async #perform(decision: Exclude<Decision, { kind: 'wait' }>): Promise<void> {
    switch (decision.kind) {
      case 'demote':
        this.#demote(decision.reason);
        return;
      case 'read':
        this.#observe(await this.#api.get(decision.timeoutMs));
        this.#succeeded();
        return;
      case 'acquire':
        return this.#acquire(decision);
      case 'renew':
        return this.#renew(decision);
    }
  }

  async #acquire(decision: Extract<Decision, { kind: 'acquire' }>): Promise<void> {
    const wallMs = this.#clock.wallNow();
    const sentAt = this.#clock.now();
    const written = await this.#write(decision.create, decision.spec, decision.timeoutMs, true);
    if (!written) return;
    this.#succeeded();
    const now = this.#clock.now();
    const validUntil = sentAt + validityMs(this.#state.timings);
    if (now < validUntil && this.#state.phase === 'campaigning') {
      const leading: Leadership = {
        epoch: decision.epoch,
        renewSentAt: sentAt,
        validUntil,
        lastRenewWallMs: wallMs,
      };
      this.#state.leading = leading;
      // Stryker disable ObjectLiteral,StringLiteral,ArithmeticOperator,CallExpression: log content
      this.#log.info(
        { transition: 'acquired', epoch: decision.epoch, validForMs: Math.floor(validUntil - now) },
        'became leader',
      );
      // Stryker restore ObjectLiteral,StringLiteral,ArithmeticOperator,CallExpression
      this.#hooks.acquired(decision.epoch);
      this.#publish();
    }
    this.#observe(written);
  }

  async #renew(decision: Extract<Decision, { kind: 'renew' }>): Promise<void> {
    const leading = this.#state.leading;
    const wallMs = this.#clock.wallNow();
    const sentAt = this.#clock.now();
    const written = await this.#write(decision.create, decision.spec, decision.timeoutMs);
    if (!written) return;
    this.#succeeded();
    this.#hooks.renewed((this.#clock.now() - sentAt) / 1000);
    // An answer that arrives after the deadline, or after a demotion, extends nothing.
    const next =
      leading && this.#state.leading === leading
        ? afterRenew(leading, sentAt, wallMs, this.#clock.now(), this.#state.timings)
        : undefined;
    if (next) this.#state.leading = next;
    this.#observe(written);
  }

  /** Creates or updates the Lease; on 409 or 404 it records what that means and returns undefined. */
  async #write(
    create: boolean,
    spec: Record<string, unknown>,
    timeoutMs: number,
    acquiring = false,
  ): Promise<RawLease | undefined> {
    const observation = this.#state.observation as Observation; // decide() writes only what it has seen
    try {
      if (create) {
        const { leaseName: name, namespace } = this.#config;
        const annotations = this.#strategy.acquiredAnnotations({});
        const lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace, ...(Object.keys(annotations).length > 0 ? { annotations } : {}) },
          spec,
        };
        return await this.#api.create(lease, timeoutMs);
      }
      const lease = withSpec(observation.lease as RawLease, spec);
      return await this.#api.replace(acquiring ? this.#settled(lease) : lease, timeoutMs);
    } catch (err) {
      const status = err instanceof KubernetesApiError ? err.httpStatus : undefined;
      if (status === 409) {
        // Someone else wrote first: read again before deciding anything.
        this.#hooks.conflict();
        this.#succeeded();
        observation.stale = true;
        return undefined;
      }
      if (status === 404 && !create) {
        this.#succeeded();
        this.#observe(undefined);
        return undefined;
      }
      throw err;
    }
  }

  /** The Lease an acquisition writes: its annotations as the strategy has them. */
  #settled(lease: RawLease): RawLease {
    const annotations = (lease.metadata?.annotations ?? {}) as Record<string, string>;
    const next = this.#strategy.acquiredAnnotations(annotations);
    if (Object.keys(next).length === 0 && lease.metadata?.annotations === undefined) return lease;
    return { ...lease, metadata: { ...lease.metadata, annotations: next } };
  }

  // ---- letting go ---------------------------------------------------------------------------------

  async #letGo(reason: 'resigned' | 'preferred-holder', pauseMs: number): Promise<void> {
    if (this.#lettingGo) return this.#lettingGo;
    this.#state.phase = 'handing-off';
    this.#timer?.cancel();
    this.#demote(reason);
    this.#publish();
    this.#lettingGo = (async () => {
      await this.#busy;
      // Stryker disable next-line ConditionalExpression: equivalent, #release checks again (a resigner holds it)
      if (this.#holdsLease()) await this.#keepPromisesThenRelease();
      // The pause counts from the release, and the elector decides again only once it is over.
      this.#state.pausedUntil = this.#clock.now() + pauseMs;
      if (this.#state.phase === 'handing-off') this.#state.phase = 'campaigning';
      this.#publish();
      this.#poke();
    })().finally(() => {
      this.#lettingGo = undefined;
    });
    return this.#lettingGo;
  }

  #preferredIn(lease: RawLease | undefined): string | undefined {
    return this.#strategy.preferredIn(lease);
  }

  #holdsLease(): boolean {
    return this.#state.observation?.record?.holderIdentity === this.#config.identity;
  }

  async #keepPromisesThenRelease(): Promise<void> {
    const started = this.#clock.now();
    await this.#hooks.promisesKept();
    const waitedMs = this.#clock.now() - started;
    this.#hooks.promisesWaited(waitedMs / 1000);
    // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
    if (waitedMs >= 1) this.#log.info({ waitedMs: Math.round(waitedMs) }, 'promises kept; releasing');
    await this.#release();
  }

  /** Writes the release over the Lease as we saw it; the precondition makes it ours or nothing. */
  async #release(): Promise<void> {
    const timeoutMs = requestTimeoutMs(this.#state.timings);
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const lease = this.#state.observation?.lease;
        if (!lease || !this.#holdsLease()) {
          // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
          this.#log.info('lease not held by us any more; nothing to release');
          return;
        }
        try {
          const spec = releaseSpec(this.#clock.wallNow());
          this.#observe(await this.#api.replace(withSpec(lease, spec), timeoutMs));
          this.#hooks.released();
          // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
          this.#log.info({ transition: 'released' }, 'lease released');
          return;
        } catch (err) {
          if (!(err instanceof KubernetesApiError && err.httpStatus === 409)) throw err;
          this.#hooks.conflict();
          this.#observe(await this.#api.get(timeoutMs));
        }
      }
    } catch (err) {
      this.#hooks.apiError(err);
      // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
      this.#log.warn({ err }, 'could not release the lease; followers take over after it expires');
    }
  }

  // ---- state ------------------------------------------------------------------------------------

  /** Leadership exists only while campaigning: every way out of it demotes first. */
  #leadingNow(now = this.#clock.now()): Leadership | undefined {
    const leading = this.#state.leading;
    return leading && now < leading.validUntil ? leading : undefined;
  }

  #observe(lease: RawLease | undefined): void {
    const previous = this.#state.observation;
    const now = this.#clock.now();
    const observed = observe(
      previous,
      lease,
      now,
      this.#clock.wallNow(),
      this.#state.timings.leaseDurationMs,
    );
    if (!observed) return; // an older state delivered late (a watch event behind our own write)
    const next = observed.observation;
    const preferenceChanged = this.#preferredIn(previous?.lease) !== this.#preferredIn(next.lease);
    if (preferenceChanged) this.#preferenceSince = now;
    this.#state.observation = next;
    const record = next.record;
    if (record)
      this.#state.maxTransitionsSeen = Math.max(this.#state.maxTransitionsSeen, record.leaseTransitions);
    if (record?.strategy && !this.#warnedStrategy) {
      this.#warnedStrategy = true;
      // Stryker disable next-line ObjectLiteral: log fields
      this.#log.warn({ strategy: record.strategy }, 'lease uses coordinated election; not acquiring');
    }
    const leading = this.#state.leading;
    const verdict = leading ? leaderVerdict(leading, next, this.#config.identity) : undefined;
    if (verdict === 'preferred-holder' && this.#strategy.yieldsToPreferred) {
      // Stryker disable next-line StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression: log output, not behaviour
      this.#log.info({ preferredHolder: record?.preferredHolder }, 'lease prefers another holder; resigning');
      void this.#letGo('preferred-holder', this.#state.timings.leaseDurationMs);
    } else if (verdict && verdict !== 'preferred-holder') this.#demote(verdict);
    this.#publish();
    if (observed.changed || preferenceChanged) this.emit('observed');
    this.#poke();
  }

  #demote(reason: DemotionReason): void {
    const leading = this.#state.leading;
    if (!leading) return;
    this.#state.leading = undefined;
    // Stryker disable next-line all: the log level of a demotion
    const planned = reason === 'shutdown' || reason === 'resigned' || reason === 'preferred-holder';
    // Stryker disable StringLiteral,ObjectLiteral,ConditionalExpression,CallExpression: log output
    this.#log[planned ? 'info' : 'warn'](
      { transition: 'demoted', reason, epoch: leading.epoch },
      'stopped leading',
    );
    // Stryker restore StringLiteral,ObjectLiteral,ConditionalExpression,CallExpression
    this.#hooks.demoted(reason, leading.epoch);
    this.#publish();
  }

  #roleNow(): Role {
    const { phase, observation, leading, pausedUntil } = this.#state;
    if (phase === 'stopped') return 'stopped';
    if (phase === 'stopping') return 'stopping';
    if (phase === 'handing-off') return 'releasing';
    if (!observation) return 'starting';
    if (leading) return 'leader';
    if (pausedUntil > this.#clock.now()) return 'paused';
    return 'follower';
  }

  /** Tells listeners when holder, leadership, epoch or role changed; `version` counts those changes. */
  #publish(): void {
    this.#role = this.#roleNow();
    const { role, holder, isLeader, epoch } = this.snapshot();
    const key = `${role}|${holder}|${isLeader}|${epoch}`;
    if (key === this.#publishedKey) return;
    this.#publishedKey = key;
    this.#version++;
    const snapshot = this.snapshot();
    this.#hooks.stateChanged(snapshot);
    this.emit('change', snapshot);
  }

  #succeeded(): void {
    this.#failures = 0;
    this.#errorLog.reset();
  }

  #onApiError(err: unknown): void {
    this.#hooks.apiError(err);
    this.#failures++;
    const leading = this.#state.leading !== undefined;
    // A follower reads again before deciding; a leader retries its renewal as it is (a 409 tells it if
    // someone wrote meanwhile), soon enough to renew within the validity an outage leaves it.
    if (!leading && this.#state.observation) this.#state.observation.stale = true;
    const retryMs = this.#state.timings.retryPeriodMs;
    const backoff = leading
      ? backoffMs(this.#failures, Math.min(retryMs / 8, 100), Math.min(retryMs / 4, 250), this.#random)
      : backoffMs(this.#failures, retryMs / 4, retryMs * 4, this.#random);
    // A Retry-After (API Priority and Fairness throttling us) is honoured; a leader spends at most half
    // the validity it has left on it, so it asks again before its deadline.
    const now = this.#clock.now();
    const validForMs = this.#state.leading ? this.#state.leading.validUntil - now : 0;
    const retryAfter = err instanceof KubernetesApiError ? err.retryAfterMs : undefined;
    const delayMs = retryDelayMs(backoff, retryAfter, leading ? validForMs / 2 : Number.POSITIVE_INFINITY);
    const throttled = err instanceof KubernetesApiError && err.httpStatus === 429;
    if (throttled) this.#hooks.throttled(delayMs / 1000);
    const suppressed = this.#errorLog.take();
    // Stryker disable StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression,BlockStatement: log output, not behaviour
    if (suppressed !== undefined) {
      const context = { err, suppressed, retryAfterMs: retryAfter, delayMs: Math.round(delayMs) };
      if (throttled)
        this.#log.warn(
          { ...context, validForMs: Math.max(0, Math.floor(validForMs)) },
          'the apiserver throttled a Lease request (429); retrying within the validity left',
        );
      else this.#log.warn(context, 'lease API call failed; retrying');
    }
    // Stryker restore StringLiteral,ObjectLiteral,ConditionalExpression,EqualityOperator,OptionalChaining,ArithmeticOperator,CallExpression,BlockStatement
    this.#state.backoffUntil = now + delayMs;
  }
}
