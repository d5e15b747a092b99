// The gate's session with the sidecar under faults: polls, activity reports and their retries, a stream
// that drops or never connects, a close() in the middle of things. Each test holds one guard of gate.ts.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { type TestContext, test } from 'node:test';
import { createLeaderGate, type GateError, type GateState } from '../src/index.ts';
import { retryDelayMs } from '../src/retry.ts';

/** A retry delay at the top of its jitter range, as gateFor's gates wait. */
const delayMs = (failures: number) => retryDelayMs(failures, () => 1);

import { advanceBy, advanceUntil, FakeClock } from './support/fake-clock.ts';
import { gateFor, sidecar, until, untilAborted } from './support/scripted-sidecar.ts';

const codes = (errors: unknown[]) => errors.map((e) => (e as GateError).code);

test('before any answer the gate says nothing: not leader, no epoch, no names', async (t) => {
  const { app, url } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  assert.deepEqual(gate.current(), { isLeader: false, epoch: null, holder: '', name: '', validForMs: 0 });
});

test('options: $LEASEHOLD_URL is the default sidecar; each invalid option is named with its value', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  source.lead(6);
  const saved = process.env.LEASEHOLD_URL;
  process.env.LEASEHOLD_URL = url;
  t.after(() => {
    if (saved === undefined) delete process.env.LEASEHOLD_URL;
    else process.env.LEASEHOLD_URL = saved;
  });
  const gate = gateFor(undefined as unknown as string, t, { pollIntervalMs: 60_000 });
  assert.deepEqual(await gate.waitForLeadership(), { epoch: 6 });
  assert.throws(() => createLeaderGate({ url: 'nope' }), /url "nope" is not a URL/);
  assert.throws(
    () => createLeaderGate({ url, pollIntervalMs: 0 }),
    /pollIntervalMs must be a positive number, got 0/,
  );
  assert.throws(
    () => createLeaderGate({ url, requestTimeoutMs: Number.POSITIVE_INFINITY }),
    /requestTimeoutMs must be a positive number, got Infinity/,
  );
});

test('polls keep a short promise alive; steady leadership is one change, a loss one more, a new holder one more', async (t) => {
  const { source, app, url, count, settled } = await sidecar();
  t.after(() => app.close());
  source.lead(3, 300);
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 50, clock });
  const changes: GateState[] = [];
  gate.on('change', (state) => changes.push(state));
  await gate.waitForLeadership();
  await settled();
  const asked = count('GET /leader');
  // Three validities long, looked at every 10 ms: never a gap.
  await advanceBy(clock, settled, 900, 10, () =>
    assert.equal(gate.isLeader(), true, 'polled answers renew the deadline before it passes'),
  );
  // Asked when half of each validity was left: every 150 ms.
  assert.equal(count('GET /leader') - asked, 6, 'asked again at half of each validity');
  assert.deepEqual(
    changes.map((c) => c.isLeader),
    [true],
  );
  source.follow();
  await until(() => changes.length === 2);
  await advanceBy(clock, settled, 400, 50); // past the last promised deadline: no stale timer announces anything
  assert.equal(changes.length, 2);
  source.set({ holder: 'third_3' });
  await until(() => changes.length === 3);
  assert.deepEqual(
    changes.map((c) => [c.isLeader, c.holder]),
    [
      [true, 'me_1'],
      [false, 'other_2'],
      [false, 'third_3'],
    ],
  );
});

test('a follower its stream keeps informed sends no polls; a pushed gain is asked about until confirmed; without a stream it polls', async (t) => {
  const { source, app, url, faults, count, dropStreams, settled } = await sidecar();
  t.after(() => app.close());
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 20, clock });
  await until(() => count('POST /leader/activity') === 1 && count('GET /leader') === 2); // hello, idle confirmed
  await advanceBy(clock, settled, 200, 20); // ten poll intervals
  assert.equal(count('GET /leader'), 2, 'the stream says another replica leads: nothing to ask');
  // A gain whose confirmation fails is asked about again every poll interval, until an answer admits it.
  faults.getStatus = 503;
  source.lead(4);
  await until(() => count('GET /leader') === 3); // the pushed gain, asked about at once
  // Three more within four intervals: every interval, not after a leader's half validity.
  await advanceUntil(clock, settled, () => count('GET /leader') === 6, { stepMs: 20, maxMs: 80 });
  assert.equal(gate.isLeader(), false);
  faults.getStatus = 0;
  await advanceUntil(clock, settled, () => gate.isLeader(), { stepMs: 20, maxMs: 20 });
  source.follow();
  await until(() => !gate.isLeader());
  await settled();
  const asked = count('GET /leader');
  await advanceBy(clock, settled, 200, 20);
  assert.equal(count('GET /leader'), asked, 'a pushed loss stops the polls again');
  // The stream breaks and cannot be opened again: the gate polls, and finds the gain that way.
  faults.watchStatus = 503;
  dropStreams();
  source.lead(5);
  await advanceUntil(clock, settled, () => gate.isLeader(), { stepMs: 20, maxMs: 100 });
  assert.equal(gate.current().epoch, 5);
});

test('a leader its stream keeps informed asks when half its validity is left; without a stream, every interval', async (t) => {
  const { source, app, url, faults, count, dropStreams, settled } = await sidecar();
  t.after(() => app.close());
  source.lead(7, 2_000);
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 20, clock });
  await gate.waitForLeadership();
  await settled();
  const asked = count('GET /leader');
  // Longer than one validity, looked at every 10 ms: the deadline never passes.
  await advanceBy(clock, settled, 2_500, 10, () =>
    assert.equal(gate.isLeader(), true, 'asked again before the deadline'),
  );
  // 20 ms after the gain (armed before its answer came), then at half of each 2 s answer: 1.02 s, 2.02 s.
  assert.equal(count('GET /leader') - asked, 3, 'one poll per half validity, not one per 20 ms');
  // Lost, then a gain whose confirmation fails: asked about every interval, not after the leader's delay.
  source.follow();
  await until(() => !gate.isLeader());
  faults.getStatus = 503;
  await settled();
  const beforeGain = count('GET /leader');
  source.lead(8, 2_000);
  await until(() => count('GET /leader') === beforeGain + 1);
  // Every poll interval while unconfirmed: three more within four intervals.
  await advanceUntil(clock, settled, () => count('GET /leader') === beforeGain + 4, {
    stepMs: 20,
    maxMs: 80,
  });
  faults.getStatus = 0;
  await advanceUntil(clock, settled, () => gate.isLeader(), { stepMs: 20, maxMs: 20 });
  // The stream breaks and cannot be opened again: polls every interval from then on, at once.
  faults.watchStatus = 503;
  await settled();
  const dropped = count('GET /leader');
  const armed = clock.pending;
  dropStreams();
  await until(() => clock.pending === armed + 1); // the gate saw it: its reconnect is armed
  await advanceBy(clock, settled, 100, 20);
  // Every 20 ms, not at the leader's half validity (1 s): four or five in 100 ms.
  assert.ok(count('GET /leader') >= dropped + 4, `${count('GET /leader') - dropped} polls in 100 ms`);
  assert.equal(gate.isLeader(), true);
});

test('twenty waiters at once: no listener-leak warning; each waiter removes its listeners', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const stop = new AbortController();
  const waiting = Array.from({ length: 20 }, () => gate.waitForLeadership(stop.signal));
  assert.equal(gate.listenerCount('change'), 20);
  source.lead(2);
  await Promise.all(waiting);
  assert.deepEqual(warnings, []);
  assert.equal(gate.listenerCount('change'), 0);
  assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  // Already leading: resolves at once, with no change to wait for.
  assert.deepEqual(await gate.waitForLeadership(), { epoch: 2 });
});

test('runWhileLeader: an aborted signal runs nothing; an early return is not re-run in the same term; an error after the end is not reported', async (t) => {
  const { source, app, url, count, settled } = await sidecar();
  t.after(() => app.close());
  const errors: unknown[] = [];
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 20, onError: (err) => errors.push(err), clock });
  source.lead(2);
  await gate.waitForLeadership();
  let calls = 0;
  await gate.runWhileLeader(async () => void calls++, { signal: AbortSignal.abort() });
  assert.equal(calls, 0);
  const stop = new AbortController();
  const loop = gate.runWhileLeader(
    async ({ signal }) => {
      calls++;
      if (calls === 1) return; // done early: waits for the next term
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      throw signal.reason; // what an aborted request throws: the end of the term, not a failure
    },
    { signal: stop.signal },
  );
  await until(() => calls === 1);
  await advanceBy(clock, settled, 5_000, 250); // several polls of the same term
  assert.ok(count('GET /leader') >= 4, 'polled meanwhile');
  assert.equal(calls, 1, 'one run per term');
  source.lead(3);
  await until(() => calls === 2);
  stop.abort();
  await loop;
  assert.deepEqual(errors, []);
  assert.equal(gate.listenerCount('change'), 0);
  assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
});

test('work stopped: the gate trusts nothing until the sidecar confirms idle, then asks again', async (t) => {
  const { source, app, url, ledger } = await sidecar();
  t.after(() => app.close());
  source.lead(4);
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  const stop = new AbortController();
  const loop = gate.runWhileLeader(
    async (term) => {
      stop.abort(); // the work is told to stop
      await untilAborted(term);
    },
    { signal: stop.signal },
  );
  await loop;
  assert.equal(gate.isLeader(), false, 'its promises are being given back');
  await until(() => gate.isLeader());
  assert.equal(ledger.activeCount, 0);
});

test('a failed activity report is retried with backoff until the sidecar confirms it', async (t) => {
  const { source, app, url, ledger, faults, count, settled } = await sidecar();
  t.after(() => app.close());
  const errors: unknown[] = [];
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000, onError: (err) => errors.push(err), clock });
  await until(() => count('POST /leader/activity') === 1); // idle, said at the first hello
  faults.activity.push({ status: 500, code: 'X' }, { status: 503, code: 'X' });
  source.lead(2);
  const stop = new AbortController();
  const loop = gate.runWhileLeader(untilAborted, {
    signal: stop.signal,
  });
  await until(() => count('POST /leader/activity') === 2); // refused
  await settled();
  // Backing off: each retry comes exactly its delay after the failure, not before.
  await clock.advance(delayMs(1) - 1);
  await settled();
  assert.equal(count('POST /leader/activity'), 2, 'not before the first delay');
  await clock.advance(1);
  await until(() => count('POST /leader/activity') === 3); // refused again
  await settled();
  await clock.advance(delayMs(2) - 1);
  await settled();
  assert.equal(count('POST /leader/activity'), 3, 'not before the second, longer delay');
  await clock.advance(1);
  await until(() => ledger.activeCount === 1, 1_000);
  assert.equal(count('POST /leader/activity'), 4);
  assert.deepEqual(codes(errors), ['LEASEHOLD_GATE_BAD_RESPONSE', 'LEASEHOLD_GATE_BAD_RESPONSE']);
  stop.abort();
  await loop;
});

test('a session the sidecar does not know: no error, no retry; the next hello reports again', async (t) => {
  const { source, app, url, ledger, faults, count, dropStreams, settled } = await sidecar();
  t.after(() => app.close());
  const errors: unknown[] = [];
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000, onError: (err) => errors.push(err), clock });
  await until(() => count('POST /leader/activity') === 1);
  faults.activity.push({ status: 404, code: 'LEASEHOLD_SESSION_NOT_FOUND' });
  source.lead(2);
  const stop = new AbortController();
  const loop = gate.runWhileLeader(untilAborted, {
    signal: stop.signal,
  });
  await until(() => count('POST /leader/activity') === 2);
  await advanceBy(clock, settled, delayMs(1) + delayMs(2) + 10, 10); // past the first two retry delays
  assert.equal(count('POST /leader/activity'), 2, 'not retried: only a new hello can help');
  assert.equal(ledger.activeCount, 0);
  dropStreams();
  await advanceUntil(clock, settled, () => ledger.activeCount === 1, {
    stepMs: 10,
    maxMs: 2 * delayMs(1),
  });
  assert.equal(codes(errors).includes('LEASEHOLD_GATE_SESSION_UNKNOWN'), false);
  stop.abort();
  await loop;
});

test('a hello re-reports only what the sidecar may not know: idle once, a running term every time', async (t) => {
  const { source, app, url, ledger, count, dropStreams } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  const hellos = () => count('GET /leader/watch');
  for (let i = 1; i <= 3; i++) {
    await until(() => hellos() === i && ledger.has(gate.session));
    dropStreams();
  }
  await until(() => hellos() === 4 && ledger.has(gate.session));
  assert.equal(count('POST /leader/activity'), 1, 'idle said once, at the first hello');
  source.lead(5);
  const stop = new AbortController();
  const loop = gate.runWhileLeader(untilAborted, {
    signal: stop.signal,
  });
  await until(() => ledger.activeCount === 1);
  dropStreams();
  await until(() => count('POST /leader/activity') === 3 && ledger.activeCount === 1);
  stop.abort();
  await loop;
});

test('close(): once; nothing changes after it, not a late answer nor a passing deadline; an idle gate sends nothing', async (t) => {
  const { source, app, url, faults, count, settled, requests } = await sidecar();
  t.after(() => app.close());
  source.lead(2, 300);
  const errors: unknown[] = [];
  const clock = new FakeClock();
  const gate = createLeaderGate({ url, pollIntervalMs: 60_000, onError: (err) => errors.push(err), clock });
  await gate.waitForLeadership();
  const changes: GateState[] = [];
  gate.on('change', (state) => changes.push(state));
  faults.getMs = 150;
  source.set({ epoch: 3 }); // the gate asks; the answer is held
  await until(() => count('GET /leader') >= 2);
  await Promise.all([gate.close(), gate.close()]); // close waits for the held answer
  await advanceBy(clock, settled, 400, 50); // the old deadline has passed too
  assert.deepEqual(
    changes.map((c) => c.isLeader),
    [false],
  );
  assert.deepEqual(errors, []);

  source.follow();
  faults.getMs = 0;
  const gets = count('GET /leader');
  const idle = createLeaderGate({ url, pollIntervalMs: 60_000 });
  // Idle said at its first hello and confirmed: the gate asks again after each (hello, confirmation).
  await until(() => count('POST /leader/activity') === 3 && count('GET /leader') === gets + 2).catch(
    (err) => {
      throw new Error(`${err.message}: ${JSON.stringify(requests)} gets ${gets}`);
    },
  );
  await idle.close();
  assert.equal(count('POST /leader/activity'), 3, 'nothing to give back');
});

test('work stopped and the sidecar no longer knows the session: nothing is held, the gate asks again at once', async (t) => {
  const { source, app, url, faults, count, ledger } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  await until(() => count('POST /leader/activity') === 1);
  source.lead(2);
  const stop = new AbortController();
  const loop = gate.runWhileLeader(untilAborted, { signal: stop.signal });
  await until(() => ledger.activeCount === 1);
  faults.activity.push({ status: 404, code: 'LEASEHOLD_SESSION_NOT_FOUND' });
  const gets = count('GET /leader');
  stop.abort(); // the idle report meets a sidecar that restarted: it holds nothing for us
  await loop;
  // Nothing to give back, so no waiting for a confirmation that cannot come: ask, and lead again.
  await until(() => count('GET /leader') > gets, 1_000);
  await until(() => gate.isLeader(), 1_000);
});

test('close() while a leader answer is on its way: the promise it carries is given back', async (t) => {
  // A pod's SIGTERM can land between the sidecar promising leadership and the gate reading the answer.
  const { source, app, url, faults, count, ledger } = await sidecar();
  t.after(() => app.close());
  const gate = createLeaderGate({ url, pollIntervalMs: 60_000 });
  await until(() => count('POST /leader/activity') === 1 && count('GET /leader') === 2);
  faults.getMs = 150;
  const gets = count('GET /leader');
  source.lead(4); // pushed: the gate asks, the sidecar promises, the answer is held
  await until(() => count('GET /leader') === gets + 1);
  await gate.close();
  assert.equal(gate.isLeader(), false);
  assert.equal(ledger.keptAt(), Number.NEGATIVE_INFINITY, 'nothing left for a hand-over to wait for');
});

test('a failing poll goes to onError, and the gate stays a follower', async (t) => {
  const { app, url, faults } = await sidecar();
  t.after(() => app.close());
  faults.getStatus = 500;
  const errors: unknown[] = [];
  const gate = gateFor(url, t, { pollIntervalMs: 20, onError: (err) => errors.push(err) });
  await until(() => errors.length >= 2);
  assert.equal(codes(errors)[0], 'LEASEHOLD_GATE_BAD_RESPONSE');
  assert.equal(gate.isLeader(), false);
});

/** A sidecar that drops every connection; the gate's first five attempts, each exactly its delay apart. */
async function droppedReconnects(t: TestContext, random: () => number): Promise<number> {
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => server.close());
  const errors: unknown[] = [];
  const port = (server.address() as { port: number }).port;
  const clock = new FakeClock();
  const gate = gateFor(`http://127.0.0.1:${port}`, t, {
    pollIntervalMs: 20,
    onError: (err) => errors.push(err),
    clock,
    random,
  });
  // No hello, no session, so no polls (one every 20 ms would be some 75 connections more).
  let due = 0;
  for (let attempt = 1; attempt <= 5; attempt++) {
    await until(() => errors.length === attempt); // this attempt failed
    assert.equal(connections, attempt);
    if (attempt === 5) break;
    const delay = retryDelayMs(attempt, random);
    await clock.advance(delay - 1);
    due += delay;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(errors.length, attempt, `no attempt before ${due} ms`);
    await clock.advance(1);
  }
  assert.equal(codes(errors)[0], 'LEASEHOLD_GATE_SIDECAR_UNREACHABLE');
  assert.equal(gate.isLeader(), false);
  return due;
}

test('a sidecar that drops every stream: reconnects back off (5 in 1.5 s at the top of the jitter), each failure reported', async (t) => {
  // Retries after 100, 200, 400, 800 ms; without backoff, hundreds.
  assert.equal(await droppedReconnects(t, () => 1), 1_500);
});

test('reconnect delays are jittered: at the bottom of the range the same five attempts take 750 ms', async (t) => {
  // Retries after 50, 100, 200, 400 ms: gates that lost their sidecars together spread out.
  assert.equal(await droppedReconnects(t, () => 0), 750);
});

test('events the gate does not know (a newer sidecar) are ignored, not read as a loss', async (t) => {
  let sentUnknown = false;
  let gets = 0;
  const server = createHttpServer((request, response) => {
    if (request.url?.startsWith('/leader/watch')) {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('event: hello\ndata: {"session":"s","heartbeatMs":1000}\n\n');
      setTimeout(() => {
        response.write('event: shards\ndata: {"shards":[]}\n\n');
        // Then a gain, which the gate confirms with a GET: by then it has read the unknown event.
        response.write(
          'event: leader\ndata: {"isLeader":true,"epoch":1,"holder":"me_1","name":"n","identity":"me_1","validForMs":10000}\n\n',
        );
        sentUnknown = true;
      }, 100).unref();
      return;
    }
    if (request.method === 'GET') gets++;
    if (request.method === 'POST') return void response.writeHead(204).end();
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        name: 'n',
        holder: 'me_1',
        identity: 'me_1',
        isLeader: true,
        epoch: 1,
        validForMs: 10_000,
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const gate = gateFor(`http://127.0.0.1:${port}`, t, { pollIntervalMs: 60_000 });
  const changes: GateState[] = [];
  gate.on('change', (state) => changes.push(state));
  await gate.waitForLeadership();
  const before = gets;
  await until(() => sentUnknown && gets > before);
  assert.equal(gate.isLeader(), true);
  assert.equal(changes.length, 1);
});
