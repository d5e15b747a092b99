import { GateError } from './errors.ts';
import { retryDelayMs } from './retry.ts';

/** What an ActivityReport needs from its gate, for one session's work on one Lease (or shard). */
export interface ActivityTarget {
  /** POST the activity; rejects with LEASEHOLD_GATE_SESSION_UNKNOWN when the sidecar lost the session. */
  send(active: boolean): Promise<void>;
  /** Whether work runs now (a term is on) and the gate is open. */
  wantActive(): boolean;
  closed(): boolean;
  /** Going idle: from now on no answer may grant until the sidecar has confirmed. */
  givingBack(): void;
  /** The sidecar confirmed idle while no work runs: requests sent from now on count again. */
  confirmedIdle(): void;
  onError(err: unknown): void;
  sleep(ms: number): Promise<void>;
  random(): number;
}

/**
 * Tells the sidecar whether a gate session works on one Lease (or shard), until it confirms; failures
 * are retried with backoff and every `hello` sends it again. Going idle gives back every promise the
 * session holds there, so from that moment the gate trusts no answer until the sidecar has confirmed.
 */
export class ActivityReport {
  /** The activity the sidecar last confirmed. */
  reported: boolean | undefined;
  /** An answer granted since the sidecar last confirmed idle: the session holds promises. */
  holdsPromises = false;
  readonly #target: ActivityTarget;
  #reporting: Promise<void> | undefined;
  #again = false;

  constructor(target: ActivityTarget) {
    this.#target = target;
  }

  /** The report on its way, if any. */
  get pending(): Promise<void> | undefined {
    return this.#reporting;
  }

  /** Whether a `hello` (a new or resumed session) should report again. */
  get worthRepeating(): boolean {
    return this.reported !== false || this.#target.wantActive();
  }

  report(): void {
    const target = this.#target;
    if (!target.wantActive()) {
      if (target.closed() && this.reported === false && !this.holdsPromises && !this.#reporting) return;
      target.givingBack();
    }
    if (this.#reporting) {
      this.#again = true;
      return;
    }
    this.#reporting = (async () => {
      let failures = 0;
      do {
        this.#again = false;
        const active = target.wantActive();
        try {
          await target.send(active);
          this.#confirmed(active);
        } catch (err) {
          if (err instanceof GateError && err.code === 'LEASEHOLD_GATE_SESSION_UNKNOWN') {
            // The sidecar holds nothing for a session it does not know; the next hello reports again.
            this.#confirmed(false);
            continue;
          }
          target.onError(err);
          if (target.closed()) break;
          this.#again = true;
          await target.sleep(retryDelayMs(++failures, target.random));
        }
      } while (this.#again);
    })().finally(() => {
      this.#reporting = undefined;
    });
  }

  #confirmed(active: boolean): void {
    this.reported = active;
    if (!active && !this.#target.wantActive()) {
      this.holdsPromises = false;
      this.#target.confirmedIdle();
    }
  }
}
