import { EventEmitter } from 'node:events';
import { termEnd } from './answer-rules.ts';
import { type ShardAnswer, SidecarClient } from './client.ts';
import { LeaderGateError } from './errors.ts';
import { checkShardCount, shardOf } from './shards.ts';
import { runTerms, waitForTerm } from './term-loop.ts';

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
}

export interface ShardContext {
  /** Aborted the moment this replica stops owning the shard, its deadline passes, or the gate closes. */
  signal: AbortSignal;
  /** The fencing token of this shard's term: stamp it on every write of the shard's objects. */
  epoch: number;
  shard: number;
}

export interface ShardState {
  shard: number;
  /** This replica owns the shard now (its deadline on the local monotonic clock has not passed). */
  isMine: boolean;
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
  // Stryker disable next-line ArrayDeclaration: equivalent, clearTimeout ignores what is not a timer
  #timers: (NodeJS.Timeout | undefined)[] = [];
  #count: number | undefined;
  #closed = false;
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;

  constructor(options: ShardGateOptions = {}) {
    super();
    const url = options.url ?? process.env.LEASEHOLD_URL ?? 'http://127.0.0.1:4040';
    if (!URL.canParse(url))
      throw new LeaderGateError('LEASEHOLD_GATE_INVALID_OPTION', `url "${url}" is not a URL`);
    for (const key of ['pollIntervalMs', 'requestTimeoutMs'] as const) {
      const value = options[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new LeaderGateError(
          'LEASEHOLD_GATE_INVALID_OPTION',
          `${key} must be a positive number, got ${value}`,
        );
      }
    }
    this.#expected = options.shards === undefined ? undefined : checkShardCount(options.shards);
    this.#client = new SidecarClient(url, Math.ceil(options.requestTimeoutMs ?? 1_000));
    this.#pollIntervalMs = Math.ceil(options.pollIntervalMs ?? 500);
    this.#onError = options.onError ?? (() => {});
    // Stryker disable next-line CallExpression: equivalent, only Node's warning about > 10 listeners
    this.setMaxListeners(0);
    this.#loop = this.#pollLoop();
  }

  /** The shard count, once known (given, or the sidecar's). */
  get count(): number | undefined {
    return this.#expected ?? this.#count;
  }

  /** The shard of `key` (`namespace/name`); throws LEASEHOLD_GATE_INVALID_OPTION while the count is unknown. */
  shardOf(key: string): number {
    return shardOf(key, this.count ?? 0);
  }

  /** Whether this replica owns the shard of `key` now. False while the count is unknown. */
  owns(key: string): boolean {
    const count = this.count;
    return count !== undefined && this.ownsShard(shardOf(key, count));
  }

  ownsShard(shard: number): boolean {
    // Stryker disable next-line EqualityOperator: equivalent, the instant of the deadline itself
    return !this.#closed && performance.now() < (this.#deadlines[shard] ?? 0);
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
        isMine: mine,
        epoch: answer.epoch,
        holder: answer.holder,
        validForMs: mine ? Math.floor((this.#deadlines[shard] ?? 0) - performance.now()) : 0,
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
    if (!(Number.isInteger(shard) && shard >= 0 && shard < 1024))
      throw new LeaderGateError(
        'LEASEHOLD_GATE_INVALID_OPTION',
        `shard must be an integer 0…1023, got ${shard}`,
      );
    const source = {
      events: this,
      wait: async (signal?: AbortSignal) => (await this.waitForShard(shard, signal)).epoch,
      ended: (epoch: number, stopped: boolean) =>
        termEnd(
          { closed: this.#closed, stopped, isLeader: this.ownsShard(shard), epoch: this.epochOf(shard) },
          epoch,
        ),
      endedAt: () => Math.min(performance.now(), this.#ownedUntil[shard] ?? 0),
      onError: this.#onError,
    };
    await runTerms(source, fn, (signal, epoch) => ({ signal, epoch, shard }), options.signal);
  }

  /** Owns nothing from now on; stops asking. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('change', this.current());
    this.#wake?.();
    await this.#loop;
    await this.#client.close();
  }

  async #pollLoop(): Promise<void> {
    while (!this.#closed) {
      try {
        await this.#ask();
      } catch (err) {
        this.#onError(err);
      }
      // A failed ask is retried on the same schedule: while a shard is owned, before half its validity is gone.
      const delay = this.#pollDelayMs();
      // Not unref'd: an open gate keeps the process alive (as the leader gate's stream does).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** While a shard is owned, ask again when half of its validity is left. */
  #pollDelayMs(): number {
    const now = performance.now();
    let delay = this.#pollIntervalMs;
    for (const deadline of this.#deadlines) {
      // Stryker disable next-line EqualityOperator: equivalent, the instant of the deadline itself
      if (deadline > now) delay = Math.min(delay, Math.max(10, (deadline - now) / 2));
    }
    return delay;
  }

  async #ask(): Promise<void> {
    const sentAt = performance.now();
    const answer = await this.#client.shards();
    if (this.#expected !== undefined && answer.count !== this.#expected) {
      this.#apply([], sentAt);
      throw new LeaderGateError(
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
    return JSON.stringify(this.current().map((s) => [s.isMine, s.epoch, s.holder]));
  }

  #setDeadline(shard: number, deadline: number): void {
    this.#deadlines[shard] = deadline;
    // Stryker disable next-line CallExpression: equivalent, a stale timer only announces an unchanged state
    clearTimeout(this.#timers[shard]);
    if (deadline > 0) {
      this.#ownedUntil[shard] = deadline;
      this.#armDeadline(shard, deadline);
    } else {
      // Stryker disable next-line MethodExpression: equivalent, endedAt() takes the minimum with now again
      this.#ownedUntil[shard] = Math.min(this.#ownedUntil[shard] ?? 0, performance.now());
    }
  }

  /** Announces the deadline's passing; Node timers can fire early, so re-arm until it has passed. */
  #armDeadline(shard: number, deadline: number): void {
    // Stryker disable next-line ArithmeticOperator: equivalent, a timer that fires early is armed again
    const timer = setTimeout(
      () => {
        if (performance.now() < deadline) this.#armDeadline(shard, deadline);
        else this.emit('change', this.current());
      },
      Math.ceil(deadline - performance.now()) + 1,
    );
    // Stryker disable next-line CallExpression: equivalent, the process's lifetime is the poll loop's
    timer.unref();
    this.#timers[shard] = timer;
  }
}

/** Creates a shard gate on a sharded Leasehold sidecar; see ShardGateOptions. */
export function createShardGate(options: ShardGateOptions = {}): ShardGate {
  return new ShardGate(options);
}
