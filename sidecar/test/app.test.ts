// The HTTP API through app.inject() (and a real socket for streams), with a scripted LeaderSource.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { test } from 'node:test';
import { buildApp } from '../src/app.ts';
import { AppSessions } from '../src/app-sessions.ts';
import type { ElectionSnapshot } from '../src/elector.ts';
import { LeaseholdError } from '../src/errors.ts';
import type { LeaderSource } from '../src/leader-source.ts';
import { createMetrics } from '../src/metrics.ts';

class ScriptedSource extends EventEmitter<{ change: [ElectionSnapshot] }> implements LeaderSource {
  state: ElectionSnapshot = {
    role: 'follower',
    identity: 'pod-a_x1',
    holder: 'pod-b_y2',
    isLeader: false,
    epoch: 3,
    validForMs: 0,
    leaseDurationSeconds: 15,
    observedAt: '2026-01-15T10:00:05.123456Z',
    known: true,
    version: 7,
  };
  resigned: number[] = [];
  snapshot(): ElectionSnapshot {
    return { ...this.state };
  }
  isLeader(): boolean {
    return this.state.isLeader;
  }
  async resign(pauseMs: number): Promise<void> {
    if (!this.state.isLeader) throw new LeaseholdError('LEASEHOLD_NOT_LEADER');
    this.resigned.push(pauseMs);
  }
  set(patch: Partial<ElectionSnapshot>): void {
    this.state = { ...this.state, ...patch, version: this.state.version + 1 };
    this.emit('change', this.snapshot());
  }
}

async function setup() {
  const source = new ScriptedSource();
  const sessions = new AppSessions();
  const metrics = createMetrics({
    leaseName: 'ctl',
    now: () => performance.now(),
    snapshot: () => source.snapshot(),
  });
  const { app, stats } = await buildApp({
    source,
    sessions,
    registry: metrics.registry,
    lease: 'ns/ctl',
    heartbeatMs: 100,
  });
  return { source, sessions, app, stats, metrics };
}

test('GET /leader: the holder pod as name, the full answer, no-store', async () => {
  const { app } = await setup();
  const response = await app.inject('/leader');
  assert.equal(response.statusCode, 200);
  assert.equal(response.headers['cache-control'], 'no-store');
  const body = response.json();
  assert.equal(body.name, 'pod-b');
  assert.equal(body.holder, 'pod-b_y2');
  assert.equal(body.identity, 'pod-a_x1');
  assert.equal(body.isLeader, false);
  assert.equal(body.epoch, 3);
  assert.equal(body.validForMs, 0);
  assert.equal(body.leaseDurationSeconds, 15);
  assert.equal(body.observedAt, '2026-01-15T10:00:05.123456Z');
  assert.equal(body.lease, 'ns/ctl');
  await app.close();
});

test('GET /is-leader: 503 for a follower, 200 for the leader, same body', async () => {
  const { app, source } = await setup();
  assert.equal((await app.inject('/is-leader')).statusCode, 503);
  source.set({ isLeader: true, holder: 'pod-a_x1', validForMs: 9_000, role: 'leader' });
  const response = await app.inject('/is-leader');
  assert.equal(response.statusCode, 200);
  assert.equal(response.json().validForMs, 9_000);
  assert.equal(response.json().name, 'pod-a');
  await app.close();
});

test('long-poll: /leader?afterVersion waits for the next change, or answers at its timeout', async () => {
  const { app, source } = await setup();
  const pending = app.inject('/leader?afterVersion=7&timeoutSeconds=5');
  setTimeout(() => source.set({ holder: 'pod-c_z3', epoch: 4 }), 30);
  const changed = (await pending).json();
  assert.equal(changed.version, 8);
  assert.equal(changed.name, 'pod-c');
  const quiet = await app.inject('/leader?afterVersion=8&timeoutSeconds=0.05');
  assert.equal(quiet.json().version, 8);
  assert.equal(source.listenerCount('change'), 0);
  await app.close();
});

test('errors are JSON with stable codes: 404, 405 with Allow, 400 on bad parameters', async () => {
  const { app } = await setup();
  const missing = await app.inject('/nope');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'LEASEHOLD_ROUTE_NOT_FOUND');
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/leader' });
  assert.equal(wrongMethod.statusCode, 405);
  assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  assert.equal(wrongMethod.json().code, 'LEASEHOLD_METHOD_NOT_ALLOWED');
  const getResign = await app.inject('/leader/resign');
  assert.equal(getResign.statusCode, 405);
  for (const url of [
    '/leader?afterVersion=-1',
    '/leader?timeoutSeconds=abc',
    '/leader?bogus=1',
    '/leader/resign?pauseSeconds=-3',
  ]) {
    const bad = await app.inject({ method: url.includes('resign') ? 'POST' : 'GET', url });
    assert.equal(bad.statusCode, 400, url);
    assert.equal(bad.json().code, 'LEASEHOLD_BAD_REQUEST', url);
  }
  const badBody = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: '{"session":',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(badBody.statusCode, 400);
  await app.close();
});

test('POST /leader/resign: 409 for a follower, 202 with the pause for the leader', async () => {
  const { app, source } = await setup();
  const refused = await app.inject({ method: 'POST', url: '/leader/resign' });
  assert.equal(refused.statusCode, 409);
  assert.equal(refused.json().code, 'LEASEHOLD_NOT_LEADER');
  source.set({ isLeader: true });
  const accepted = await app.inject({ method: 'POST', url: '/leader/resign?pauseSeconds=2.5' });
  assert.equal(accepted.statusCode, 202);
  assert.equal(accepted.json().pauseSeconds, 2.5);
  assert.deepEqual(source.resigned, [2_500]);
  await app.close();
});

test('metrics: client-go master status and leasehold_* series', async () => {
  const { app, source, metrics } = await setup();
  source.set({ isLeader: true, epoch: 9 });
  metrics.hooks.stateChanged?.(source.snapshot());
  metrics.hooks.acquired?.(9);
  metrics.hooks.renewed?.(0.012);
  const text = (await app.inject('/metrics')).body;
  assert.match(text, /leader_election_master_status\{name="ctl"\} 1/);
  assert.match(text, /leasehold_is_leader 1/);
  assert.match(text, /leasehold_epoch 9/);
  assert.match(text, /leasehold_leadership_transitions_total\{kind="acquired"\} 1/);
  assert.match(text, /leasehold_renew_duration_seconds_count 1/);
  for (const name of [
    'leasehold_seconds_since_last_renew',
    'leasehold_validity_remaining_seconds',
    'process_resident_memory_bytes',
  ]) {
    assert.match(text, new RegExp(name));
  }
  await app.close();
});

test('healthz fails for a leader past its deadline; readyz needs the Lease state', async () => {
  const { app, source } = await setup();
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  assert.equal((await app.inject('/readyz')).statusCode, 200);
  source.set({ role: 'leader', isLeader: false });
  assert.equal((await app.inject('/healthz')).statusCode, 503);
  source.set({ role: 'follower', known: false });
  const readyz = await app.inject('/readyz');
  assert.equal(readyz.statusCode, 503);
  assert.equal(readyz.json().status, 'not ready');
  await app.close();
});

/** Opens /leader/watch on a real socket and collects SSE events until `count` arrived. */
function readEvents(
  port: number,
  path: string,
  count: number,
  onOpen?: () => void,
): Promise<{ event: string; data: any }[]> {
  return new Promise((resolve, reject) => {
    const events: { event: string; data: any }[] = [];
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
          if (events.length === 2) onOpen?.();
          if (events.length >= count) {
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.on('error', (err) => (events.length >= count ? undefined : reject(err)));
    req.end();
  });
}

test('SSE /leader/watch: hello, current state, then every change; a gate session id when asked', async () => {
  const { app, source, stats } = await setup();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const events = await readEvents(port, '/leader/watch?gate=true', 3, () =>
    source.set({ isLeader: true, epoch: 5 }),
  );
  assert.deepEqual(
    events.map((e) => e.event),
    ['hello', 'leader', 'leader'],
  );
  assert.equal(typeof events[0]?.data.session, 'string');
  assert.equal(events[1]?.data.isLeader, false);
  assert.equal(events[2]?.data.isLeader, true);
  assert.equal(events[2]?.data.epoch, 5);
  await waitFor(() => stats.openWatchers === 0);
  await app.close();
});

test('thousands of watch connect/disconnect cycles leak no listener, session or stream', async () => {
  const { app, source, stats, sessions } = await setup();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const baseline = source.listenerCount('change');
  for (let round = 0; round < 40; round++) {
    await Promise.all(Array.from({ length: 50 }, () => readEvents(port, '/leader/watch?gate=true', 2)));
  }
  await waitFor(() => stats.openWatchers === 0);
  assert.equal(source.listenerCount('change'), baseline);
  assert.equal(sessions.activeCount, 0);
  assert.equal(await sessions.waitUntilIdle(0), true);
  await app.close();
});

test('gate sessions: the hand-off waits until the app reports idle, bounded by a timeout', async () => {
  const { app, sessions } = await setup();
  const id = sessions.open();
  const activate = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: { session: id, active: true },
  });
  assert.equal(activate.statusCode, 204);
  assert.equal(await sessions.waitUntilIdle(20), false);
  const waiting = sessions.waitUntilIdle(5_000);
  await app.inject({ method: 'POST', url: '/leader/activity', payload: { session: id, active: false } });
  assert.equal(await waiting, true);
  const unknown = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: { session: 'nope', active: false },
  });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().code, 'LEASEHOLD_SESSION_NOT_FOUND');
  await app.close();
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition());
}
