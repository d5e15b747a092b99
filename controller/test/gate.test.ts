// The gate against the sidecar's real HTTP API driven by a scripted election (support/scripted-sidecar.ts).
// Each test holds one guard of the gate.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLeaderGate, type GateError, TermEndedError } from '../src/index.ts';
import { FakeClock } from './support/fake-clock.ts';
import { gateFor, sidecar, until } from './support/scripted-sidecar.ts';

test('leadership needs a timed answer: isLeader only while sentAt + validForMs has not passed', async (t) => {
  const { source, app, url, settled } = await sidecar();
  t.after(() => app.close());
  source.lead(4, 400);
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000, clock });
  const changes: boolean[] = [];
  gate.on('change', (state) => changes.push(state.isLeader));
  await gate.waitForLeadership();
  await settled();
  assert.equal(gate.current().epoch, 4);
  assert.equal(gate.current().validForMs, 399, 'sent and answered within a nanosecond of this clock');
  // No refresh comes (long poll interval, no change pushed): the deadline runs out, fail closed.
  await clock.advance(399);
  assert.equal(gate.isLeader(), true);
  await clock.advance(1);
  assert.equal(gate.isLeader(), false, 'at the deadline itself, no longer');
  assert.deepEqual(changes, [true, false], "the deadline's passing is announced");
});

test('the gate asks as its session: promises are kept for it in the ledger, with the full validity', async (t) => {
  const { source, app, url, ledger } = await sidecar();
  t.after(() => app.close());
  source.lead(2, 9_000);
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  await gate.waitForLeadership();
  assert.ok(ledger.has(gate.session));
  assert.ok(gate.current().validForMs > 8_000, 'a session gets more than the session-less 500 ms');
  assert.ok(ledger.keptAt() > performance.now() + 8_000);
});

test('a pushed loss is applied at once, without asking again', async (t) => {
  const { source, app, url, count, settled } = await sidecar();
  t.after(() => app.close());
  source.lead(2);
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000, clock });
  await gate.waitForLeadership();
  await settled();
  const asked = count('GET /leader');
  source.follow();
  await until(() => !gate.isLeader(), 1_000);
  assert.equal(gate.current().holder, 'other_2');
  await settled();
  assert.equal(count('GET /leader'), asked, 'a loss needs no GET');
});

test('an answer computed before a pushed loss cannot promote the gate again', async (t) => {
  const { source, app, url, faults, count, settled } = await sidecar();
  t.after(() => app.close());
  source.lead(2);
  const clock = new FakeClock();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000, clock });
  await gate.waitForLeadership();
  await settled();
  const asked = count('GET /leader');
  faults.getMs = 300;
  source.set({ epoch: 3 }); // a gain-shaped event: the gate asks; the answer (leader) is held 300 ms
  await until(() => count('GET /leader') === asked + 1);
  await clock.advance(5);
  source.follow(); // the loss overtakes the held answer
  await until(() => !gate.isLeader(), 500);
  await settled(); // the held "leader" answer has arrived and been weighed
  assert.equal(gate.isLeader(), false);
  assert.equal(gate.current().holder, 'other_2', 'the held answer (holder me_1) was not taken');
});

test('runWhileLeader: runs per term with its epoch, aborts on loss, gives its promises back when stopped', async (t) => {
  const { source, app, url, ledger } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 100 });
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
  await until(() => ledger.activeCount === 1);
  assert.ok(ledger.keptAt() > performance.now() + 5_000, 'promised to the session');
  source.follow();
  await until(() => runs[0]?.aborted === true);
  await until(() => ledger.activeCount === 0);
  await until(() => ledger.keptAt() < performance.now(), 1_000);
  source.lead(8);
  await until(() => runs.length === 2);
  assert.deepEqual(
    runs.map((r) => r.epoch),
    [7, 8],
  );
  stop.abort();
  await loop;
  assert.equal(runs[1]?.aborted, true);
});

test('a new epoch ends the term even without a loss in between', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  const reasons: string[] = [];
  const epochs: number[] = [];
  const stop = new AbortController();
  const loop = gate.runWhileLeader(
    async ({ signal, epoch }) => {
      epochs.push(epoch);
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      reasons.push((signal.reason as TermEndedError).message);
    },
    { signal: stop.signal },
  );
  source.lead(4);
  await until(() => epochs.length === 1);
  source.lead(5);
  await until(() => epochs.length === 2);
  assert.deepEqual(epochs, [4, 5]);
  assert.match(reasons[0] ?? '', /new epoch/);
  stop.abort();
  await loop;
});

test('a restarted sidecar hears the activity again: the gate keeps its session id and re-reports it', async (t) => {
  const first = await sidecar();
  const port = Number(new URL(first.url).port);
  const gate = gateFor(first.url, t, { pollIntervalMs: 100 });
  const stop = new AbortController();
  const loop = gate.runWhileLeader(
    async ({ signal }) => {
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    },
    { signal: stop.signal },
  );
  first.source.lead(3);
  await until(() => first.ledger.activeCount === 1);
  await first.app.close();
  const second = await sidecar(port, first.source);
  t.after(() => second.app.close());
  await until(() => second.ledger.has(gate.session), 5_000);
  await until(() => second.ledger.activeCount === 1, 5_000);
  stop.abort();
  await loop;
  await until(() => second.ledger.activeCount === 0);
});

test('the sidecar stops answering: the term is aborted by its deadline (fail closed)', async (t) => {
  const { source, app, url } = await sidecar();
  source.lead(3, 500);
  const gate = gateFor(url, t, { pollIntervalMs: 100, requestTimeoutMs: 200 });
  let aborted: unknown;
  const loop = gate.runWhileLeader(async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    aborted = signal.reason;
  });
  await until(() => gate.isLeader());
  await app.close();
  await until(() => aborted !== undefined, 2_000);
  assert.ok(aborted instanceof TermEndedError);
  assert.ok(aborted.endedAt <= performance.now());
  assert.equal(gate.isLeader(), false);
  await gate.close();
  await loop;
});

test('a function that throws ends its term run, not the loop; errors go to onError', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  const errors: unknown[] = [];
  const gate = gateFor(url, t, { pollIntervalMs: 100, onError: (err: unknown) => errors.push(err) });
  let calls = 0;
  const loop = gate.runWhileLeader(async () => {
    calls++;
    throw new Error('boom');
  });
  source.lead(1);
  await until(() => calls === 1);
  source.follow();
  await until(() => !gate.isLeader());
  source.lead(2);
  await until(() => calls === 2);
  assert.ok(errors.some((e) => (e as Error).message === 'boom'));
  await gate.close();
  await loop;
});

test('close() tells the sidecar this gate acts no more: its promises are given back', async (t) => {
  const { source, app, url, ledger } = await sidecar();
  t.after(() => app.close());
  source.lead(2, 9_000);
  const gate = createLeaderGate({ url, pollIntervalMs: 60_000 });
  await gate.waitForLeadership();
  assert.ok(ledger.keptAt() > performance.now() + 5_000);
  await gate.close();
  assert.ok(ledger.keptAt() < performance.now());
});

test('waitForLeadership rejects with stable codes on abort and close; bad options are refused', async (t) => {
  const { app, url } = await sidecar();
  t.after(() => app.close());
  const gate = createLeaderGate({ url });
  const aborted = new AbortController();
  const waiting = gate.waitForLeadership(aborted.signal);
  aborted.abort();
  await assert.rejects(waiting, (err: GateError) => err.code === 'LEASEHOLD_GATE_ABORTED');
  const closing = gate.waitForLeadership();
  await gate.close();
  await assert.rejects(closing, (err: GateError) => err.code === 'LEASEHOLD_GATE_CLOSED');
  assert.throws(
    () => createLeaderGate({ url: 'not a url' }),
    (err: GateError) => err.code === 'LEASEHOLD_GATE_INVALID_OPTION',
  );
  assert.throws(() => createLeaderGate({ url, pollIntervalMs: -1 }), /pollIntervalMs/);
});
