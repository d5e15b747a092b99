// The HTTP API through app.inject() (and a real socket for streams), with a scripted LeaderSource.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { test } from 'node:test';
import { buildApp } from '../src/app.ts';
import type { ElectionSnapshot } from '../src/election-state.ts';
import { LeaseholdError } from '../src/errors.ts';
import type { LeaderSource } from '../src/leader-source.ts';
import { createMetrics } from '../src/metrics.ts';
import { PromiseLedger } from '../src/promise-ledger.ts';
import { ManualClock } from './fakes.ts';

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

async function setup(options: { probesOnly?: boolean; maxWatchers?: number } = {}) {
  const source = new ScriptedSource();
  const clock = new ManualClock();
  const ledger = new PromiseLedger(clock);
  const metrics = createMetrics({
    leaseName: 'ctl',
    now: () => performance.now(),
    validForMs: () => source.snapshot().validForMs,
    ledger,
  });
  const { app, stats } = await buildApp({
    source,
    ledger,
    clock,
    sessionlessValidityMs: 500,
    registry: metrics.registry,
    lease: 'ns/ctl',
    heartbeatMs: 100,
    ...options,
  });
  return { source, ledger, clock, app, stats, metrics };
}

test('GET /leader: the holder pod as name, the full answer, no-store', async (t) => {
  const { app } = await setup();
  t.after(() => app.close());
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
});

test('GET /is-leader: 503 for a follower, 200 for the leader, same body', async (t) => {
  const { app, source } = await setup();
  t.after(() => app.close());
  assert.equal((await app.inject('/is-leader')).statusCode, 503);
  source.set({ isLeader: true, holder: 'pod-a_x1', validForMs: 9_000, role: 'leader' });
  const response = await app.inject('/is-leader');
  assert.equal(response.statusCode, 200);
  assert.equal(response.json().name, 'pod-a');
});

test('a session-less "leader" answer promises at most SESSIONLESS_VALIDITY, says so in a header, and is recorded', async (t) => {
  const { app, source, ledger, clock } = await setup();
  t.after(() => app.close());
  source.set({ isLeader: true, holder: 'pod-a_x1', validForMs: 9_000, role: 'leader' });
  for (const path of ['/leader', '/is-leader']) {
    const response = await app.inject(path);
    assert.equal(response.json().validForMs, 500, path);
    assert.equal(response.headers['leasehold-valid-for-ms'], '500', path);
  }
  assert.equal(ledger.keptAt(), clock.nowMs + 500);
  source.set({ validForMs: 120 });
  assert.equal((await app.inject('/leader')).json().validForMs, 120, 'never more than the leader has');
  source.set({ isLeader: false, validForMs: 0, role: 'follower' });
  const follower = await app.inject('/leader');
  assert.equal(follower.headers['leasehold-valid-for-ms'], '0');
  clock.nowMs += 10_000;
  assert.equal(ledger.keptAt(), clock.nowMs - 10_000 + 500, 'a follower answer promises nothing');
});

test('an answer to a gate session carries the full validity, recorded for that session', async (t) => {
  const { app, source, ledger, clock } = await setup();
  t.after(() => app.close());
  const session = ledger.attach('gate-1');
  source.set({ isLeader: true, holder: 'pod-a_x1', validForMs: 9_000, role: 'leader' });
  const response = await app.inject(`/leader?session=${session}`);
  assert.equal(response.json().validForMs, 9_000);
  assert.equal(ledger.keptAt(), clock.nowMs + 9_000);
  ledger.report(session, false);
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY, 'given back by the idle report');
  const unknown = await app.inject('/leader?session=nobody');
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().code, 'LEASEHOLD_SESSION_NOT_FOUND');
  assert.equal((await app.inject('/leader?session=has%20space')).statusCode, 400);
});

test('long-poll: /leader?afterVersion waits for the next change, or answers at its timeout', async (t) => {
  const { app, source, ledger, clock } = await setup();
  t.after(() => app.close());
  const pending = app.inject('/leader?afterVersion=7&timeoutSeconds=5');
  setTimeout(() => source.set({ holder: 'pod-a_x1', isLeader: true, validForMs: 800, epoch: 4 }), 30);
  const changed = (await pending).json();
  assert.equal(changed.version, 8);
  assert.equal(changed.name, 'pod-a');
  assert.equal(ledger.keptAt(), clock.nowMs + 500, 'promised when answered, not when asked');
  const quiet = await app.inject('/leader?afterVersion=8&timeoutSeconds=0.05');
  assert.equal(quiet.json().version, 8);
  assert.equal(source.listenerCount('change'), 0);
});

test('errors are JSON with stable codes: 404, 405 with Allow, 400, 413 and 415 keep their status', async (t) => {
  const { app } = await setup();
  t.after(() => app.close());
  const missing = await app.inject('/nope');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'LEASEHOLD_ROUTE_NOT_FOUND');
  const wrongMethod = await app.inject({ method: 'DELETE', url: '/leader' });
  assert.equal(wrongMethod.statusCode, 405);
  assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  assert.equal(wrongMethod.json().code, 'LEASEHOLD_METHOD_NOT_ALLOWED');
  assert.equal((await app.inject('/leader/resign')).statusCode, 405);
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
  const huge = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: JSON.stringify({ session: 'x', active: false, pad: 'x'.repeat(2 * 1024 * 1024) }),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(huge.statusCode, 413);
  assert.equal(huge.json().code, 'LEASEHOLD_PAYLOAD_TOO_LARGE');
  const text = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: '<a/>',
    headers: { 'content-type': 'application/xml' },
  });
  assert.equal(text.statusCode, 415);
  assert.equal(text.json().code, 'LEASEHOLD_UNSUPPORTED_MEDIA_TYPE');
});

test('POST /leader/resign: 409 for a follower, 202 with the pause for the leader', async (t) => {
  const { app, source } = await setup();
  t.after(() => app.close());
  const refused = await app.inject({ method: 'POST', url: '/leader/resign' });
  assert.equal(refused.statusCode, 409);
  assert.equal(refused.json().code, 'LEASEHOLD_NOT_LEADER');
  source.set({ isLeader: true });
  const accepted = await app.inject({ method: 'POST', url: '/leader/resign?pauseSeconds=2.5' });
  assert.equal(accepted.statusCode, 202);
  assert.equal(accepted.json().pauseSeconds, 2.5);
  assert.deepEqual(source.resigned, [2_500]);
});

test('metrics: client-go master status, leasehold_* series and gate sessions, values not just names', async (t) => {
  const { app, source, metrics, ledger } = await setup();
  t.after(() => app.close());
  source.set({ isLeader: true, epoch: 9, validForMs: 4_000 });
  metrics.hooks.stateChanged?.(source.snapshot());
  metrics.hooks.acquired?.(9);
  metrics.hooks.renewed?.(0.012);
  metrics.hooks.demoted?.('lost', 9);
  metrics.hooks.conflict?.();
  metrics.hooks.promisesWaited?.(0.3);
  ledger.report(ledger.attach('a'), true);
  ledger.attach('b');
  const text = (await app.inject('/metrics')).body;
  assert.match(text, /^leader_election_master_status\{name="ctl"\} 1$/m);
  assert.match(text, /^leasehold_is_leader 1$/m);
  assert.match(text, /^leasehold_epoch 9$/m);
  assert.match(text, /^leasehold_leadership_transitions_total\{kind="acquired"\} 1$/m);
  assert.match(text, /^leasehold_leadership_transitions_total\{kind="lost"\} 1$/m);
  assert.match(text, /^leasehold_renew_duration_seconds_count 1$/m);
  assert.match(text, /^leasehold_conflicts_total 1$/m);
  assert.match(text, /^leasehold_validity_remaining_seconds 4$/m);
  assert.match(text, /^leasehold_seconds_since_last_renew \d/m);
  assert.match(text, /^leasehold_handoff_promise_wait_seconds_sum 0.3$/m);
  assert.match(text, /^leasehold_gate_sessions\{state="active"\} 1$/m);
  assert.match(text, /^leasehold_gate_sessions\{state="idle"\} 1$/m);
  assert.match(text, /^process_resident_memory_bytes \d+/m);
});

test('healthz fails for a leader past its deadline; readyz needs the Lease state', async (t) => {
  const { app, source } = await setup();
  t.after(() => app.close());
  assert.equal((await app.inject('/healthz')).statusCode, 200);
  assert.equal((await app.inject('/readyz')).statusCode, 200);
  source.set({ role: 'leader', isLeader: false });
  assert.equal((await app.inject('/healthz')).statusCode, 503);
  source.set({ role: 'follower', known: false });
  const readyz = await app.inject('/readyz');
  assert.equal(readyz.statusCode, 503);
  assert.equal(readyz.json().status, 'not ready');
});

test('the probe listener serves only /healthz, /readyz, /metrics; the leader API is not there', async (t) => {
  const { app } = await setup({ probesOnly: true });
  t.after(() => app.close());
  for (const path of ['/healthz', '/readyz', '/metrics'])
    assert.equal((await app.inject(path)).statusCode, 200, path);
  for (const path of ['/leader', '/is-leader', '/leader/watch']) {
    const response = await app.inject(path);
    assert.equal(response.statusCode, 404, path);
    assert.equal(response.json().code, 'LEASEHOLD_ROUTE_NOT_FOUND');
  }
  assert.equal((await app.inject({ method: 'POST', url: '/leader/resign' })).statusCode, 404);
  assert.equal((await app.inject({ method: 'POST', url: '/metrics' })).statusCode, 405);
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

test('SSE /leader/watch: hello, current state, then every change; each event a promise with its stream deadline', async (t) => {
  const { app, source, stats, ledger, clock } = await setup();
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const events = await readEvents(port, '/leader/watch', 3, () => {
    clock.nowMs += 250; // the stream has been open a while when the gain comes
    source.set({ isLeader: true, epoch: 5, validForMs: 9_000 });
  });
  assert.deepEqual(
    events.map((e) => e.event),
    ['hello', 'leader', 'leader'],
  );
  assert.equal(events[0]?.data.session, null);
  assert.equal(events[1]?.data.isLeader, false);
  assert.equal(events[1]?.data.streamDeadlineMs, 0);
  assert.equal(events[2]?.data.isLeader, true);
  assert.equal(events[2]?.data.epoch, 5);
  assert.equal(events[2]?.data.validForMs, 500, 'session-less: capped');
  assert.equal(events[2]?.data.streamDeadlineMs, 750, 'counted from when the stream was opened');
  assert.equal(ledger.keptAt(), clock.nowMs + 500);
  await waitFor(() => stats.openWatchers === 0);
});

test('SSE with a gate session: the id the client chose is kept across reconnects; events promise to that session', async (t) => {
  const { app, source, ledger, clock } = await setup();
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  source.set({ isLeader: true, epoch: 5, validForMs: 9_000 });
  const first = await readEvents(port, '/leader/watch?gate=true&session=my-gate', 2);
  assert.equal(first[0]?.data.session, 'my-gate');
  assert.equal(first[1]?.data.validForMs, 9_000);
  assert.equal(ledger.keptAt(), clock.nowMs + 9_000);
  await waitFor(() => ledger.has('my-gate'));
  const again = await readEvents(port, '/leader/watch?session=my-gate', 2);
  assert.equal(again[0]?.data.session, 'my-gate');
  assert.equal(ledger.sessionCount, 1);
  const generated = await readEvents(port, '/leader/watch?gate=true', 1);
  assert.match(generated[0]?.data.session, /^[0-9a-f-]{36}$/);
});

test('thousands of watch connect/disconnect cycles leak no listener or stream', async (t) => {
  const { app, source, stats } = await setup();
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const baseline = source.listenerCount('change');
  for (let round = 0; round < 40; round++) {
    await Promise.all(Array.from({ length: 50 }, () => readEvents(port, '/leader/watch?gate=true', 2)));
  }
  await waitFor(() => stats.openWatchers === 0);
  assert.equal(source.listenerCount('change'), baseline);
});

test("POST /leader/activity: idle gives the session's promises back; unknown sessions are 404", async (t) => {
  const { app, ledger, clock } = await setup();
  t.after(() => app.close());
  const id = ledger.attach();
  ledger.promise(clock.nowMs + 8_000, id);
  const active = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: { session: id, active: true },
  });
  assert.equal(active.statusCode, 204);
  assert.equal(ledger.keptAt(), clock.nowMs + 8_000);
  await app.inject({ method: 'POST', url: '/leader/activity', payload: { session: id, active: false } });
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY);
  const unknown = await app.inject({
    method: 'POST',
    url: '/leader/activity',
    payload: { session: 'nope', active: false },
  });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().code, 'LEASEHOLD_SESSION_NOT_FOUND');
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(condition());
}

test('MAX_STREAMS: one stream past the cap is refused with 503, its code, what to do and Retry-After; a closed one frees its place', async (t) => {
  const { app, stats } = await setup({ maxWatchers: 2 });
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const open = (path: string) =>
    new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request({ port, path, host: '127.0.0.1' }, resolve);
      req.on('error', reject);
      req.end();
    });
  const first = await open('/leader/watch');
  const second = await open('/shards/watch'); // refused (not sharded): holds no place
  second.resume();
  const third = await open('/leader/watch?gate=true');
  assert.equal(first.statusCode, 200);
  assert.equal(third.statusCode, 200);
  await waitFor(() => stats.openWatchers === 2);
  const refused = await open('/leader/watch');
  assert.equal(refused.statusCode, 503);
  assert.equal(refused.headers['retry-after'], '1');
  let body = '';
  for await (const chunk of refused) body += chunk;
  const error = JSON.parse(body) as { code: string; message: string };
  assert.equal(error.code, 'LEASEHOLD_TOO_MANY_WATCHERS');
  assert.match(error.message, /MAX_STREAMS.*close the streams you no longer read.*Retry-After: limit 2/);
  first.destroy();
  await waitFor(() => stats.openWatchers === 1);
  const again = await open('/leader/watch');
  assert.equal(again.statusCode, 200, 'the freed place is taken');
  again.destroy();
  third.destroy();
  await waitFor(() => stats.openWatchers === 0);
});
