import { EventEmitter } from 'node:events';
import { termEnd } from './answer-rules.ts';
import { type ShardAnswer, SidecarClient } from './client.ts';
import { type GateClock, type GateTimer, systemClock } from './clock.ts';
import { GateError } from './errors.ts';
import { checkShardCount, maxShards, shardOf } from './shards.ts';
import { runTerms, type TermContext, type TermSource, waitForTerm } from './term-loop.ts';

export interface ShardGateOptions {
  /** The sidecar. Default: $LEASEHOLD_URL, else http://127.0.0.1:4040. */
  url?: string;
  /**
   * The shard count the app was built for (the sidecar's SHARDS). When given, a sidecar with another
   * count is reported to onError and no shard is owned until they agree. Default: the sidecar's count.
   */
  shards?: number;
  /** The longest wait between two asks. Default 500 ms; while a shard is owned, half its validity at most. */
  pollIntervalMs?: number;
  /** Timeout of each request to the sidecar. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Called with errors the gate recovers from (sidecar unreachable, count mismatch). */
  onError?: (err: unknown) => void;
  /** The monotonic clock deadlines are judged on. Default: this.#clock.now() and Node's timers. */
  clock?: GateClock;
}

/** A shard's term: its signal, epoch (stamp it on every write of the shard's objects) and deadline. */
export interface ShardContext extends TermContext {
  shard: number;
}

export interface ShardState {
  shard: number;
  /** This replica owns the shard now (its deadline on the local monotonic clock has not passed). */
  isOwned: boolean;
  epoch: number | null;
  holder: string;
  /** Milliseconds of ownership left (0 unless mine). */
  validForMs: number;
}

/**
 * Gates per-shard work on a sharded Leasehold sidecar (SHARDS set), failing closed: a shard is owned
 * until (monotonic time the request was sent + that shard's validForMs), as the sidecar promised. It asks
 * GET /shards, one request at a time (so answers never overtake each other), every `pollIntervalMs`, and
 * while it owns a shard whenever half of that shard's validity is left.
 */
export class ShardGate extends EventEmitter<{ change: [ShardState[]] }> {
  readonly #client: SidecarClient;
  readonly #expected: number | undefined;
  readonly #pollIntervalMs: number;
  readonly #onError: (err: unknown) => void;
  #answers: ShardAnswer[] = [];
  // Stryker disable next-line ArrayDeclaration: equivalent, a deadline that is not a number is never ahead
  #deadlines: number[] = [];
  /** The latest deadline granted per shard, kept after a loss to say when ownership ended. */
  // Stryker disable next-line ArrayDeclaration: equivalent, every shard's entry is set before it is read
  #ownedUntil: number[] = [];
  #timers: (GateTimer | undefined)[] = [];
  readonly #clock: GateClock;
  #count: number | undefined;
  #closed = false;
  #pollTimer: GateTimer | undefined;
  /** The ask on its way, if any: close() lets it land. */
  #asking: Promise<void> | undefined;

  constructor(options: ShardGateOptions = {}) {
    super();
    const url = options.url ?? process.env.LEASEHOLD_URL ?? 'http://127.0.0.1:4040';
    if (!URL.canParse(url)) throw new GateError('LEASEHOLD_GATE_INVALID_OPTION', `url "${url}" is not a URL`);
    for (const key of ['pollIntervalMs', 'requestTimeoutMs'] as const) {
      const value = options[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new GateError(
          'LEASEHOLD_GATE_INVALID_OPTION',
          `${key} must be a positive number, got ${value}`,
        );
      }
    }
    this.#expected = options.shards === undefined ? undefined : checkShardCount(options.shards);
    this.#client = new SidecarClient(url, Math.ceil(options.requestTimeoutMs ?? 1_000));
    this.#pollIntervalMs = Math.ceil(options.pollIntervalMs ?? 500);
    this.#onError = options.onError ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    // Stryker disable next-line CallExpression: equivalent, only Node's warning about > 10 listeners
    this.setMaxListeners(0);
    void this.#poll();
  }

  /** The shard count, once known (given, or the sidecar's). */
  get count(): number | undefined {
    return this.#expected ?? this.#count;
  }

  /** The shard of `key` (`namespace/name`); throws LEASEHOLD_GATE_INVALID_OPTION while the count is unknown. */
  shardOf(key: string): number {
    return shardOf(key, this.count ?? 0);
  }

  /** Whether this replica owns the shard of `key` (`namespace/name`) now. False while the count is unknown. */
  ownsKey(key: string): boolean {
    const count = this.count;
    return count !== undefined && this.ownsShard(shardOf(key, count));
  }

  ownsShard(shard: number): boolean {
    // Stryker disable next-line EqualityOperator: equivalent, the instant of the deadline itself
    return !this.#closed && this.#clock.now() < (this.#deadlines[shard] ?? 0);
  }

  /** The epoch of the shard as last answered (a fencing token only while ownsShard). */
  epochOf(shard: number): number | null {
    return this.#answers[shard]?.epoch ?? null;
  }

  current(): ShardState[] {
    return this.#answers.map((answer, shard) => {
      const mine = this.ownsShard(shard);
      return {
        shard,
        isOwned: mine,
        epoch: answer.epoch,
        holder: answer.holder,
        validForMs: mine ? Math.floor((this.#deadlines[shard] ?? 0) - this.#clock.now()) : 0,
      };
    });
  }

  /** Resolves with the shard's epoch once this replica owns it; rejects if `signal` aborts or the gate closes. */
  waitForShard(shard: number, signal?: AbortSignal): Promise<{ epoch: number }> {
    const epochNow = () => (this.ownsShard(shard) ? (this.epochOf(shard) ?? 0) : undefined);
    return waitForTerm(this, () => this.#closed, epochNow, signal);
  }

  /**
   * Runs `fn` while this replica owns `shard`, aborting its signal the moment it stops owning it (the
   * sidecar says so, a new epoch, the deadline passes, the gate closes); then waits to own it again.
   * Returns when `signal` aborts or the gate closes. One run per term, as runWhileLeader.
   */
  async runWhileOwning(
    shard: number,
    fn: (context: ShardContext) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    if (!(Number.isInteger(shard) && shard >= 0 && shard < maxShards))
      throw new GateError(
        'LEASEHOLD_GATE_INVALID_OPTION',
        `shard must be an integer 0…${maxShards - 1}, got ${shard}`,
      );
    const source: TermSource = {
      events: this,
      wait: async (signal) => (await this.waitForShard(shard, signal)).epoch,
      ended: (epoch, stopped) =>
        termEnd(
          { closed: this.#closed, stopped, isLeader: this.ownsShard(shard), epoch: this.epochOf(shard) },
          epoch,
        ),
      endedAt: () => Math.min(this.#clock.now(), this.#ownedUntil[shard] ?? 0),
      deadlineOf: (epoch) =>
        this.ownsShard(shard) && this.epochOf(shard) === epoch ? (this.#deadlines[shard] ?? 0) : 0,
      now: () => this.#clock.now(),
      shard,
      onError: this.#onError,
    };
    await runTerms(source, fn, (term) => ({ ...term, shard }), options.signal);
  }

  /** Owns nothing from now on; stops asking. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('change', this.current());
    this.#pollTimer?.cancel();
    // Nothing is owned any more: no deadline is left to announce.
    for (const timer of this.#timers) timer?.cancel();
    await this.#asking;
    await this.#client.close();
  }

  /** Asks once, then arms the next ask; resolves when this ask has landed and the next one is armed. */
  async #poll(): Promise<void> {
    this.#asking = this.#ask().catch((err) => this.#onError(err));
    await this.#asking;
    this.#asking = undefined;
    if (this.#closed) return;
    // A failed ask is retried on the same schedule: while a shard is owned, before half its validity is gone.
    // Kept alive: an open gate keeps the process alive (as the leader gate's stream does).
    this.#pollTimer = this.#clock.setTimeout(() => this.#poll(), this.#pollDelayMs(), { keepAlive: true });
  }

  /** While a shard is owned, ask again when half of its validity is left. */
  #pollDelayMs(): number {
    const now = this.#clock.now();
    let delay = this.#pollIntervalMs;
    for (const deadline of this.#deadlines) {
      // Stryker disable next-line EqualityOperator: equivalent, the instant of the deadline itself
      if (deadline > now) delay = Math.min(delay, Math.max(10, (deadline - now) / 2));
    }
    return delay;
  }

  async #ask(): Promise<void> {
    const sentAt = this.#clock.now();
    const answer = await this.#client.shards();
    if (this.#expected !== undefined && answer.count !== this.#expected) {
      this.#apply([], sentAt);
      throw new GateError(
        'LEASEHOLD_GATE_SHARD_COUNT_MISMATCH',
        `the sidecar has ${answer.count} shards, this gate was given ${this.#expected}`,
      );
    }
    this.#count = answer.count;
    this.#apply(answer.shards, sentAt);
  }

  #apply(answers: ShardAnswer[], sentAt: number): void {
    const before = this.#summary();
    this.#answers = answers;
    for (let shard = 0; shard < Math.max(answers.length, this.#deadlines.length); shard++) {
      const answer = answers[shard];
      // validForMs is 0 when not held: the deadline is then the send time, already past.
      this.#setDeadline(shard, answer?.isLeader ? sentAt + answer.validForMs : 0);
    }
    if (this.#summary() !== before) this.emit('change', this.current());
  }

  /** What a `change` reports: per shard, owned or not, its epoch and holder. */
  #summary(): string {
    return JSON.stringify(this.current().map((s) => [s.isOwned, s.epoch, s.holder]));
  }

  #setDeadline(shard: number, deadline: number): void {
    this.#deadlines[shard] = deadline;
    // Stryker disable next-line OptionalChaining,CallExpression: equivalent, a stale timer only announces an unchanged state
    this.#timers[shard]?.cancel();
    if (deadline > 0) {
      this.#ownedUntil[shard] = deadline;
      this.#armDeadline(shard, deadline);
    } else {
      // Stryker disable next-line MethodExpression: equivalent, endedAt() takes the minimum with now again
      this.#ownedUntil[shard] = Math.min(this.#ownedUntil[shard] ?? 0, this.#clock.now());
    }
  }

  /** Announces the deadline's passing; a timer that fired early is armed again until it has passed. */
  #armDeadline(shard: number, deadline: number): void {
    this.#timers[shard] = this.#clock.setTimeout(() => {
      if (this.#clock.now() < deadline) this.#armDeadline(shard, deadline);
      else this.emit('change', this.current());
    }, deadline - this.#clock.now());
  }
}

/** Creates a shard gate on a sharded Leasehold sidecar; see ShardGateOptions. */
export function createShardGate(options: ShardGateOptions = {}): ShardGate {
  return new ShardGate(options);
}
