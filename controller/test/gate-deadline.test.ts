// When leadership ended, as the term's abort reason reports it (TermEndedError.endedAt): the
// deadline itself when it ran out, the moment of the loss when one was pushed — never when the gate
// happened to notice.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TermEndedError } from '../src/index.ts';
import { gateFor, sidecar, until } from './support/scripted-sidecar.ts';

test('a deadline that ran out while the process was busy: endedAt is the deadline, not the wake-up', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  source.lead(2, 300);
  const created = performance.now();
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  let ended: TermEndedError | undefined;
  let resolved = 0;
  const loop = gate.runWhileLeader(async ({ signal }) => {
    resolved = performance.now();
    // Busy for 200 ms past the deadline: no timer can fire meanwhile.
    while (performance.now() < resolved + 500);
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    ended = signal.reason as TermEndedError;
  });
  await until(() => ended !== undefined, 2_000);
  const endedAt = ended?.endedAt ?? 0;
  assert.ok(endedAt <= resolved + 300, `${endedAt - resolved} ms after the answer arrived`);
  // The deadline was (send time + 300 ms), and the request was sent after the gate was created.
  assert.ok(endedAt >= created + 300);
  await gate.close();
  await loop;
});

test('a pushed loss: endedAt is the moment it arrived', async (t) => {
  const { source, app, url } = await sidecar();
  t.after(() => app.close());
  source.lead(2, 10_000);
  const gate = gateFor(url, t, { pollIntervalMs: 60_000 });
  let ended: TermEndedError | undefined;
  const loop = gate.runWhileLeader(async ({ signal }) => {
    await new Promise((resolve) => signal.addEventListener('abort', resolve));
    ended = signal.reason as TermEndedError;
  });
  await until(() => gate.isLeader());
  const before = performance.now();
  source.follow();
  await until(() => ended !== undefined);
  assert.ok((ended?.endedAt ?? 0) >= before, 'not before the loss');
  assert.ok((ended?.endedAt ?? 0) <= performance.now());
  await gate.close();
  await loop;
});
