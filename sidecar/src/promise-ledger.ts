import { randomUUID } from 'node:crypto';
import type { Clock } from './clock.ts';

/** A gate session: a client that holds a push stream and acknowledges when its leader work has stopped. */
interface Session {
  /** The latest deadline promised to this session since its last idle acknowledgement. */
  promisedUntil: number;
  active: boolean;
  streams: number;
  /** Monotonic time the last stream closed, for forgetting sessions nobody resumes. */
  detachedAt: number;
}

/** Session ids a client may choose itself (so that it keeps its session across reconnects). */
export const sessionIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Every answer that says "leader" is a promise until its deadline: the client may act until then. The
 * ledger keeps the latest deadline promised, per gate session and for everyone else, so that the sidecar
 * never lets the Lease go while a promise may still be acted on. A gate session that acknowledges idle
 * (POST /leader/activity active=false) gives back every promise it held.
 */
export class PromiseLedger {
  readonly #clock: Clock;
  readonly #forgetAfterMs: number;
  readonly #sessions = new Map<string, Session>();
  #sessionlessUntil = Number.NEGATIVE_INFINITY;
  /** Settled (and replaced) whenever a session gives its promises back. */
  #givenBack = Promise.withResolvers<void>();

  constructor(clock: Clock, options: { forgetSessionsAfterMs?: number } = {}) {
    this.#clock = clock;
    this.#forgetAfterMs = options.forgetSessionsAfterMs ?? 60_000;
  }

  /** Records that a client was told it may act until `deadline` (monotonic ms). */
  promise(deadline: number, sessionId?: string): void {
    const session = this.#sessions.get(sessionId as string);
    if (session) session.promisedUntil = Math.max(session.promisedUntil, deadline);
    else this.#sessionlessUntil = Math.max(this.#sessionlessUntil, deadline);
  }

  /** Opens (or resumes, by id) a session for a push stream; returns its id. */
  attach(id: string = randomUUID()): string {
    this.#forgetIdle();
    const session = this.#sessions.get(id);
    if (session) session.streams++;
    else
      this.#sessions.set(id, {
        promisedUntil: Number.NEGATIVE_INFINITY,
        active: false,
        streams: 1,
        detachedAt: 0,
      });
    return id;
  }

  /** The stream went away. Its session and promises stay until kept, so a reconnect can resume it. */
  detach(id: string): void {
    const session = this.#sessions.get(id);
    if (!session) return;
    session.streams = Math.max(0, session.streams - 1);
    session.detachedAt = this.#clock.now(); // counts once the last stream is gone
  }

  has(id: string): boolean {
    return this.#sessions.has(id);
  }

  /** The app says whether it runs leader work; idle gives back every promise the session held. */
  report(id: string, active: boolean): void {
    const session = this.#sessions.get(id);
    if (!session) return;
    session.active = active;
    if (!active) {
      session.promisedUntil = Number.NEGATIVE_INFINITY;
      const givenBack = this.#givenBack;
      this.#givenBack = Promise.withResolvers<void>();
      givenBack.resolve();
    }
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  get activeCount(): number {
    let count = 0;
    for (const session of this.#sessions.values()) if (session.active) count++;
    return count;
  }

  /** The latest instant until which some promise may still be acted on (-Infinity when none). */
  keptAt(): number {
    let until = this.#sessionlessUntil;
    for (const session of this.#sessions.values()) until = Math.max(until, session.promisedUntil);
    return until;
  }

  /**
   * Resolves once every promise made so far has run out or been given back. Call it after demoting: no
   * new promise can be made then, so the wait is bounded by what was already promised.
   */
  async allKept(): Promise<void> {
    for (;;) {
      const remaining = this.keptAt() - this.#clock.now();
      if (remaining <= 0) return;
      const ranOut = Promise.withResolvers<void>();
      const timer = this.#clock.setTimeout(ranOut.resolve, remaining);
      await Promise.race([ranOut.promise, this.#givenBack.promise]);
      // Stryker disable next-line CallExpression: equivalent, a timer left running only settles a finished race
      timer.cancel();
    }
  }

  /** Sessions without a stream for a while, holding nothing, are forgotten. */
  #forgetIdle(): void {
    const now = this.#clock.now();
    for (const [id, session] of this.#sessions) {
      if (
        session.streams === 0 &&
        now - session.detachedAt > this.#forgetAfterMs &&
        session.promisedUntil <= now
      ) {
        this.#sessions.delete(id);
      }
    }
  }
}
