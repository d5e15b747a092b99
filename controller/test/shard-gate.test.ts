// The shard gate against a sharded sidecar's real HTTP API over scripted shards: ownership per shard from
// GET /shards, deadlines from the send time, terms per shard fenced by that shard's epoch, fail-closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createShardGate, maxShards, shardOf, type TermEndedError } from '../src/index.ts';
import { advanceBy, advanceUntil, FakeClock } from './support/fake-clock.ts';
import { shardedSidecar, shardGateFor } from './support/scripted-shards.ts';
import { until } from './support/scripted-sidecar.ts';

/** A key of each shard (0 … count − 1), found by shardOf. */
function keysByShard(count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.filter(Boolean).length < count; i++) {
    const key = `ns/object-${i}`;
    keys[shardOf(key, count)] ??= key;
  }
  return keys;
}

test("ownsKey(key): the key's shard is held by this replica; nothing is owned before the first answer", async (t) => {
  const { app, url, shard } = await shardedSidecar(3);
  t.after(() => app.close());
  shard(1).lead(4);
  const gate = shardGateFor(url, t);
  const keys = keysByShard(3);
  assert.equal(gate.ownsKey(keys[1] as string), false, 'unknown count: owns nothing');
  assert.equal(gate.count, undefined);
  assert.deepEqual(gate.current(), []);
  assert.equal(gate.epochOf(1), null);
  await until(() => gate.ownsShard(1));
  assert.equal(gate.count, 3);
  assert.deepEqual(
    keys.map((key) => gate.ownsKey(key)),
    [false, true, false],
  );
  assert.equal(gate.shardOf(keys[2] as string), 2);
  assert.equal(gate.epochOf(1), 4);
  const states = gate.current();
  assert.deepEqual(
    states.map((s) => [s.shard, s.isOwned, s.holder]),
    [
      [0, false, 'other_2'],
      [1, true, 'me_1'],
      [2, false, 'other_2'],
    ],
  );
  const held = states[1]?.validForMs ?? 0;
  assert.ok(held > 500 && held <= 10_000, `a promise to the gate's session, the full validity: ${held} ms`);
});

test("runWhileOwning: one term per shard with its epoch; a loss or a new epoch ends only that shard's term", async (t) => {
  const { app, url, shard } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(0).lead(7);
  shard(1).lead(3);
  const gate = shardGateFor(url, t, { pollIntervalMs: 20 });
  const stop = new AbortController();
  const terms: { shard: number; epoch: number; why?: string }[] = [];
  const problems: string[] = [];
  const run = (index: number) =>
    gate.runWhileOwning(
      index,
      async ({ signal, epoch, shard: which, deadline, validForMs }) => {
        const term: { shard: number; epoch: number; why?: string } = { shard: which, epoch };
        terms.push(term);
        // The term's deadline is the gate's for that shard, ahead of now while it is owned (checked
        // outside: a throw in here only goes to onError).
        const owned = gate.current()[which]?.validForMs ?? 0;
        if (!(deadline() > performance.now())) problems.push(`shard ${which}: deadline not ahead`);
        if (Math.abs(validForMs() - owned) > 5)
          problems.push(`${validForMs()} ms left, the gate says ${owned}`);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        term.why = (signal.reason as TermEndedError).message;
        if (validForMs() !== 0) problems.push(`shard ${which}: ${validForMs()} ms left once ended`);
        if (deadline() > performance.now()) problems.push(`shard ${which}: a deadline ahead once ended`);
      },
      { signal: stop.signal },
    );
  const loops = [run(0), run(1)];
  await until(() => terms.length === 2);
  assert.deepEqual(terms.map((term) => [term.shard, term.epoch]).sort(), [
    [0, 7],
    [1, 3],
  ]);
  shard(1).follow();
  await until(() => terms.find((term) => term.shard === 1)?.why !== undefined);
  assert.match(terms.find((term) => term.shard === 1)?.why ?? '', /lost/);
  assert.equal(terms.find((term) => term.shard === 0)?.why, undefined, 'shard 0 still owned');
  shard(0).lead(8);
  await until(() => terms.length === 3);
  assert.match(terms[0]?.why ?? '', /new epoch/);
  assert.deepEqual([terms[2]?.shard, terms[2]?.epoch], [0, 8]);
  stop.abort();
  await Promise.all(loops);
  assert.match(terms[2]?.why ?? '', /stopped/);
  assert.deepEqual(problems, []);
});

test("a sidecar that stops answering: the shard's term ends at its deadline, computed from the send time", async (t) => {
  const { app, url, shard, faults } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(0).lead(2, 600);
  const errors: unknown[] = [];
  const gate = shardGateFor(url, t, { onError: (err) => errors.push(err) });
  let ended: TermEndedError | undefined;
  let startedAt = 0;
  const createdAt = performance.now();
  const loop = gate.runWhileOwning(0, async ({ signal }) => {
    startedAt = performance.now();
    faults.getStatus = 503; // every ask from now on fails
    // Busy for 800 ms: the deadline (at most 600 ms on) passes while no timer can fire.
    while (performance.now() < startedAt + 800);
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    ended = signal.reason as TermEndedError;
  });
  await until(() => ended !== undefined, 2_000);
  assert.match(ended?.message ?? '', /lost/);
  // The last promise was at most 0.6 s long and was asked for before the term started: endedAt is that
  // deadline, not the moment the busy process noticed.
  const endedAt = ended?.endedAt ?? 0;
  assert.ok(endedAt <= startedAt + 600, `${endedAt - startedAt} ms`);
  assert.ok(endedAt > createdAt, 'after the gate asked');
  assert.equal(gate.ownsShard(0), false);
  await until(() => errors.length > 0); // the failures are reported
  await gate.close();
  await loop;
});

test('another shard count than the gate was given: reported, and no shard is owned', async (t) => {
  const { app, url, shard, asks, settled } = await shardedSidecar(3);
  t.after(() => app.close());
  shard(0).lead(1);
  const errors: { code?: string }[] = [];
  const gate = shardGateFor(url, t, { shards: 4, onError: (err) => errors.push(err as { code?: string }) });
  // Reported by the stream's event and by the hello's ask: both answers were read, neither applied.
  await until(() => errors.length >= 2 && asks() >= 1);
  await settled();
  assert.equal(errors[0]?.code, 'LEASEHOLD_GATE_SHARD_COUNT_MISMATCH');
  assert.match(String(errors[0]), /the sidecar has 3 shards, this gate was given 4/);
  assert.equal(gate.ownsShard(0), false);
  assert.deepEqual(gate.current(), [], 'nothing applied from a sidecar of another count');
  assert.equal(gate.count, 4, 'the given count stands');
  const agreeing = shardGateFor(url, t, { shards: 3 });
  await until(() => agreeing.ownsShard(0));
});

test('invalid options and shard numbers are refused with their values named', async (t) => {
  assert.throws(() => createShardGate({ url: 'not a url' }), /url "not a url"/);
  assert.throws(() => createShardGate({ shards: 0 }), /got 0/);
  assert.throws(() => createShardGate({ url: 'not a url' }), { code: 'LEASEHOLD_GATE_INVALID_OPTION' });
  assert.throws(
    () => createShardGate({ pollIntervalMs: -1 }),
    /pollIntervalMs must be a positive number, got -1/,
  );
  for (const requestTimeoutMs of [0, Number.NaN])
    assert.throws(() => createShardGate({ requestTimeoutMs }), {
      code: 'LEASEHOLD_GATE_INVALID_OPTION',
      message: new RegExp(`requestTimeoutMs must be a positive number, got ${requestTimeoutMs}`),
    });
  const gate = shardGateFor('http://127.0.0.1:9', t);
  await assert.rejects(
    gate.runWhileOwning(-1, async () => {}),
    /got -1/,
  );
  await assert.rejects(
    gate.runWhileOwning(maxShards, async () => {}),
    {
      code: 'LEASEHOLD_GATE_INVALID_OPTION',
      message: new RegExp(`shard must be an integer 0…${maxShards - 1}, got ${maxShards}`),
    },
  );
  await assert.rejects(
    gate.runWhileOwning(1.5, async () => {}),
    /got 1.5/,
  );
  assert.throws(() => gate.shardOf('ns/a'), /LEASEHOLD_GATE_INVALID_OPTION|got 0/);
});

test('close: owns nothing at once, ends the terms, and stops asking', async (t) => {
  const { app, url, shard, asks } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(5);
  const clock = new FakeClock();
  const gate = createShardGate({ url, pollIntervalMs: 20, clock });
  let why = '';
  const loop = gate.runWhileOwning(0, async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    why = (signal.reason as Error).message;
  });
  await until(() => gate.ownsShard(0));
  await gate.close();
  await loop;
  assert.equal(gate.ownsShard(0), false);
  assert.match(why, /gate closed/);
  const after = asks();
  assert.equal(clock.pending, 0, 'no ask and no deadline left armed');
  await clock.advance(1_000);
  assert.equal(asks(), after, 'no ask after close');
});

test('an owned shard stays owned between asks: its stream up, the gate asks again once half its validity is left', async (t) => {
  const { app, url, shard, asks, settled } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(1, 2_000);
  const clock = new FakeClock();
  const gate = shardGateFor(url, t, { clock, pollIntervalMs: 20 });
  await gate.waitForShard(0);
  await settled();
  const asked = asks();
  let lost = 0;
  gate.on('change', (states) => {
    if (!states[0]?.isOwned) lost++;
  });
  // Two and a half validities long, looked at every 10 ms (each ask lands within its step).
  await advanceBy(clock, settled, 5_000, 10, () => assert.equal(gate.ownsShard(0), true));
  assert.equal(lost, 0, 'ownership never lapsed');
  // At half of each 2 s answer (about 1 s), not every 20 ms: about five in 5 s, never 250.
  const count = asks() - asked;
  assert.ok(count >= 4 && count <= 6, `${count} asks in 5 s`);
});

test('an open shard gate keeps its process alive; closing it lets the process end', async (t) => {
  const { app, url, shard } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(1);
  const { spawn } = await import('node:child_process');
  const gateModule = new URL('../src/index.ts', import.meta.url).href;
  const script = `
    const { createShardGate } = await import(${JSON.stringify(gateModule)});
    const gate = createShardGate({ url: ${JSON.stringify(url)} });
    await gate.waitForShard(0);
    console.log('owned');
    if (process.argv[1] === 'close') await gate.close();`;
  const run = (mode: string) =>
    new Promise<{ code: number | null; output: string; tookMs: number }>((resolve) => {
      const started = performance.now();
      const child = spawn(process.execPath, ['--input-type=module', '-e', script, mode]);
      let output = '';
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, output, tookMs: performance.now() - started });
      });
    });
  const open = await run('keep');
  assert.equal(open.output.trim(), 'owned');
  assert.equal(open.code, null, 'still running after 3 s: killed by the test');
  const closed = await run('close');
  assert.deepEqual([closed.output.trim(), closed.code], ['owned', 0]);
});

test('a loss ends the term at the moment the answer said so', async (t) => {
  const { app, url, shard } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(3);
  const gate = shardGateFor(url, t, { pollIntervalMs: 20 });
  let ended: TermEndedError | undefined;
  const loop = gate.runWhileOwning(0, async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    ended = signal.reason as TermEndedError;
  });
  await until(() => gate.ownsShard(0));
  const before = performance.now();
  shard(0).follow();
  await until(() => ended !== undefined);
  assert.ok((ended?.endedAt ?? 0) >= before, 'not before the loss');
  assert.ok((ended?.endedAt ?? 0) <= performance.now());
  await gate.close();
  await loop;
});

test('waitForShard: rejects when its signal aborts or the gate closes, and leaves no listener behind', async (t) => {
  const { app, url, shard } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(1).lead(6);
  const gate = shardGateFor(url, t);
  const listeners = gate.listenerCount('change');
  assert.deepEqual(await gate.waitForShard(1), { epoch: 6 });
  const aborted = new AbortController();
  const waiting = gate.waitForShard(0, aborted.signal);
  aborted.abort();
  await assert.rejects(waiting, { code: 'LEASEHOLD_GATE_ABORTED' });
  assert.equal(gate.listenerCount('change'), listeners);
  const pending = assert.rejects(gate.waitForShard(0), { code: 'LEASEHOLD_GATE_CLOSED' });
  await gate.close();
  await pending;
});

test('how often it asks: nothing while its stream says another owns the shard; a pushed gain until confirmed; without a stream every interval, no faster when failing', async (t) => {
  const { app, url, shard, asks, faults, settled, dropStreams } = await shardedSidecar(1);
  t.after(() => app.close());
  const clock = new FakeClock();
  const gate = shardGateFor(url, t, { clock, pollIntervalMs: 100, onError: () => {} });
  await until(() => gate.count === 1);
  await settled();
  let from = asks();
  await advanceBy(clock, settled, 1_000, 20);
  assert.equal(asks(), from, 'the stream says another replica holds it: nothing to ask');
  // A gain whose confirmation fails is asked about at once, then every interval until admitted.
  faults.getStatus = 503;
  from = asks();
  shard(0).lead(3);
  await until(() => asks() === from + 1);
  await advanceBy(clock, settled, 300, 20);
  assert.equal(asks(), from + 4, 'every 100 ms while unconfirmed');
  faults.getStatus = 0;
  await advanceUntil(clock, settled, () => gate.ownsShard(0), { stepMs: 20, maxMs: 100 });
  // The stream breaks and cannot be opened again; the shard is lost: every interval, found by asking.
  shard(0).follow();
  await until(() => !gate.ownsShard(0));
  faults.watchStatus = 503;
  faults.getStatus = 503;
  dropStreams();
  await advanceBy(clock, settled, 100, 20); // the gate notices the stream is gone
  from = asks();
  await advanceBy(clock, settled, 1_000, 20);
  assert.equal(asks() - from, 10, 'failing, no stream: every interval, no tight loop');
  faults.getStatus = 0;
  shard(0).lead(4);
  await advanceUntil(clock, settled, () => gate.ownsShard(0), { stepMs: 20, maxMs: 120 });
  assert.equal(gate.epochOf(0), 4);
});

test('close: emits once, returns at once even with a long interval, a second close does nothing', async (t) => {
  const { app, url } = await shardedSidecar(1);
  t.after(() => app.close());
  const gate = createShardGate({ url, pollIntervalMs: 60_000 });
  await until(() => gate.count !== undefined);
  let changes = 0;
  gate.on('change', () => changes++);
  const started = performance.now();
  await gate.close();
  await gate.close();
  assert.ok(performance.now() - started < 1_000, 'not waiting out the interval');
  assert.equal(changes, 1);
});
