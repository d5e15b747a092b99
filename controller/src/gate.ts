import { EventEmitter } from 'node:events';
import { type LeaderAnswer, SidecarClient } from './client.ts';
import { LeaderGateError, LeadershipEndedError } from './errors.ts';

export interface LeaderGateOptions {
  /** The sidecar. Default: $LEASEHOLD_URL, else http://127.0.0.1:4040. */
  url?: string;
  /** How often the validity deadline is refreshed by a request. Default 500 ms. */
  pollIntervalMs?: number;
  /** Timeout of each request to the sidecar. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Called with errors the gate recovers from (sidecar unreachable, stream broken). */
  onError?: (err: unknown) => void;
}

export interface LeaderContext {
  /** Aborted the moment leadership ends, its deadline passes, or the sidecar stops answering. */
  signal: AbortSignal;
  /** The fencing token of this term: stamp it on every write. */
  epoch: number;
}

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
 * computed locally as (monotonic time the request was sent + the sidecar's validForMs). The push
 * stream makes a loss visible at once; polls keep extending the deadline while leadership lasts.
 */
export class LeaderGate extends EventEmitter<{ change: [GateState] }> {
  readonly #client: SidecarClient;
  readonly #pollIntervalMs: number;
  readonly #onError: (err: unknown) => void;
  readonly #streamController = new AbortController();
  #answer: LeaderAnswer | undefined;
  #deadline = 0;
  /** The latest deadline this gate granted, kept after a demotion to say when leadership ended. */
  #leaderUntil = 0;
  #lastDemotionAt = Number.NEGATIVE_INFINITY;
  #lastAppliedSentAt = Number.NEGATIVE_INFINITY;
  #session: string | undefined;
  #closed = false;
  #pollTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;

  constructor(options: LeaderGateOptions = {}) {
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
    this.#client = new SidecarClient(url, options.requestTimeoutMs ?? 1_000);
    this.#pollIntervalMs = options.pollIntervalMs ?? 500;
    this.#onError = options.onError ?? (() => {});
    this.setMaxListeners(0);
    void this.#streamLoop();
    void this.#poll();
  }

  isLeader(): boolean {
    return this.#answer?.isLeader === true && performance.now() < this.#deadline;
  }

  current(): GateState {
    const leader = this.isLeader();
    return {
      isLeader: leader,
      epoch: this.#answer?.epoch ?? null,
      holder: this.#answer?.holder ?? '',
      name: this.#answer?.name ?? '',
      validForMs: leader ? Math.floor(this.#deadline - performance.now()) : 0,
    };
  }

  /** Resolves with the epoch once this replica leads; rejects if `signal` aborts or the gate closes. */
  waitForLeadership(signal?: AbortSignal): Promise<{ epoch: number }> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.#closed) finish(new LeaderGateError('LEASEHOLD_GATE_CLOSED'));
        else if (signal?.aborted) finish(new LeaderGateError('LEASEHOLD_GATE_ABORTED'));
        else if (this.isLeader()) finish(undefined, { epoch: this.#answer?.epoch ?? 0 });
      };
      const finish = (err?: Error, value?: { epoch: number }): void => {
        this.off('change', check);
        signal?.removeEventListener('abort', check);
        if (err) reject(err);
        else resolve(value as { epoch: number });
      };
      this.on('change', check);
      signal?.addEventListener('abort', check);
      check();
    });
  }

  /**
   * Runs `fn` while this replica leads, aborting its signal the moment leadership ends; then waits to
   * lead again and runs it anew. Returns when `signal` aborts or the gate closes. `fn` runs once per
   * term: if it returns or throws (reported to onError) early, the next run waits for the next term.
   */
  async runWhileLeader(
    fn: (context: LeaderContext) => Promise<void>,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const outer = options.signal;
    while (!this.#closed && !outer?.aborted) {
      let epoch: number;
      try {
        ({ epoch } = await this.waitForLeadership(outer));
      } catch {
        return;
      }
      const term = new AbortController();
      const end = (): void => {
        if (term.signal.aborted) return;
        const why = this.#closed
          ? 'gate closed'
          : outer?.aborted
            ? 'stopped'
            : !this.isLeader()
              ? 'lost'
              : this.#answer?.epoch !== epoch
                ? 'new epoch'
                : undefined;
        if (why) term.abort(new LeadershipEndedError(Math.min(performance.now(), this.#leaderUntil), why));
      };
      this.on('change', end);
      outer?.addEventListener('abort', end);
      await this.#report(true);
      try {
        end();
        if (!term.signal.aborted) await fn({ signal: term.signal, epoch });
      } catch (err) {
        if (!term.signal.aborted) this.#onError(err);
      }
      try {
        // Returned or threw early: one run per term (no hot loop), so wait for the term to end.
        if (!term.signal.aborted)
          await new Promise((resolve) => term.signal.addEventListener('abort', resolve));
      } finally {
        this.off('change', end);
        outer?.removeEventListener('abort', end);
        await this.#report(false);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deadline = 0;
    this.#leaderUntil = Math.min(this.#leaderUntil, performance.now());
    clearTimeout(this.#pollTimer);
    clearTimeout(this.#deadlineTimer);
    this.#streamController.abort();
    this.emit('change', this.current());
    await this.#client.close();
  }

  // ---- internals --------------------------------------------------------------------------------

  async #refresh(): Promise<void> {
    const sentAt = performance.now();
    try {
      const answer = await this.#client.leader();
      // Apply only the newest answer, and never let an answer sent before a demotion re-promote.
      if (this.#closed || sentAt < this.#lastAppliedSentAt) return;
      this.#lastAppliedSentAt = sentAt;
      const promote = answer.isLeader && sentAt > this.#lastDemotionAt;
      this.#apply(answer, promote ? sentAt + answer.validForMs : 0);
    } catch (err) {
      if (!this.#closed) this.#onError(err);
    }
  }

  #apply(answer: LeaderAnswer, deadline: number): void {
    const before = this.current();
    this.#answer = answer;
    this.#deadline = deadline;
    if (deadline > 0) this.#leaderUntil = deadline;
    else this.#leaderUntil = Math.min(this.#leaderUntil, performance.now());
    clearTimeout(this.#deadlineTimer);
    if (deadline > performance.now()) this.#armDeadline(deadline);
    const after = this.current();
    if (
      before.isLeader !== after.isLeader ||
      before.epoch !== after.epoch ||
      before.holder !== after.holder
    ) {
      this.emit('change', after);
    }
  }

  /** Announces the deadline's passing; Node timers can fire early, so re-arm until it has passed. */
  #armDeadline(deadline: number): void {
    const remaining = deadline - performance.now();
    this.#deadlineTimer = setTimeout(() => {
      if (performance.now() < deadline) this.#armDeadline(deadline);
      else this.emit('change', this.current());
    }, Math.ceil(remaining) + 1);
    this.#deadlineTimer.unref();
  }

  async #poll(): Promise<void> {
    if (this.#closed) return;
    await this.#refresh();
    if (this.#closed) return;
    this.#pollTimer = setTimeout(() => void this.#poll(), this.#pollIntervalMs);
    this.#pollTimer.unref();
  }

  async #streamLoop(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        await this.#client.stream(this.#streamController.signal, ({ event, data }) => {
          failures = 0;
          if (event === 'hello') this.#session = (data as { session?: string }).session;
          if (event !== 'leader') return;
          const answer = data as LeaderAnswer;
          if (!answer.isLeader) {
            // A loss is trusted at once; a gain is confirmed by a timed request.
            this.#lastDemotionAt = performance.now();
            this.#apply(answer, 0);
          }
          void this.#refresh();
        });
      } catch (err) {
        if (this.#closed) return;
        failures++;
        this.#onError(err);
      }
      this.#session = undefined;
      if (!this.#closed)
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** failures)).unref());
    }
  }

  async #report(active: boolean): Promise<void> {
    const session = this.#session;
    if (!session) return;
    await this.#client.activity(session, active).catch((err) => this.#onError(err));
  }
}

/** Creates a gate on the Leasehold sidecar; see LeaderGateOptions. */
export function createLeaderGate(options: LeaderGateOptions = {}): LeaderGate {
  return new LeaderGate(options);
}
