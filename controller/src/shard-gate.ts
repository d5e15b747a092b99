import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ActivityReport } from './activity.ts';
import {
  type AnswerOrder,
  acknowledged,
  acknowledging,
  admit,
  initialOrder,
  pushedLoss,
  termEnd,
} from './answer-rules.ts';
import { checkShards, type ShardAnswer, type ShardsAnswer, SidecarClient } from './client.ts';
import { type GateClock, type GateTimer, systemClock } from './clock.ts';
import { GateError } from './errors.ts';
import { retryDelayMs } from './retry.ts';
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
  /**
   * The longest wait between two asks while they are needed. Default 500 ms. While its stream is up the
   * gate asks only to confirm a pushed gain and, for an owned shard, once half of its validity is left.
   */
  pollIntervalMs?: number;
  /** Timeout of each request to the sidecar. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Called with errors the gate recovers from (sidecar unreachable, count mismatch, stream broken). */
  onError?: (err: unknown) => void;
  /** The monotonic clock deadlines are judged on. Default: performance.now() and Node's timers. */
  clock?: GateClock;
  /** Where the jitter of reconnect and retry delays comes from, in [0, 1). Default Math.random. */
  random?: () => number;
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

/** What the gate keeps per shard. */
interface Track {
  answer: ShardAnswer | undefined;
  order: AnswerOrder;
  deadline: number;
  /** The latest deadline granted, kept after a loss to say when ownership ended. */
  ownedUntil: number;
  timer: GateTimer | undefined;
  /** As far as the stream tells, the sidecar may hold it for us (false after a pushed loss). */
  mayOwn: boolean;
  terms: number;
  activity: ActivityReport;
}

/**
 * Gates per-shard work on a sharded Leasehold sidecar (SHARDS set), failing closed: a shard is owned
 * until (monotonic time the request was sent + that shard's validForMs), as the sidecar promised. The
 * gate holds one session with the sidecar, the same across reconnects, in every shard: losses are pushed
 * on `/shards/watch` at once, asks (one at a time, so answers never overtake each other) only confirm a
 * pushed gain and keep owned shards' deadlines ahead, and when a shard's work has stopped the gate says
 * so (idle), which gives that shard's promises back so that its hand-over need not wait for them.
 */
export class ShardGate extends EventEmitter<{ change: [ShardState[]] }> {
  readonly #client: SidecarClient;
  readonly #session = randomUUID();
  readonly #expected: number | undefined;
  readonly #pollIntervalMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #clock: GateClock;
  readonly #random: () => number;
  readonly #streamController = new AbortController();
  readonly #tracks: Track[] = [];
  /** The state (#summary) the last `change` announced. */
  #announced = '[]';
  #count: number | undefined;
  #closed = false;
  /** The sidecar knows our session (a `hello` arrived); asks carry it from then on. */
  #sessionOpen = false;
  #streamUp = false;
  #pollTimer: GateTimer | undefined;
  /** The ask on its way, if any (one at a time); close() lets it land. */
  #asking: Promise<void> | undefined;
  #askAgain = false;

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
    this.#random = options.random ?? Math.random;
    // Stryker disable next-line CallExpression: equivalent, only Node's warning about > 10 listeners
    this.setMaxListeners(0);
    void this.#streamLoop();
  }

  /** The session id this gate uses with the sidecar (for logs and debugging). */
  get session(): string {
    return this.#session;
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
    return !this.#closed && this.#clock.now() < (this.#tracks[shard]?.deadline ?? 0);
  }

  /** The epoch of the shard as last answered (a fencing token only while ownsShard). */
  epochOf(shard: number): number | null {
    return this.#tracks[shard]?.answer?.epoch ?? null;
  }

  current(): ShardState[] {
    return this.#tracks.flatMap((track, shard) => {
      if (!track.answer) return [];
      const mine = this.ownsShard(shard);
      return [
        {
          shard,
          isOwned: mine,
          epoch: track.answer.epoch,
          holder: track.answer.holder,
          validForMs: mine ? Math.floor(track.deadline - this.#clock.now()) : 0,
        },
      ];
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
   * Returns when `signal` aborts or the gate closes. One run per term, as runWhileLeader; when `fn` has
   * returned after an abort, the gate tells the sidecar its work on the shard has stopped.
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
    const track = this.#track(shard);
    const source: TermSource = {
      events: this,
      wait: async (signal) => (await this.waitForShard(shard, signal)).epoch,
      ended: (epoch, stopped) =>
        termEnd(
          { closed: this.#closed, stopped, isLeader: this.ownsShard(shard), epoch: this.epochOf(shard) },
          epoch,
        ),
      endedAt: () => Math.min(this.#clock.now(), track.ownedUntil),
      deadlineOf: (epoch) => (this.ownsShard(shard) && this.epochOf(shard) === epoch ? track.deadline : 0),
      now: () => this.#clock.now(),
      shard,
      onError: this.#onError,
      started: () => {
        track.terms++;
        track.activity.report();
      },
      stopped: () => {
        track.terms--;
        track.activity.report();
      },
    };
    await runTerms(source, fn, (term) => ({ ...term, shard }), options.signal);
  }

  /** Owns nothing from now on: stops asking and the stream after telling the sidecar no shard is worked on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pollTimer?.cancel();
    for (const track of this.#tracks) this.#setDeadline(track, 0);
    this.#announce(true);
    // An answer still on its way may promise shards to our session: let it land (bounded by the
    // request timeout), then give back whatever we hold, so that no hand-over need wait it out.
    await this.#asking;
    if (this.#sessionOpen) for (const track of this.#reportable()) track.activity.report();
    await Promise.all(this.#tracks.map((track) => track.activity.pending));
    this.#streamController.abort();
    await this.#client.close();
  }

  // ---- answers ----------------------------------------------------------------------------------

  #track(shard: number): Track {
    let track = this.#tracks[shard];
    if (track) return track;
    const made: Track = {
      answer: undefined,
      order: initialOrder,
      deadline: 0,
      ownedUntil: 0,
      timer: undefined,
      mayOwn: true,
      terms: 0,
      activity: new ActivityReport({
        send: (active) => this.#client.shardActivity(this.#session, shard, active),
        wantActive: () => !this.#closed && made.terms > 0,
        closed: () => this.#closed,
        givingBack: () => {
          made.order = acknowledging(made.order);
          this.#update(() => this.#setDeadline(made, 0));
        },
        confirmedIdle: () => {
          made.order = acknowledged(made.order, this.#clock.now());
          if (!this.#closed) this.#ask();
        },
        onError: this.#onError,
        sleep: (ms) => this.#sleep(ms),
        random: this.#random,
      }),
    };
    for (let i = this.#tracks.length; i < shard; i++) this.#track(i);
    this.#tracks[shard] = made;
    track = made;
    return track;
  }

  /** Asks as our session, one ask at a time; an ask wanted meanwhile follows the one on its way. */
  #ask(): void {
    if (this.#asking) {
      this.#askAgain = true;
      return;
    }
    this.#asking = (async () => {
      do {
        this.#askAgain = false;
        const sentAt = this.#clock.now();
        try {
          const answer = await this.#client.shards(this.#sessionOpen ? this.#session : undefined);
          this.#applyAsked(answer, sentAt);
        } catch (err) {
          if (!this.#closed) this.#onError(err);
        }
      } while (this.#askAgain && !this.#closed);
    })().finally(() => {
      this.#asking = undefined;
      this.#schedulePoll(); // from the deadlines the answers set
    });
  }

  #applyAsked(answer: ShardsAnswer, sentAt: number): void {
    if (!this.#countAgrees(answer)) return;
    this.#update(() => {
      answer.shards.forEach((item, shard) => {
        const track = this.#track(shard);
        // The sidecar keeps what it promised our session, whether or not we act on the answer.
        if (item.isLeader && this.#sessionOpen) track.activity.holdsPromises = true;
        if (this.#closed) return;
        const admitted = admit(track.order, sentAt, item);
        if (!admitted) return;
        track.order = admitted.order;
        track.answer = item;
        this.#setDeadline(track, admitted.deadline);
      });
    });
  }

  /** A `shards` event: a loss is trusted at once; a gain is confirmed by a timed ask. */
  #applyPushed(answer: ShardsAnswer): void {
    if (!this.#countAgrees(answer)) return;
    let gained = false;
    this.#update(() => {
      answer.shards.forEach((item, shard) => {
        const track = this.#track(shard);
        track.mayOwn = item.isLeader;
        if (item.isLeader) {
          // On our session's stream, a "held" event is a promise the sidecar keeps for the session.
          if (this.#sessionOpen) track.activity.holdsPromises = true;
          gained ||= !this.ownsShard(shard) || item.epoch !== track.answer?.epoch;
          return;
        }
        // No answer sent before it may promote again.
        track.order = pushedLoss(track.order, this.#clock.now());
        track.answer = item;
        this.#setDeadline(track, 0);
      });
    });
    if (gained) this.#ask();
  }

  /** Another count than the gate was given: nothing is owned, and that is reported. */
  #countAgrees(answer: ShardsAnswer): boolean {
    if (this.#expected !== undefined && answer.count !== this.#expected) {
      this.#update(() => {
        for (const track of this.#tracks) this.#setDeadline(track, 0);
      });
      this.#onError(
        new GateError(
          'LEASEHOLD_GATE_SHARD_COUNT_MISMATCH',
          `the sidecar has ${answer.count} shards, this gate was given ${this.#expected}`,
        ),
      );
      return false;
    }
    this.#count = answer.count;
    return true;
  }

  /**
   * Applies `change`, then emits `change` if the state differs from the one last announced — not from
   * the one just before: a deadline that passed a moment ago, its timer not run yet, changed the state
   * already, and the update that cancels that timer must still announce it (else a term runs on).
   */
  #update(change: () => void): void {
    change();
    this.#announce();
  }

  #announce(always = false): void {
    const summary = this.#summary();
    if (!always && summary === this.#announced) return;
    this.#announced = summary;
    this.emit('change', this.current());
  }

  #summary(): string {
    return JSON.stringify(this.current().map((s) => [s.isOwned, s.epoch, s.holder]));
  }

  #setDeadline(track: Track, deadline: number): void {
    track.deadline = deadline;
    // Stryker disable next-line OptionalChaining,CallExpression: equivalent, a stale timer only announces an unchanged state
    track.timer?.cancel();
    if (deadline > 0) {
      track.ownedUntil = deadline;
      this.#armDeadline(track, deadline);
    } else {
      // Stryker disable next-line MethodExpression: equivalent, endedAt() takes the minimum with now again
      track.ownedUntil = Math.min(track.ownedUntil, this.#clock.now());
    }
  }

  /** Announces the deadline's passing; a timer that fired early is armed again until it has passed. */
  #armDeadline(track: Track, deadline: number): void {
    track.timer = this.#clock.setTimeout(() => {
      if (this.#clock.now() < deadline) this.#armDeadline(track, deadline);
      else this.#announce(true);
    }, deadline - this.#clock.now());
  }

  // ---- polls and the stream ---------------------------------------------------------------------

  /** Asks when an ask is due (which arms the next once it lands); kept alive, as an open gate keeps its process. */
  #schedulePoll(): void {
    this.#pollTimer?.cancel();
    if (this.#closed) return;
    this.#pollTimer = this.#clock.setTimeout(
      () => {
        if (!this.#askDue()) return this.#schedulePoll();
        this.#ask(); // arms the next poll once it has landed
        return this.#asking; // a test clock waits for the ask it started
      },
      this.#pollDelayMs(),
      { keepAlive: true },
    );
  }

  /**
   * Without a stream, every interval (sooner while a shard is owned: before half its validity is gone).
   * With one, a gain pushed and not yet confirmed is asked about every interval, and owned shards once
   * half of the shortest validity is left, no sooner than the interval: a loss would be pushed.
   */
  #pollDelayMs(): number {
    const now = this.#clock.now();
    let half = Number.POSITIVE_INFINITY;
    for (const track of this.#tracks) {
      // Stryker disable next-line EqualityOperator: equivalent, the instant of the deadline itself
      if (track.deadline > now) half = Math.min(half, (track.deadline - now) / 2);
    }
    if (!this.#streamUp) return Math.min(this.#pollIntervalMs, Math.max(10, half));
    if (this.#pending()) return this.#pollIntervalMs;
    return Math.max(this.#pollIntervalMs, Number.isFinite(half) ? half : this.#pollIntervalMs);
  }

  #askDue(): boolean {
    if (!this.#streamUp) return true;
    return this.#pending() || this.#tracks.some((_, shard) => this.ownsShard(shard));
  }

  /** A gain the stream pushed (of a shard the sidecar has) that no answer has confirmed yet. */
  #pending(): boolean {
    const count = this.#count ?? 0;
    return this.#tracks.some((track, shard) => shard < count && track.mayOwn && !this.ownsShard(shard));
  }

  /** Shards whose activity is worth telling again (a hello, closing): worked on, or holding promises. */
  #reportable(): Track[] {
    return this.#tracks.filter(
      (t) => t.terms > 0 || t.activity.reported === true || t.activity.holdsPromises,
    );
  }

  async #streamLoop(): Promise<void> {
    let failures = 0;
    // The first ask comes with the stream's hello (as our session); without a stream, an interval on.
    this.#schedulePoll();
    while (!this.#closed) {
      try {
        await this.#client.shardStream(this.#session, this.#streamController.signal, ({ event, data }) => {
          failures = 0;
          if (event === 'hello') {
            this.#sessionOpen = true;
            this.#streamUp = true;
            // The sidecar may have restarted: say again what we are doing on each shard.
            for (const track of this.#reportable()) track.activity.report();
            this.#ask();
            this.#schedulePoll();
            return;
          }
          if (event !== 'shards') return;
          this.#applyPushed(checkShards(data));
          this.#schedulePoll();
        });
      } catch (err) {
        if (this.#closed) return;
        failures++;
        this.#onError(err);
      }
      // No stream, no news: ask every interval until a new one tells us again.
      this.#streamUp = false;
      for (const track of this.#tracks) track.mayOwn = true;
      this.#schedulePoll();
      if (!this.#closed) await this.#sleep(retryDelayMs(failures, this.#random));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }
}

/** Creates a shard gate on a sharded Leasehold sidecar; see ShardGateOptions. */
export function createShardGate(options: ShardGateOptions = {}): ShardGate {
  return new ShardGate(options);
}
