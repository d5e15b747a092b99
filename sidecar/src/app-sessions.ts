import { randomUUID } from 'node:crypto';

/**
 * Apps gated through the push channel (`GET /leader/watch?gate=true`) report whether they are running
 * leader work. Before the Lease is released, the sidecar waits until none is (or a timeout passes),
 * so the next leader never starts while this one's work is still running.
 */
export class AppSessions {
  readonly #active = new Map<string, boolean>();
  #waiters: (() => void)[] = [];

  open(): string {
    const id = randomUUID();
    this.#active.set(id, false);
    return id;
  }

  close(id: string): void {
    this.#active.delete(id);
    this.#settle();
  }

  has(id: string): boolean {
    return this.#active.has(id);
  }

  setActive(id: string, active: boolean): void {
    if (!this.#active.has(id)) return;
    this.#active.set(id, active);
    this.#settle();
  }

  get activeCount(): number {
    let count = 0;
    for (const active of this.#active.values()) if (active) count++;
    return count;
  }

  /** Resolves true when no session is active, false if `timeoutMs` passed first. */
  waitUntilIdle(timeoutMs: number): Promise<boolean> {
    if (this.activeCount === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#waiters.push(done);
    });
  }

  #settle(): void {
    if (this.activeCount > 0) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}
