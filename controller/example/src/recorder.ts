import { appendFileSync } from 'node:fs';

/** A term that has started and not been recorded as ended: what an exit must still close. */
interface OpenTerm {
  entry: Record<string, unknown>;
  /** When the term ended on the shared clock, once its signal said so. */
  endedAtNs: bigint | undefined;
}

/**
 * Appends what the replica did (terms, writes) as JSON lines on the machine-wide monotonic clock
 * (process.hrtime, shared by every process on the host), for the chaos checker. Synchronous appends
 * survive SIGKILL. Every other way out of the process — an uncaught error, process.exit() — still
 * records the end of each open term (at the instant it ended if its signal had said so, else at the
 * exit, when the process's work ends at the latest), so no term stays open in the records forever.
 */
export class ActivityRecorder {
  readonly #file: string | undefined;
  readonly #replica: string;
  readonly #open = new Set<OpenTerm>();

  constructor(file: string | undefined, replica: string) {
    this.#file = file;
    this.#replica = replica;
    if (!file) return;
    process.once('exit', (code) => this.#closeOpenTerms(code));
    // What took the process down without its terms' finally blocks, for the post-mortem.
    process.on('uncaughtExceptionMonitor', (err, origin) =>
      this.record({ type: 'crash', origin, message: String(err?.stack ?? err), atNs: String(monotonicNs()) }),
    );
  }

  record(entry: Record<string, unknown>): void {
    if (!this.#file) return;
    appendFileSync(this.#file, `${JSON.stringify({ replica: this.#replica, ...entry })}\n`);
  }

  /** Records the start of a term; the handle records its end (once), or the exit does. */
  openTerm(entry: Record<string, unknown>): {
    ended(atNs: bigint): void;
    close(entry: Record<string, unknown>): void;
  } {
    const term: OpenTerm = { entry, endedAtNs: undefined };
    this.#open.add(term);
    this.record({ type: 'term-start', ...entry });
    return {
      ended: (atNs) => {
        term.endedAtNs ??= atNs;
      },
      close: (end) => {
        if (!this.#open.delete(term)) return;
        this.record({ type: 'term-end', ...end });
      },
    };
  }

  /** At exit: the work of a term stopped, at the latest, now; it ended when its signal said (or now). */
  #closeOpenTerms(code: number): void {
    const exitAtNs = String(monotonicNs());
    for (const term of this.#open) {
      const { atNs: _, ...identity } = term.entry;
      this.record({
        type: 'term-end',
        ...identity,
        atNs: term.endedAtNs === undefined ? exitAtNs : String(term.endedAtNs),
        stoppedAtNs: exitAtNs,
        exitCode: code,
      });
    }
    this.#open.clear();
  }
}

/** Now on the shared monotonic clock, in nanoseconds. */
export function monotonicNs(): bigint {
  return process.hrtime.bigint();
}

/** A performance.now() instant of this process converted to the shared monotonic clock. */
export function performanceToMonotonicNs(performanceMs: number): bigint {
  const nowNs = process.hrtime.bigint();
  return nowNs - BigInt(Math.round((performance.now() - performanceMs) * 1e6));
}
