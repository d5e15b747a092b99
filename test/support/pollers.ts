import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { addWindow, nowNs, type Window } from './acting-windows.ts';

/**
 * The simplest client that follows the documented contract, without a gate session: it asks one
 * sidecar again and again and, whenever the answer says "leader", may act from the moment the answer
 * arrived until (the moment it sent the request) + the validity the answer promised. Those windows are
 * what it records — the most any such client could act on.
 *   /leader:    the body's isLeader and validForMs.
 *   /is-leader: status 200 and the Leasehold-Valid-For-Ms header (what `curl -f` users read).
 */
export class SessionlessPoller {
  readonly replica: string;
  readonly path: '/leader' | '/is-leader';
  readonly windows: Window[] = [];
  answers = 0;
  errors = 0;
  readonly #pool: Pool;
  readonly #intervalMs: number;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(replica: string, url: string, path: '/leader' | '/is-leader', intervalMs: number) {
    this.replica = replica;
    this.path = path;
    this.#intervalMs = intervalMs;
    this.#pool = new Pool(url, { connections: 1, pipelining: 1, keepAliveTimeout: 10_000 });
  }

  start(): this {
    this.#loop ??= this.#run();
    return this;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    await this.#pool.destroy();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const sent = nowNs();
      try {
        const response = await this.#pool.request({
          method: 'GET',
          path: this.path,
          headersTimeout: 2_000,
          bodyTimeout: 2_000,
        });
        const text = await response.body.text();
        const received = nowNs();
        this.answers++;
        const validForMs =
          this.path === '/leader'
            ? leaderValidity(text)
            : response.statusCode === 200
              ? Number(response.headers['leasehold-valid-for-ms'] ?? 0)
              : 0;
        if (validForMs > 0)
          addWindow(this.windows, {
            replica: this.replica,
            start: received,
            end: sent + BigInt(validForMs) * 1_000_000n,
          });
      } catch {
        this.errors++;
      }
      await sleep(this.#intervalMs);
    }
  }
}

function leaderValidity(text: string): number {
  const body = JSON.parse(text) as { isLeader?: boolean; validForMs?: number };
  return body.isLeader === true ? (body.validForMs ?? 0) : 0;
}
