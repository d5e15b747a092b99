import { appendFileSync } from 'node:fs';

/**
 * Appends what the replica did (terms, writes) as JSON lines on the machine-wide monotonic clock
 * (process.hrtime, shared by every process on the host), for the chaos checker. Synchronous appends
 * survive SIGKILL.
 */
export class ActivityRecorder {
  readonly #file: string | undefined;
  readonly #replica: string;

  constructor(file: string | undefined, replica: string) {
    this.#file = file;
    this.#replica = replica;
  }

  record(entry: Record<string, unknown>): void {
    if (!this.#file) return;
    appendFileSync(this.#file, `${JSON.stringify({ replica: this.#replica, ...entry })}\n`);
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
