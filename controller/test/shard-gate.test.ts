// The shard gate against a sharded sidecar's real HTTP API over scripted shards: ownership per shard from
// GET /shards, deadlines from the send time, terms per shard fenced by that shard's epoch, fail-closed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createShardGate, shardOf, type TermEndedError } from '../src/index.ts';
import { advanceBy, FakeClock } from './support/fake-clock.ts';
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
  assert.ok(held > 0 && held <= 500, `a session-less promise: ${held} ms`);
});

test("runWhileOwning: one term per shard with its epoch; a loss or a new epoch ends only that shard's term", async (t) => {
  const { app, url, shard } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(0).lead(7);
  shard(1).lead(3);
  const gate = shardGateFor(url, t, { pollIntervalMs: 20 });
  const stop = new AbortController();
  const terms: { shard: number; epoch: number; why?: string }[] = [];
  const run = (index: number) =>
    gate.runWhileOwning(
      index,
      async ({ signal, epoch, shard: which }) => {
        const term: { shard: number; epoch: number; why?: string } = { shard: which, epoch };
        terms.push(term);
        await new Promise((resolve) => signal.addEventListener('abort', resolve));
        term.why = (signal.reason as TermEndedError).message;
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
});

test("a sidecar that stops answering: the shard's term ends at its deadline, computed from the send time", async (t) => {
  const { app, url, shard, faults } = await shardedSidecar(2);
  t.after(() => app.close());
  shard(0).lead(2);
  const errors: unknown[] = [];
  const gate = shardGateFor(url, t, { onError: (err) => errors.push(err) });
  let ended: TermEndedError | undefined;
  let startedAt = 0;
  const createdAt = performance.now();
  const loop = gate.runWhileOwning(0, async ({ signal }) => {
    startedAt = performance.now();
    faults.status = 503; // every ask from now on fails
    // Busy for 700 ms: the deadline (at most 500 ms on) passes while no timer can fire.
    while (performance.now() < startedAt + 700);
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    ended = signal.reason as TermEndedError;
  });
  await until(() => ended !== undefined, 2_000);
  assert.match(ended?.message ?? '', /lost/);
  // The last promise was at most 0.5 s long and was asked for before the term started: endedAt is that
  // deadline, not the moment the busy process noticed.
  const endedAt = ended?.endedAt ?? 0;
  assert.ok(endedAt <= startedAt + 500, `${endedAt - startedAt} ms`);
  assert.ok(endedAt > createdAt, 'after the gate asked');
  assert.equal(gate.ownsShard(0), false);
  await until(() => errors.length > 0); // the failures are reported
  await gate.close();
  await loop;
});

test('another shard count than the gate was given: reported, and no shard is owned', async (t) => {
  const { app, url, shard } = await shardedSidecar(3);
  t.after(() => app.close());
  shard(0).lead(1);
  const errors: { code?: string }[] = [];
  const gate = shardGateFor(url, t, { shards: 4, onError: (err) => errors.push(err as { code?: string }) });
  await until(() => errors.length > 0);
  assert.equal(errors[0]?.code, 'LEASEHOLD_GATE_SHARD_COUNT_MISMATCH');
  assert.equal(gate.ownsShard(0), false);
  assert.equal(gate.count, 4, 'the given count stands');
  const agreeing = shardGateFor(url, t, { shards: 3 });
  await until(() => agreeing.ownsShard(0));
});

test('invalid options and shard numbers are refused with their values named', async (t) => {
  assert.throws(() => createShardGate({ url: 'not a url' }), /url "not a url"/);
  assert.throws(() => createShardGate({ shards: 0 }), /got 0/);
  assert.throws(
    () => createShardGate({ pollIntervalMs: -1 }),
    /pollIntervalMs must be a positive number, got -1/,
  );
  const gate = shardGateFor('http://127.0.0.1:9', t);
  await assert.rejects(
    gate.runWhileOwning(-1, async () => {}),
    /got -1/,
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

test('an owned shard stays owned between asks: the gate asks again before half of its validity is gone', async (t) => {
  const { app, url, shard } = await shardedSidecar(1);
  t.after(() => app.close());
  shard(0).lead(1); // each answer promises 0.5 s, less than the default 500 ms interval plus a request
  const clock = new FakeClock();
  const gate = shardGateFor(url, t, { clock });
  await until(() => gate.ownsShard(0) && clock.pending > 0);
  let lost = 0;
  gate.on('change', (states) => {
    if (!states[0]?.isOwned) lost++;
  });
  // Four validities long, looked at every 10 ms (each ask lands within its step).
  await advanceBy(
    clock,
    async () => {},
    2_000,
    10,
    () => assert.equal(gate.ownsShard(0), true),
  );
  assert.equal(lost, 0, 'ownership never lapsed');
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

test('how often it asks: the interval while nothing is owned, half the validity while a shard is, no faster when failing', async (t) => {
  const { app, url, shard, asks, faults } = await shardedSidecar(1);
  t.after(() => app.close());
  const window = async (gateOptions: Parameters<typeof shardGateFor>[2], ms: number) => {
    const clock = new FakeClock();
    const gate = shardGateFor(url, t, { ...gateOptions, clock });
    await until(() => clock.pending > 0); // the first answer is in and the next ask armed
    const from = asks();
    await clock.advance(ms); // each ask lands before the clock moves on
    const count = asks() - from;
    await gate.close();
    return count;
  };
  // Not owned, every 100 ms: 10 in a second.
  assert.equal(await window({ pollIntervalMs: 100 }, 1_000), 10);
  // Owned: each answer promises 500 ms, asked again after 250 ms; the default interval (500 ms) is longer.
  shard(0).lead(1);
  assert.equal(await window({}, 1_000), 4);
  // Failing, nothing owned: the default interval, no tight loop.
  shard(0).follow();
  faults.status = 503;
  assert.equal(await window({ onError: () => {} }, 1_000), 2);
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
