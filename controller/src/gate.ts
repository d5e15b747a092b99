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
import { type LeaderAnswer, SidecarClient } from './client.ts';
import { type GateClock, type GateTimer, systemClock } from './clock.ts';
import { GateError } from './errors.ts';
import { retryDelayMs } from './retry.ts';
import { runTerms, type TermContext, type TermSource, waitForTerm } from './term-loop.ts';

export interface LeaderGateOptions {
  /** The sidecar. Default: $LEASEHOLD_URL, else http://127.0.0.1:4040. */
  url?: string;
  /**
   * How often the validity deadline is refreshed by a request. Default 500 ms. While its stream is up a
   * follower asks only about a pushed gain not yet confirmed, and a leader only once half of its validity
   * is left (the stream tells it of a loss at once).
   */
  pollIntervalMs?: number;
  /** Timeout of each request to the sidecar. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Called with errors the gate recovers from (sidecar unreachable, stream broken). */
  onError?: (err: unknown) => void;
  /** The monotonic clock deadlines are judged on. Default: performance.now() and Node's timers. */
  clock?: GateClock;
  /** Where the jitter of reconnect and retry delays comes from, in [0, 1). Default Math.random. */
  random?: () => number;
}

/** A leader term: its signal, epoch and deadline (TermContext). */
export type LeaderContext = TermContext;

export interface GateState {
  isLeader: boolean;
  epoch: number | null;
  holder: string;
  name: string;
  /** Milliseconds of leadership left on the local monotonic clock (0 unless leader). */
  validForMs: number;
}

/**
 * Gates leader work on the Leasehold sidecar, failing closed: leadership holds only until a deadline
 * computed locally as (monotonic time the request was sent + the sidecar's validForMs). The gate holds a
 * session with the sidecar (the same one across reconnects): a loss is pushed at once, and when its
 * terms have stopped it says so (idle), which gives its promises back so that a hand-over need not wait
 * for them to run out.
 */
export class LeaderGate extends EventEmitter<{ change: [GateState] }> {
  readonly #client: SidecarClient;
  readonly #session = randomUUID();
  readonly #pollIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #clock: GateClock;
  readonly #random: () => number;
  readonly #streamController = new AbortController();
  #answer: LeaderAnswer | undefined;
  #deadline = 0;
  /** The latest deadline this gate granted, kept after a loss to say when leadership ended. */
  #leaderUntil = 0;
  #order: AnswerOrder = initialOrder;
  /** The sidecar knows our session (a `hello` arrived); polls carry it from then on. */
  #sessionOpen = false;
  /**
   * Whether the sidecar may lead for us as far as the stream tells: false only after it pushed "not
   * leader" on a stream that is still open. A follower that the stream keeps informed does not poll: a
   * gain comes as an event, and the polls start again until an answer confirms it.
   */
  // Stryker disable next-line BooleanLiteral: equivalent, the first event after each hello sets it
  #mayLead = true;
  /** A stream is open: losses and gains are pushed as they happen. */
  #streamUp = false;
  #terms = 0;
  /** Whether our leader work runs, as told to the sidecar. */
  readonly #activity: ActivityReport;
  /** Polls on their way: each may carry a promise the sidecar has already recorded for our session. */
  readonly #asking = new Set<Promise<LeaderAnswer>>();
  #closed = false;
  #pollTimer: GateTimer | undefined;
  #deadlineTimer: GateTimer | undefined;
  /** isLeader|epoch|holder as the last `change` announced it. */
  #announced = 'false|null|';

  constructor(options: LeaderGateOptions = {}) {
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
    this.#requestTimeoutMs = Math.ceil(options.requestTimeoutMs ?? 1_000);
    this.#client = new SidecarClient(url, this.#requestTimeoutMs);
    this.#pollIntervalMs = Math.ceil(options.pollIntervalMs ?? 500);
    this.#onError = options.onError ?? (() => {});
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#activity = new ActivityReport({
      send: (active) => this.#client.activity(this.#session, active),
      wantActive: () => !this.#closed && this.#terms > 0,
      closed: () => this.#closed,
      givingBack: () => {
        this.#order = acknowledging(this.#order);
        this.#setDeadline(0);
        this.#announce();
      },
      confirmedIdle: () => {
        this.#order = acknowledged(this.#order, this.#clock.now());
        if (!this.#closed) void this.#refresh();
      },
      onError: this.#onError,
      sleep: (ms) => this.#sleep(ms),
      random: this.#random,
    });
    this.setMaxListeners(0);
    void this.#streamLoop();
  }

  /** The session id this gate uses with the sidecar (for logs and debugging). */
  get session(): string {
    return this.#session;
  }

  isLeader(): boolean {
    return !this.#closed && this.#clock.now() < this.#deadline;
  }

  current(): GateState {
    const leader = this.isLeader();
    return {
      isLeader: leader,
      epoch: this.#answer?.epoch ?? null,
      holder: this.#answer?.holder ?? '',
      name: this.#answer?.name ?? '',
      validForMs: leader ? Math.floor(this.#deadline - this.#clock.now()) : 0,
    };
  }

  /** Resolves with the epoch once this replica leads; rejects if `signal` aborts or the gate closes. */
  waitForLeadership(signal?: AbortSignal): Promise<{ epoch: number }> {
    const epochNow = () => (this.isLeader() ? (this.#answer?.epoch ?? 0) : undefined);
    return waitForTerm(this, () => this.#closed, epochNow, signal);
  }

  /**
   * Runs `fn` while this replica leads, aborting its signal the moment leadership ends; then waits to
   * lead again and runs it anew. Returns when `signal` aborts or the gate closes. `fn` runs once per
   * term: if it returns or throws (reported to onError) early, the next run waits for the next term.
   * When `fn` has returned after an abort, the gate tells the sidecar its work has stopped.
   */
  async runWhileLeader(
    fn: (context: LeaderContext) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const termSource: TermSource = {
      events: this,
      wait: async (signal) => (await this.waitForLeadership(signal)).epoch,
      ended: (epoch, stopped) =>
        termEnd(
          {
            closed: this.#closed,
            stopped,
            isLeader: this.isLeader(),
            epoch: this.#answer?.epoch ?? null,
          },
          epoch,
        ),
      endedAt: () => Math.min(this.#clock.now(), this.#leaderUntil),
      deadlineOf: (epoch) => (this.isLeader() && this.#answer?.epoch === epoch ? this.#deadline : 0),
      now: () => this.#clock.now(),
      onError: this.#onError,
      started: () => {
        this.#terms++;
        this.#activity.report();
      },
      stopped: () => {
        this.#terms--;
        this.#activity.report();
      },
    };
    await runTerms(termSource, fn, (term) => term, options.signal);
  }

  /** Stops polling and the stream after telling the sidecar this gate acts no more. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#setDeadline(0);
    this.#pollTimer?.cancel();
    this.#announce(true);
    // An answer still on its way may promise leadership to our session: let it land (bounded by the
    // request timeout), then give back whatever we hold, so that a hand-over need not wait it out.
    await Promise.allSettled([...this.#asking]);
    if (this.#sessionOpen) this.#activity.report();
    await this.#activity.pending;
    this.#streamController.abort();
    await this.#client.close();
  }

  // ---- answers ----------------------------------------------------------------------------------

  /** Asks as our session; only called once a `hello` has opened it (polls start there). */
  async #refresh(): Promise<void> {
    const sentAt = this.#clock.now();
    const asking = this.#client.leader(this.#session);
    this.#asking.add(asking);
    try {
      const answer = await asking;
      // The sidecar keeps what it promised our session, whether or not we act on the answer.
      if (answer.isLeader) this.#activity.holdsPromises = true;
      if (this.#closed) return;
      const admitted = admit(this.#order, sentAt, answer);
      if (!admitted) return;
      this.#order = admitted.order;
      this.#apply(answer, admitted.deadline);
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    } finally {
      this.#asking.delete(asking);
    }
  }

  #apply(answer: LeaderAnswer, deadline: number): void {
    this.#answer = answer;
    this.#setDeadline(deadline);
    this.#announce();
  }

  /**
   * Emits `change` when the state differs from the one last announced — not from the one just before:
   * a deadline that passed a moment ago, its timer not run yet, changed the state already, and the
   * answer that cancels that timer must still announce it (else a term runs on past its deadline).
   */
  #announce(always = false): void {
    const state = this.current();
    const key = `${state.isLeader}|${state.epoch}|${state.holder}`;
    if (!always && key === this.#announced) return;
    this.#announced = key;
    this.emit('change', state);
  }

  #setDeadline(deadline: number): void {
    this.#deadline = deadline;
    if (deadline > 0) this.#leaderUntil = deadline;
    else this.#leaderUntil = Math.min(this.#leaderUntil, this.#clock.now());
    this.#deadlineTimer?.cancel();
    if (deadline > this.#clock.now()) this.#armDeadline(deadline);
  }

  /** Announces the deadline's passing; a timer that fired early is armed again until it has passed. */
  #armDeadline(deadline: number): void {
    this.#deadlineTimer = this.#clock.setTimeout(() => {
      if (this.#clock.now() < deadline) this.#armDeadline(deadline);
      else this.#announce(true);
    }, deadline - this.#clock.now());
  }

  #schedulePoll(): void {
    this.#pollTimer?.cancel();
    if (this.#closed || !this.#sessionOpen) return;
    this.#pollTimer = this.#clock.setTimeout(async () => {
      if (this.#mayLead) await this.#refresh();
      this.#schedulePoll();
    }, this.#pollDelayMs());
  }

  /**
   * A leader that its stream keeps informed asks again when half of its validity is left: a loss is
   * pushed, so the polls only keep the deadline ahead, with the other half left for retries. (A follower's
   * deadline has passed: it gets the interval.)
   */
  #pollDelayMs(): number {
    if (!this.#streamUp) return this.#pollIntervalMs;
    return Math.max(this.#pollIntervalMs, (this.#deadline - this.#clock.now()) / 2);
  }

  async #streamLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        await this.#client.stream(this.#session, this.#streamController.signal, ({ event, data }) => {
          failures = 0;
          if (event === 'hello') {
            this.#sessionOpen = true;
            this.#streamUp = true;
            // The sidecar may have restarted: say again what we are doing.
            if (this.#activity.worthRepeating) this.#activity.report();
            void this.#refresh();
            this.#schedulePoll();
            return;
          }
          if (event !== 'leader') return;
          const answer = data as LeaderAnswer;
          this.#mayLead = answer.isLeader;
          this.#schedulePoll();
          if (answer.isLeader) {
            void this.#refresh(); // a gain is confirmed by a timed request
            return;
          }
          // A loss is trusted at once, and no answer sent before it may promote again.
          this.#order = pushedLoss(this.#order, this.#clock.now());
          this.#apply(answer, 0);
        });
      } catch (err) {
        if (this.#closed) return;
        failures++;
        this.#onError(err);
      }
      // No stream, no news: poll every interval until a new one tells us again.
      this.#mayLead = true;
      this.#streamUp = false;
      this.#schedulePoll();
      if (!this.#closed) await this.#sleep(retryDelayMs(failures, this.#random));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms));
  }
}

/** Creates a gate on the Leasehold sidecar; see LeaderGateOptions. */
export function createLeaderGate(options: LeaderGateOptions = {}): LeaderGate {
  return new LeaderGate(options);
}
