// A scripted election behind the sidecar's real HTTP API (its buildApp on a socket), for the gate tests:
// every leadership change is exact, and the hooks below let a test break the API the way a real sidecar
// breaks (restart, refused reports, a dropped stream).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp, type ElectionSnapshot, PromiseLedger } from '@leasehold/sidecar';
import { Registry } from 'prom-client';
import { createLeaderGate, type LeaderGate, type LeaderGateOptions } from '../../src/index.ts';

export class ScriptedSource extends EventEmitter<{ change: [ElectionSnapshot] }> {
  state: ElectionSnapshot = {
    role: 'follower',
    identity: 'me_1',
    holder: 'other_2',
    isLeader: false,
    epoch: 1,
    validForMs: 0,
    leaseDurationSeconds: 15,
    observedAt: null,
    known: true,
    version: 1,
  };
  snapshot(): ElectionSnapshot {
    return { ...this.state };
  }
  isLeader(): boolean {
    return this.state.isLeader;
  }
  async resign(): Promise<void> {}
  lead(epoch: number, validForMs = 10_000): void {
    this.set({ isLeader: true, holder: 'me_1', epoch, validForMs, role: 'leader' });
  }
  follow(): void {
    this.set({ isLeader: false, holder: 'other_2', validForMs: 0, role: 'follower' });
  }
  set(patch: Partial<ElectionSnapshot>): void {
    this.state = { ...this.state, ...patch, version: this.state.version + 1 };
    this.emit('change', this.snapshot());
  }
}

/** The sidecar's HTTP API on a real socket; `port` reuses one (a restarted sidecar). */
export async function sidecar(port = 0, source = new ScriptedSource()) {
  const ledger = new PromiseLedger({
    now: () => performance.now(),
    wallNow: () => Date.now(),
    setTimeout: (callback, delayMs) => {
      const timer = setTimeout(callback, Math.ceil(delayMs));
      return { cancel: () => clearTimeout(timer) };
    },
  });
  const { app } = await buildApp({
    source,
    ledger,
    registry: new Registry(),
    lease: 'ns/l',
    heartbeatMs: 200,
  });
  const probe = instrument(app, { get: '/leader', watch: '/leader/watch', activity: '/leader/activity' });
  await app.listen({ host: '127.0.0.1', port });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return { source, app, url, ledger, ...probe };
}

/** The paths of one mode's routes that `instrument` watches. */
export interface ProbedPaths {
  get: string;
  watch: string;
  activity: string;
}

/**
 * Records the requests a test sidecar gets and injects faults into them: `count('GET /leader')`,
 * `settled()` (every request answered), `dropStreams()`, and `faults` for the mode's paths.
 */
export function instrument(app: Awaited<ReturnType<typeof buildApp>>['app'], paths: ProbedPaths) {
  const requests: string[] = [];
  /** When each request arrived (performance.now()), in the same order as `requests`. */
  const arrivals: number[] = [];
  /**
   * Fault knobs: a delay on GET /leader, an error status for GET /leader or for new streams, and answers
   * that replace the next POST /leader/activity ones.
   */
  const faults = {
    getMs: 0,
    getStatus: 0,
    watchStatus: 0,
    activity: [] as { status: number; code: string }[],
  };
  const watchSockets = new Set<Socket>();
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    requests.push(`${request.method} ${path}`);
    arrivals.push(performance.now());
    if (path !== paths.watch) reply.raw.once('close', () => answered++);
    if (path === paths.watch && faults.watchStatus > 0)
      return reply.code(faults.watchStatus).send({ code: 'LEASEHOLD_TEST_FAULT', message: 'injected' });
    if (path === paths.watch) {
      watchSockets.add(request.raw.socket);
      request.raw.socket.once('close', () => watchSockets.delete(request.raw.socket));
    }
    if (request.method === 'GET' && path === paths.get && faults.getStatus > 0) {
      return reply.code(faults.getStatus).send({ code: 'LEASEHOLD_TEST_FAULT', message: 'injected' });
    }
    const refusal = path === paths.activity ? faults.activity.shift() : undefined;
    if (refusal) return reply.code(refusal.status).send({ code: refusal.code, message: 'injected' });
  });
  /** Requests (streams aside) that are done: answered, or cut off by the client. */
  let answered = 0;
  app.addHook('onSend', async (request) => {
    if (faults.getMs > 0 && request.url.startsWith(`${paths.get}?`)) await sleep(faults.getMs);
  });
  /** Drops every open stream, as a broken connection would: the gate must reconnect and say hello. */
  const dropStreams = (): void => {
    for (const socket of watchSockets) socket.destroy();
  };
  const count = (what: string): number => requests.filter((r) => r === what).length;
  /**
   * Every request that arrived has been answered, and the gate had two turns of its event loop to take
   * the answers in: what the gate was going to do with them, it has done.
   */
  const settled = async (): Promise<void> => {
    await until(() => answered === requests.filter((r) => r !== `GET ${paths.watch}`).length);
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  };
  /** The arrival times of the requests that are `what`. */
  const arrivedAt = (what: string): number[] => arrivals.filter((_, i) => requests[i] === what);
  return { requests, faults, dropStreams, count, arrivedAt, settled };
}

/** A term's work that runs until its signal aborts. */
export const untilAborted = ({ signal }: { signal: AbortSignal }) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve());
  });

export async function until(condition: () => boolean, timeoutMs = 3_000): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) assert.fail('condition not reached');
    await sleep(2);
  }
  return performance.now() - start;
}

export function gateFor(
  url: string,
  t: { after(fn: () => Promise<void>): void },
  options: LeaderGateOptions = {},
): LeaderGate {
  // The top of each jitter range, so that tests can name exact retry delays (retry.test.ts has the rest).
  const gate = createLeaderGate({ url, random: () => 1, ...options });
  t.after(() => gate.close());
  return gate;
}
