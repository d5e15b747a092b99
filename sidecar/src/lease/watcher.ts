import type { Logger } from 'pino';
import { backoffMs, LogThrottle } from '../backoff.ts';
import type { Clock } from '../clock.ts';
import type { LeaseApi } from '../kube/lease-api.ts';
import type { RawLease } from './record.ts';

export interface WatcherHandlers {
  onObject(lease: RawLease): void;
  onDeleted(lease: RawLease): void;
  onError(err: unknown): void;
}

/**
 * Keeps one watch on the Lease open, resuming from the last resourceVersion (bookmarks included) and
 * starting afresh after 410 Gone. A standby learns of a release or a new holder the moment it happens.
 */
export class LeaseWatcher {
  readonly #api: LeaseApi;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #handlers: WatcherHandlers;
  readonly #throttle: LogThrottle;
  #controller = new AbortController();
  #stopped = false;
  #done: Promise<void> | undefined;

  constructor(api: LeaseApi, clock: Clock, log: Logger, handlers: WatcherHandlers) {
    this.#api = api;
    this.#clock = clock;
    this.#log = log;
    this.#handlers = handlers;
    this.#throttle = new LogThrottle(30_000, () => clock.now());
  }

  start(): void {
    this.#done ??= this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#controller.abort();
    await this.#done;
  }

  async #loop(): Promise<void> {
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!this.#stopped) {
      this.#controller = new AbortController();
      const controller = this.#controller;
      try {
        await this.#api.watch(resourceVersion, controller.signal, (event) => {
          failures = 0;
          const version = event.object.metadata?.resourceVersion;
          switch (event.type) {
            case 'ERROR':
              // 410 Gone: our version is too old; start over from the current state.
              resourceVersion = undefined;
              controller.abort();
              return;
            case 'BOOKMARK':
              resourceVersion = version ?? resourceVersion;
              return;
            case 'DELETED':
              resourceVersion = version ?? resourceVersion;
              this.#handlers.onDeleted(event.object);
              return;
            default:
              resourceVersion = version ?? resourceVersion;
              this.#handlers.onObject(event.object);
          }
        });
      } catch (err) {
        if (this.#stopped) break;
        failures++;
        this.#handlers.onError(err);
        const suppressed = this.#throttle.take();
        if (suppressed !== undefined) this.#log.warn({ err, suppressed }, 'lease watch failed; retrying');
      }
      if (this.#stopped) break;
      if (failures > 0) await this.#sleep(backoffMs(failures, 250, 5_000));
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimeout(resolve, ms);
      this.#controller.signal.addEventListener('abort', () => {
        timer.cancel();
        resolve();
      });
    });
  }
}
