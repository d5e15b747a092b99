import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { Elector, type ElectorConfig, electionTimings } from '../elector.ts';
import { combineHooks, type ElectorHooks } from '../elector-hooks.ts';
import type { HealthProblem, HealthSource } from '../health-source.ts';
import type { LeaseApi } from '../kube/lease-api.ts';
import { writeAnnotationIf } from '../lease/annotation-write.ts';
import { requestTimeoutMs } from '../lease/protocol.ts';
import { PromiseLedger } from '../promise-ledger.ts';
import { type BalancePlan, planBalance } from './balance.ts';
import { preferredHolderAnnotation, shardLeaseStrategy } from './shard-strategy.ts';

export interface Shard {
  index: number;
  /** `<LEASE_NAME>-<index>`. */
  leaseName: string;
  elector: Elector;
  /** The promises made about this shard; it is released only once they are kept. */
  ledger: PromiseLedger;
}

export interface ShardSetOptions {
  config: ElectorConfig & { shards: number };
  /** The API for one shard's Lease. */
  apiFor(leaseName: string): LeaseApi;
  clock: Clock;
  logger: Logger;
  /** Hooks for one shard's elector (metrics, Events, API errors), besides the set's own. */
  hooksFor?(index: number, leaseName: string): Partial<ElectorHooks>;
}

/**
 * N shard Leases, each run by its own Elector (the single-Lease protocol, unchanged), and the balancing
 * that decides which of them this replica reaches for, gives away or asks for (balance.ts). Decides again
 * on every change any shard's watch brings and when the plan's next change is due.
 */
export class ShardSet extends EventEmitter<{ change: [] }> {
  readonly shards: readonly Shard[];
  readonly #config: ShardSetOptions['config'];
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #apis: LeaseApi[];
  #plan: BalancePlan | undefined;
  #scheduled = false;
  #timer: { cancel(): void } | undefined;
  #givingAway: Promise<void> | undefined;
  #asking: Promise<unknown> | undefined;
  #lastAskAt = Number.NEGATIVE_INFINITY;
  #stopped = false;
  #version = 0;

  constructor(options: ShardSetOptions) {
    super();
    this.#config = options.config;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#apis = [];
    const shards: Shard[] = [];
    const strategy = shardLeaseStrategy(options.config.shards);
    for (let index = 0; index < options.config.shards; index++) {
      const leaseName = `${options.config.leaseName}-${index}`;
      const api = options.apiFor(leaseName);
      this.#apis.push(api);
      const ledger = new PromiseLedger(options.clock);
      const elector = new Elector({
        config: { ...options.config, leaseName },
        api,
        clock: options.clock,
        // Stryker disable next-line ObjectLiteral: log fields
        logger: options.logger.child({ shard: index }),
        hooks: combineHooks(options.hooksFor?.(index, leaseName) ?? {}, {
          promisesKept: () => ledger.allKept(),
        }),
        strategy,
      });
      elector.on('observed', () => this.#rebalanceSoon());
      elector.on('change', () => {
        this.#version++;
        this.emit('change');
        this.#rebalanceSoon();
      });
      shards.push({ index, leaseName, elector, ledger });
    }
    this.shards = shards;
  }

  start(): void {
    // Nothing is acquired before the first plan: every shard starts held off.
    for (const shard of this.shards) shard.elector.holdOff(Number.POSITIVE_INFINITY);
    for (const shard of this.shards) shard.elector.start();
  }

  /**
   * Stops every shard: demote, keep its promises, release; in parallel with taking back this replica's
   * requests for shards, so that the others stop counting it at once instead of for two lease durations.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    // Shards led now are released by their electors (which demote at once): not ours to write.
    const notLed = this.shards.filter((shard) => !shard.elector.view().leading);
    await Promise.all([...this.shards.map((shard) => shard.elector.stop()), this.#withdrawAll(notLed)]);
  }

  /** Takes back every request of ours still on one of `shards` (after the one on its way, if any). */
  async #withdrawAll(shards: Shard[]): Promise<void> {
    await this.#asking;
    const identity = this.#config.identity;
    const timeoutMs = requestTimeoutMs(electionTimings(this.#config));
    const ours = shards.filter((shard) => shard.elector.view().preferredHolder === identity);
    await Promise.all(
      ours.map((shard) =>
        writeAnnotationIf(
          this.#apis[shard.index] as LeaseApi,
          preferredHolderAnnotation,
          { expected: identity, value: undefined },
          timeoutMs,
        ).catch((err: unknown) => {
          // Stryker disable next-line all: log output, not behaviour (the request ages out in 2 LD)
          this.#log.info({ err, shard: shard.index }, 'could not take back a request for a shard');
        }),
      ),
    );
  }

  /** The latest plan (for /shards): live replicas and the fair share. */
  plan(): BalancePlan | undefined {
    return this.#plan;
  }

  /** Why this replica takes no shards, for /readyz; undefined when nothing stands in the way. */
  problem(): { code: string; message: string } | undefined {
    const other = this.#plan?.countMismatch;
    if (other === undefined) return undefined;
    return {
      code: 'LEASEHOLD_SHARD_COUNT_MISMATCH',
      message: `another replica holds shard Leases with ${other} shards, this one has ${this.shards.length}; waiting until they are released or expire`,
    };
  }

  /** This replica's identity (the same on every shard Lease). */
  get identity(): string {
    return this.#config.identity;
  }

  /** Changes of any shard's holder, ownership, epoch or role; keys /shards/watch. */
  get version(): number {
    return this.#version;
  }

  /**
   * /healthz and /readyz for the shard Leases: ready once every shard has been read and no other shard
   * count stands in the way; stuck when a shard's term is still claimed past its deadline.
   */
  health(lastApiError: () => HealthProblem | undefined): HealthSource {
    return {
      ready: () =>
        this.#plan?.countMismatch === undefined && this.shards.every((s) => s.elector.snapshot().known),
      stuck: () => {
        const stuck = this.shards.find((s) => {
          const snapshot = s.elector.snapshot();
          return snapshot.role === 'leader' && !snapshot.isLeader;
        });
        return stuck ? `shard ${stuck.index} past its renew deadline` : undefined;
      },
      problem: () => this.problem() ?? lastApiError(),
    };
  }

  /** Whether this replica owns any shard now (for the app health tie). */
  isLeader(): boolean {
    return this.shards.some((s) => s.elector.isLeader());
  }

  /** Hands every owned shard over and stays out of each for `pauseMs` (an unhealthy app, say). */
  async resign(pauseMs: number): Promise<void> {
    await Promise.all(this.shards.filter((s) => s.elector.isLeader()).map((s) => s.elector.resign(pauseMs)));
  }

  #rebalanceSoon(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#rebalance();
    });
  }

  #rebalance(): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const views = this.shards.map((shard) => shard.elector.view());
    const plan = planBalance(views, this.#config.identity, now, this.#config.leaseDurationSeconds * 1000);
    const before = this.#plan;
    this.#plan = plan;
    // Stryker disable all: log output, not behaviour
    if (before?.mine.length !== plan.mine.length || before?.live.length !== plan.live.length) {
      this.#log.info(
        { shards: plan.mine, live: plan.live.length, fairMin: plan.fairMin, fairMax: plan.fairMax },
        'shard share',
      );
    }
    // Stryker restore all
    for (const shard of this.shards) shard.elector.holdOff(plan.holdOffUntil[shard.index] as number);
    if (plan.countMismatch !== undefined) this.#standDown(plan, before);
    if (plan.giveAway !== undefined && !this.#givingAway) this.#giveAway(plan.giveAway);
    // Decide again at the plan's next change (an expiry, a preference running out), or when another ask
    // is allowed: at most one per retry period.
    let next = plan.nextChangeAt;
    // One request write at a time, at most one per retry period: withdrawing a request that no longer
    // stands first, then asking.
    const request =
      plan.withdraw !== undefined
        ? { shard: plan.withdraw, withdraw: true }
        : plan.askFor !== undefined
          ? { shard: plan.askFor, withdraw: false }
          : undefined;
    if (request && !this.#asking) {
      const askAt = this.#lastAskAt + this.#config.retryPeriodSeconds * 1000;
      if (now >= askAt) this.#ask(request.shard, request.withdraw);
      else next = Math.min(next, askAt);
    }
    this.#timer?.cancel();
    if (next !== Number.POSITIVE_INFINITY) {
      this.#timer = this.#clock.setTimeout(() => this.#rebalance(), Math.max(0, next - now));
    }
  }

  /**
   * Two shard counts at once map keys to shards differently, so two replicas could act on one key: this
   * one stops acting on all its shards and releases them (a pause of one lease duration), and takes none
   * while the other count holds any.
   */
  #standDown(plan: BalancePlan, before: BalancePlan | undefined): void {
    // Stryker disable all: log output (once per mismatch), not behaviour
    if (before?.countMismatch === undefined) {
      this.#log.error(
        { code: 'LEASEHOLD_SHARD_COUNT_MISMATCH', other: plan.countMismatch, shards: this.shards.length },
        'another replica holds shard Leases of another shard count; acquiring none',
      );
    }
    // Stryker restore all
    for (const index of plan.mine) {
      const shard = this.shards[index] as Shard;
      shard.elector
        .resign(this.#config.leaseDurationSeconds * 1000)
        // Stryker disable all: log output, not behaviour
        .catch((err: unknown) => this.#log.warn({ err, shard: index }, 'could not release the shard'));
      // Stryker restore all
    }
  }

  /**
   * Hands a shard to the replica preferred on it: demote, keep its promises, release. No pause: the plan
   * leaves a released shard to the replica preferred on it for LD, and once that replica has taken it the
   * shard is held; a pause would only keep this replica from taking it back when the taker lets it go.
   */
  #giveAway(index: number): void {
    const shard = this.shards[index] as Shard;
    // Stryker disable next-line all: log output, not behaviour
    this.#log.info({ shard: index, to: shard.elector.view().preferredHolder }, 'handing a shard over');
    this.#givingAway = shard.elector
      .resign(0)
      // Stryker disable all: log output, not behaviour
      .catch((err: unknown) => this.#log.warn({ err, shard: index }, 'could not hand the shard over'))
      // Stryker restore all
      .finally(() => {
        this.#givingAway = undefined;
        this.#rebalanceSoon();
      });
  }

  /**
   * Names this replica as preferred holder of a busier replica's shard, or (`withdraw`) takes back a
   * request of ours that no longer stands: a write over what we read, only if nobody else's request is
   * there (asking) or ours still is (withdrawing).
   */
  #ask(index: number, withdraw: boolean): void {
    this.#lastAskAt = this.#clock.now();
    const api = this.#apis[index] as LeaseApi;
    const timeoutMs = requestTimeoutMs(electionTimings(this.#config));
    const identity = this.#config.identity;
    // Stryker disable next-line all: log output, not behaviour
    this.#log.info({ shard: index }, withdraw ? 'withdrawing a request for a shard' : 'asking for a shard');
    // Asking: only where nobody's request stands. Withdrawing: only while ours still does.
    const change = withdraw
      ? { expected: identity, value: undefined }
      : { expected: undefined, value: identity };
    this.#asking = writeAnnotationIf(api, preferredHolderAnnotation, change, timeoutMs)
      // Stryker disable all: log output, not behaviour (a failed ask is retried all the same)
      .catch((err: unknown) =>
        this.#log.info({ err, shard: index }, 'asking for a shard failed; will ask again'),
      )
      // Stryker restore all
      .finally(() => {
        this.#asking = undefined;
        this.#rebalanceSoon();
      });
  }
}
