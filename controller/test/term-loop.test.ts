// The term loop both gates share (src/term-loop.ts), on a scripted source: one run per term, the signal
// aborting with the reason and instant the source gives, no run for a term that ended before it began.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import type { TermEndedError } from '../src/index.ts';
import { runTerms, type TermContext, type TermSource } from '../src/term-loop.ts';

/** A source whose terms the test opens and ends by hand. */
class Script {
  readonly events = new EventEmitter<{ change: [unknown] }>();
  epoch = 0;
  leading = false;
  closed = false;
  starts = 0;
  stops = 0;
  errors: unknown[] = [];
  /** Run synchronously when `wait` resolves, before the loop's continuation. */
  onGrant: (() => void) | undefined;
  now = 1_000;
  deadline = 0;
  shard: number | undefined;

  source(): TermSource {
    return {
      events: this.events,
      wait: (signal) =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            if (this.closed || signal?.aborted) {
              this.events.off('change', check);
              reject(new Error('closed'));
            } else if (this.leading) {
              this.events.off('change', check);
              resolve(this.epoch);
              this.onGrant?.();
            }
          };
          this.events.on('change', check);
          signal?.addEventListener('abort', check);
          check();
        }),
      ended: (epoch, stopped) =>
        this.closed
          ? 'closed'
          : stopped
            ? 'stopped'
            : !this.leading
              ? 'lost'
              : epoch !== this.epoch
                ? 'new epoch'
                : undefined,
      endedAt: () => 42,
      deadlineOf: (epoch) => (this.leading && epoch === this.epoch ? this.deadline : 0),
      now: () => this.now,
      shard: this.shard,
      onError: (err) => this.errors.push(err),
      started: () => this.starts++,
      stopped: () => this.stops++,
    };
  }

  lead(epoch: number): void {
    this.epoch = epoch;
    this.leading = true;
    this.events.emit('change', undefined);
  }

  lose(): void {
    this.leading = false;
    this.events.emit('change', undefined);
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('one run per term with its epoch; the signal aborts with the reason and the instant the source gives', async () => {
  const script = new Script();
  const runs: { epoch: number; reason?: TermEndedError }[] = [];
  const stop = new AbortController();
  const loop = runTerms(
    script.source(),
    async ({ signal, epoch }: { signal: AbortSignal; epoch: number }) => {
      const run: { epoch: number; reason?: TermEndedError } = { epoch };
      runs.push(run);
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      run.reason = signal.reason as TermEndedError;
    },
    (term) => term,
    stop.signal,
  );
  script.lead(3);
  await tick();
  script.lose();
  await tick();
  script.lead(4);
  await tick();
  script.lead(5); // a new epoch while leading ends the term of 4
  await tick();
  stop.abort();
  await loop;
  assert.deepEqual(
    runs.map((r) => [r.epoch, r.reason?.message.replace(/.*: /, ''), r.reason?.endedAt]),
    [
      [3, 'lost', 42],
      [4, 'new epoch', 42],
      [5, 'stopped', 42],
    ],
  );
  assert.deepEqual([script.starts, script.stops], [3, 3]);
});

test('a term that ended before its run began is not run; an early return waits for the next term', async () => {
  const script = new Script();
  const runs: number[] = [];
  const stop = new AbortController();
  script.onGrant = () => {
    script.onGrant = undefined;
    script.lose(); // lost in the same instant it was granted
  };
  const loop = runTerms(
    script.source(),
    async ({ epoch }: { epoch: number }) => {
      runs.push(epoch);
      throw new Error('early');
    },
    (term) => term,
    stop.signal,
  );
  script.lead(1);
  await tick();
  assert.deepEqual(runs, [], 'the lost term did not run');
  script.lead(2);
  await tick();
  await tick();
  assert.deepEqual(runs, [2], 'run once, and not again while the same term lasts');
  assert.equal((script.errors[0] as Error).message, 'early');
  script.closed = true;
  script.events.emit('change', undefined);
  await loop;
  assert.deepEqual(runs, [2]);
});

test("a term's context carries its deadline as the source renews it, the ended instant after, and its shard", async () => {
  const script = new Script();
  script.shard = 5;
  script.deadline = 1_400.7;
  const seen: { deadline: number; validForMs: number }[] = [];
  let reason: TermEndedError | undefined;
  const stop = new AbortController();
  let context: TermContext | undefined;
  const loop = runTerms(
    script.source(),
    async (term: TermContext) => {
      context = term;
      await new Promise((resolve) => term.signal.addEventListener('abort', resolve));
      reason = term.signal.reason as TermEndedError;
    },
    (term) => term,
    stop.signal,
  );
  script.lead(7);
  await tick();
  const look = () =>
    seen.push({ deadline: context?.deadline() ?? -1, validForMs: context?.validForMs() ?? -1 });
  look();
  script.deadline = 1_900; // a renewal moved it on
  script.now = 1_100;
  look();
  script.lose();
  await tick();
  look();
  stop.abort();
  await loop;
  assert.deepEqual(seen, [
    { deadline: 1_400.7, validForMs: 400 },
    { deadline: 1_900, validForMs: 800 },
    { deadline: 42, validForMs: 0 },
  ]);
  assert.equal(reason?.shard, 5);
  assert.equal(reason?.code, 'LEASEHOLD_GATE_TERM_ENDED');
  assert.match(reason?.message ?? '', /^the term ended: shard 5: lost$/);
});
