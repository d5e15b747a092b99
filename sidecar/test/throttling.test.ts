// A busy apiserver answers 429 with Retry-After (API Priority and Fairness). The sidecar honours it, but a
// leader never waits its term away on it: it spends at most half the validity it has left, so it asks
// again before its deadline. Injected clock, in-memory Lease; the real apiserver's 429s are in
// test/integration/apiserver-overload.test.ts.
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { retryDelayMs } from '../src/backoff.ts';
import { Elector } from '../src/elector.ts';
import type { ElectorHooks } from '../src/elector-hooks.ts';
import { KubernetesApiError } from '../src/errors.ts';
import { apiError, parseBody, retryAfterMs } from '../src/kube/connection.ts';
import {
  capturingLogger,
  electorConfig,
  ManualClock,
  MemoryLeaseApi,
  silentLogger,
  stopElector,
} from './fakes.ts';

const config = electorConfig;

function elector(t: TestContext, hooks: Partial<ElectorHooks> = {}, logger = silentLogger) {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock);
  const e = new Elector({ config, api, clock, logger, hooks, random: () => 0.5 });
  t.after(() => stopElector(clock, e));
  return { clock, api, elector: e };
}

test('Retry-After: delay-seconds are read; a date, a negative or junk is ignored', () => {
  assert.equal(retryAfterMs('1'), 1_000);
  assert.equal(retryAfterMs(' 30 '), 30_000);
  assert.equal(retryAfterMs('0'), 0);
  for (const junk of [undefined, null, '', '-1', '1.5', 'soon', 'Wed, 21 Oct 2026 07:28:00 GMT'])
    assert.equal(retryAfterMs(junk), undefined, String(junk));
});

test("APF's plain-text 429 is the server's answer (status 429, its text), not a transport failure", () => {
  const text = 'Too many requests, please try again later.\n';
  const body = parseBody(text, 429, 'PUT', '/l');
  assert.deepEqual(body, { message: 'Too many requests, please try again later.' });
  const err = apiError(429, body, 'PUT', '/l', '2');
  assert.equal(err.httpStatus, 429);
  assert.equal(err.retryAfterMs, 2_000);
  assert.match(err.message, /429 Too many requests/);
  assert.deepEqual(parseBody('{"kind":"Lease"}', 200, 'GET', '/l'), { kind: 'Lease' });
  assert.equal(parseBody('', 200, 'GET', '/l'), undefined);
  assert.throws(
    () => parseBody('not json', 200, 'GET', '/l'),
    (e: unknown) => e instanceof KubernetesApiError && e.httpStatus === 0,
    'a success that is not JSON is a broken answer',
  );
});

test('the retry delay: the backoff without Retry-After, Retry-After when longer, never past the budget', () => {
  assert.equal(retryDelayMs(100, undefined, 4_000), 100);
  assert.equal(retryDelayMs(100, 1_000, 4_000), 1_000);
  assert.equal(retryDelayMs(100, 30_000, 4_000), 4_000);
  assert.equal(retryDelayMs(250, 50, 4_000), 250, 'a shorter Retry-After does not hurry the backoff');
  assert.equal(retryDelayMs(250, 30_000, 10), 250, 'a budget below the backoff leaves the backoff');
});

test('a throttled leader waits Retry-After (1 s) between renewals, keeps leading, and reports each 429', async (t) => {
  const delays: number[] = [];
  const { clock, api, elector: e } = elector(t, { throttled: (s) => delays.push(s) });
  e.start();
  await clock.advance(0);
  assert.equal(e.isLeader(), true);
  const from = api.calls.length;
  api.throttleNext = 3;
  await clock.advance(6_000);
  assert.deepEqual(api.gaps(from, 'replace').slice(0, 3), [1_000, 1_000, 1_000]);
  assert.deepEqual(delays, [1, 1, 1]);
  assert.equal(e.isLeader(), true, 'renewed once the apiserver let it');
});

test('a Retry-After longer than the validity: the leader halves what is left each time, never waits past its deadline', async (t) => {
  const demoted: string[] = [];
  const { clock, api, elector: e } = elector(t, { demoted: (reason) => demoted.push(reason) });
  api.retryAfterMs = 30_000;
  e.start();
  await clock.advance(0); // acquired at 1 000, valid until 11 000
  const from = api.calls.length;
  api.throttleNext = 4; // the renewals at 3 000, 7 000, 9 000 and 10 000
  await clock.advance(9_600);
  assert.deepEqual(api.gaps(from, 'replace').slice(0, 4), [4_000, 2_000, 1_000, 500]);
  assert.equal(e.isLeader(), true, 'the fifth try, 500 ms before the deadline, renewed');
  assert.deepEqual(demoted, []);
});

test('throttled until the deadline: the leader demotes on time, as with any outage', async (t) => {
  const demoted: string[] = [];
  const { clock, api, elector: e } = elector(t, { demoted: (reason) => demoted.push(reason) });
  api.retryAfterMs = 30_000;
  e.start();
  await clock.advance(0);
  api.throttleNext = 1_000;
  await clock.advance(10_000 - 1);
  assert.equal(e.isLeader(), true, 'its promise holds until the deadline');
  await clock.advance(1);
  assert.equal(e.isLeader(), false);
  assert.deepEqual(demoted, ['renew-deadline']);
});

test('a throttled follower waits the whole Retry-After, beyond its own backoff cap (4 x RP)', async (t) => {
  const { clock, api, elector: e } = elector(t);
  api.retryAfterMs = 30_000;
  api.throttleNext = 2;
  e.start();
  await clock.advance(61_000);
  assert.deepEqual(api.gaps(0, 'get').slice(0, 2), [30_000, 30_000]);
  assert.equal(e.isLeader(), true, 'and then takes the free Lease');
});

test('a 429 is logged and reported as throttling, with the delay and the validity left; other failures are not', async (t) => {
  const { logger, lines } = capturingLogger();
  let reported = 0;
  const { clock, api, elector: e } = elector(t, { throttled: () => reported++ }, logger);
  e.start();
  await clock.advance(0);
  api.throttleNext = 1;
  await clock.advance(2_000);
  const throttled = lines.filter((l) => String(l.msg).includes('throttled'));
  assert.equal(throttled.length, 1);
  assert.equal(throttled[0]?.level, 40);
  assert.equal(throttled[0]?.delayMs, 1_000);
  assert.equal(throttled[0]?.validForMs, 8_000);
  await clock.advance(1_000); // the retry succeeds: the next failure is logged at once
  api.failNext = 1;
  await clock.advance(40_000);
  assert.equal(lines.filter((l) => String(l.msg).includes('throttled')).length, 1);
  assert.equal(reported, 1, 'a connection failure is not throttling');
  assert.ok(
    lines.some((l) => l.msg === 'lease API call failed; retrying'),
    JSON.stringify(lines.map((l) => l.msg)),
  );
});
