// The gate against the sidecar's real HTTP API (its buildApp on a socket) driven by a scripted
// election state, so every leadership change is exact.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppSessions, buildApp, type ElectionSnapshot } from '@leasehold/sidecar';
import { Registry } from 'prom-client';
import { createLeaderGate, type LeaderGateError } from '../src/index.ts';

class ScriptedSource extends EventEmitter<{ change: [ElectionSnapshot] }> {
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

async function sidecar() {
  const source = new ScriptedSource();
  const sessions = new AppSessions();
  const { app } = await buildApp({
    source,
    sessions,
    registry: new Registry(),
    lease: 'ns/l',
    heartbeatMs: 200,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  return { source, app, url, sessions };
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<number> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > timeoutMs) assert.fail('condition not reached');
    await sleep(2);
  }
  return performance.now() - start;
}

test('leadership needs a timed answer: isLeader only while sentAt + validForMs has not passed', async () => {
  const { source, app, url } = await sidecar();
  source.lead(4, 400);
  const gate = createLeaderGate({ url, pollIntervalMs: 60_000 });
  await gate.waitForLeadership();
  assert.equal(gate.current().epoch, 4);
  assert.ok(gate.current().validForMs <= 400);
  // No refresh comes (long poll interval, no change pushed): the deadline runs out, fail closed.
  await until(() => !gate.isLeader(), 1_000);
  await gate.close();
  await app.close();
});

test('a loss is pushed: seen without any poll', async () => {
  const { source, app, url } = await sidecar();
  source.lead(2);
  const gate = createLeaderGate({ url, pollIntervalMs: 60_000 });
  await gate.waitForLeadership();
  await sleep(50);
  source.follow();
  const tookMs = await until(() => !gate.isLeader(), 2_000);
  assert.ok(tookMs < 2_000);
  assert.equal(gate.current().holder, 'other_2');
  await gate.close();
  await app.close();
});

test('runWhileLeader: runs per term with its epoch, aborts on loss, reports activity to the sidecar', async () => {
  const { source, app, url, sessions } = await sidecar();
  const gate = createLeaderGate({ url, pollIntervalMs: 100 });
  const runs: { epoch: number; aborted: boolean }[] = [];
  const stop = new AbortController();
  const loop = gate.runWhileLeader(
    async ({ signal, epoch }) => {
      const run = { epoch, aborted: false };
      runs.push(run);
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      run.aborted = true;
    },
    { signal: stop.signal },
  );
  source.lead(7);
  await until(() => runs.length === 1);
  await until(() => sessions.activeCount === 1);
  source.follow();
  await until(() => runs[0]?.aborted === true);
  await until(() => sessions.activeCount === 0);
  source.lead(8);
  await until(() => runs.length === 2);
  assert.deepEqual(
    runs.map((r) => r.epoch),
    [7, 8],
  );
  stop.abort();
  await loop;
  assert.equal(runs[1]?.aborted, true);
  await gate.close();
  await app.close();
});

test('the sidecar stops answering: the term is aborted by its deadline (fail closed)', async () => {
  const { source, app, url } = await sidecar();
  source.lead(3, 500);
  const gate = createLeaderGate({ url, pollIntervalMs: 100, requestTimeoutMs: 200 });
  let aborted = false;
  const loop = gate.runWhileLeader(async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    aborted = true;
  });
  await until(() => gate.isLeader());
  await app.close();
  await until(() => aborted, 2_000);
  assert.equal(gate.isLeader(), false);
  await gate.close();
  await loop;
});

test('a function that throws ends its term run, not the loop; errors go to onError', async () => {
  const { source, app, url } = await sidecar();
  const errors: unknown[] = [];
  const gate = createLeaderGate({ url, pollIntervalMs: 100, onError: (err) => errors.push(err) });
  let calls = 0;
  const loop = gate.runWhileLeader(async () => {
    calls++;
    throw new Error('boom');
  });
  source.lead(1);
  await until(() => calls === 1);
  source.follow();
  await sleep(50);
  source.lead(2);
  await until(() => calls === 2);
  assert.ok(errors.some((e) => (e as Error).message === 'boom'));
  await gate.close();
  await loop;
  await app.close();
});

test('waitForLeadership rejects with stable codes on abort and close; bad options are refused', async () => {
  const { app, url } = await sidecar();
  const gate = createLeaderGate({ url });
  const aborted = new AbortController();
  const waiting = gate.waitForLeadership(aborted.signal);
  aborted.abort();
  await assert.rejects(waiting, (err: LeaderGateError) => err.code === 'LEASEHOLD_GATE_ABORTED');
  const closing = gate.waitForLeadership();
  await gate.close();
  await assert.rejects(closing, (err: LeaderGateError) => err.code === 'LEASEHOLD_GATE_CLOSED');
  assert.throws(
    () => createLeaderGate({ url: 'not a url' }),
    (err: LeaderGateError) => err.code === 'LEASEHOLD_GATE_INVALID_OPTION',
  );
  assert.throws(() => createLeaderGate({ url, pollIntervalMs: -1 }), /pollIntervalMs/);
  await app.close();
});
