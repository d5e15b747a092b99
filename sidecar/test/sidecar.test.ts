// The sidecar wired together (buildSidecar) with an in-memory Lease and a manual clock: the elector
// feeds the metrics, a hand-over keeps the promises the HTTP API made, single-replica mode answers
// as documented.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../src/config.ts';
import { buildSidecar } from '../src/sidecar.ts';
import { flush, ManualClock, MemoryLeaseApi, silentLogger } from './fakes.ts';

function config(env: Record<string, string> = {}) {
  return loadConfig({
    env: { LEASE_NAME: 'ctl', POD_NAMESPACE: 'ns', POD_NAME: 'pod-a', ...env },
    argv: [],
    randomSuffix: 'x1',
  });
}

async function wired(env: Record<string, string> = {}) {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi(clock, 'ctl');
  const sidecar = await buildSidecar(config(env), { logger: silentLogger, clock, api });
  return { clock, api, sidecar };
}

type Wired = Awaited<ReturnType<typeof wired>>['sidecar'];
const metricsText = (sidecar: Wired) => sidecar.metrics.registry.metrics();
const metric = async (sidecar: Wired, name: string) => {
  const line = (await metricsText(sidecar))
    .split('\n')
    .find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
};

test('the elector feeds the metrics: leadership, transitions, renewals, release', async () => {
  const { clock, sidecar } = await wired();
  assert.equal(await metric(sidecar, 'leasehold_is_leader'), 0);
  sidecar.elector?.start();
  await clock.advance(0);
  assert.equal(await metric(sidecar, 'leasehold_is_leader'), 1);
  assert.equal(await metric(sidecar, 'leader_election_master_status'), 1);
  assert.equal(await metric(sidecar, 'leasehold_epoch'), 0);
  assert.equal(await metric(sidecar, 'leasehold_leadership_transitions_total'), 1);
  await clock.advance(4_100);
  assert.equal(await metric(sidecar, 'leasehold_renew_duration_seconds_count'), 2);
  const stopping = sidecar.stop();
  await clock.advance(0);
  await stopping;
  assert.equal(await metric(sidecar, 'leasehold_is_leader'), 0);
  assert.match(await metricsText(sidecar), /leasehold_leadership_transitions_total\{kind="shutdown"\} 1/);
});

test('a hand-over keeps the promises the API made: released only after a session-less answer ran out', async () => {
  const { clock, api, sidecar } = await wired({ SESSIONLESS_VALIDITY_SECONDS: '0.8' });
  sidecar.elector?.start();
  await clock.advance(0);
  const answer = (await sidecar.app.inject('/is-leader')).json();
  assert.equal(answer.validForMs, 800);
  const stopping = sidecar.stop();
  await clock.advance(799);
  assert.equal(api.lease?.spec?.holderIdentity, 'pod-a_x1', 'not released while the answer may be acted on');
  assert.equal((await sidecar.app.inject('/leader')).json().isLeader, false, 'demoted at once');
  await clock.advance(2);
  await flush();
  assert.equal(api.lease?.spec?.holderIdentity, '');
  await stopping;
  assert.match(await metricsText(sidecar), /leasehold_handoff_promise_wait_seconds_sum 0.8/);
});

test('a gate session that reports idle lets the hand-over go at once, whatever it was promised', async () => {
  const { clock, api, sidecar } = await wired();
  sidecar.elector?.start();
  await clock.advance(0);
  const session = sidecar.ledger.attach('gate-1');
  assert.equal((await sidecar.app.inject(`/leader?session=${session}`)).json().validForMs, 10_000);
  const stopping = sidecar.stop();
  await clock.advance(100);
  assert.equal(api.lease?.spec?.holderIdentity, 'pod-a_x1');
  await sidecar.app.inject({ method: 'POST', url: '/leader/activity', payload: { session, active: false } });
  await flush();
  assert.equal(api.lease?.spec?.holderIdentity, '');
  await stopping;
});

test('ENABLE_LEADER_ELECTION=false: always leader with epoch 0, no Lease, resign refused', async () => {
  const { api, sidecar } = await wired({ ENABLE_LEADER_ELECTION: 'false' });
  assert.equal(sidecar.elector, undefined);
  const answer = (await sidecar.app.inject('/is-leader')).json();
  assert.equal(answer.isLeader, true);
  assert.equal(answer.epoch, 0);
  assert.equal(answer.role, 'leader');
  assert.ok(answer.validForMs > 0 && answer.validForMs <= 500);
  const resign = await sidecar.app.inject({ method: 'POST', url: '/leader/resign' });
  assert.equal(resign.statusCode, 409);
  assert.equal(resign.json().code, 'LEASEHOLD_ELECTION_DISABLED');
  assert.equal(await metric(sidecar, 'leasehold_is_leader'), 1);
  await sidecar.stop();
  assert.equal(api.calls.length, 0, 'no Lease was touched');
});
