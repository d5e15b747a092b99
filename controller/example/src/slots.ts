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

  /** Resolves with the function that gives the slot back once one is free. */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
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
