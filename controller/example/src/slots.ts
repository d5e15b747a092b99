/**
 * A replica-wide limit on reconciles in flight, shared by the terms of every shard the replica owns (as
 * controller-runtime's MaxConcurrentReconciles is per controller, not per shard): owning more shards
 * does not give a replica more capacity, so the work spreads as replicas are added.
 */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  /**
   * Resolves with the function that gives the slot back once one is free, or with undefined if `signal`
   * aborts first (a term that ended does not wait for capacity).
   */
  async acquire(signal?: AbortSignal): Promise<(() => void) | undefined> {
    if (signal?.aborted) return undefined;
    if (this.#free > 0) this.#free--;
    else {
      const granted = await new Promise<boolean>((resolve) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', quit);
          resolve(true);
        };
        const quit = (): void => {
          this.#waiting.splice(this.#waiting.indexOf(wake), 1);
          resolve(false);
        };
        this.#waiting.push(wake);
        signal?.addEventListener('abort', quit, { once: true });
      });
      if (!granted) return undefined;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
  }
}
