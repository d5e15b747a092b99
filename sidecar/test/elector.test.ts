// The election state machine with an injected clock and an in-memory Lease: timing math and protocol
// decisions, fast and exact. The same behaviour against a real apiserver is in test/integration.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Elector } from '../src/elector.ts';
import { type ElectorHooks, noHooks } from '../src/elector-hooks.ts';
import { flush, ManualClock, MemoryLeaseApi, silentLogger } from './fakes.ts';

const config = {
  leaseName: 'l',
  namespace: 'ns',
  identity: 'me_1',
  leaseDurationSeconds: 15,
  renewDeadlineSeconds: 10,
  retryPeriodSeconds: 2,
  safetyMarginSeconds: 2,
};
const microTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

function setup(hooks: Partial<ElectorHooks> = {}) {
  const clock = new ManualClock();
  const api = new MemoryLeaseApi();
  const elector = new Elector({ config, api, clock, logger: silentLogger, hooks: { ...noHooks, ...hooks } });
  return { clock, api, elector };
}

test('creates a missing Lease: epoch 0, six-digit times, validity min(RD, LD - margin)', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  const snapshot = elector.snapshot();
  assert.equal(snapshot.isLeader, true);
  assert.equal(snapshot.epoch, 0);
  assert.equal(snapshot.validForMs, 10_000);
  assert.equal(api.lease?.spec?.holderIdentity, 'me_1');
  assert.equal(api.lease?.spec?.leaseDurationSeconds, 15);
  assert.match(String(api.lease?.spec?.renewTime), microTime);
  assert.match(String(api.lease?.spec?.acquireTime), microTime);
  await elector.stop();
});

test('a follower takes over exactly one lease duration after it last saw the record change', async () => {
  const { clock, api, elector } = setup();
  api.seed({
    holderIdentity: 'other_9',
    leaseDurationSeconds: 15,
    renewTime: '2020-01-01T00:00:00.000000Z',
    leaseTransitions: 4,
  });
  elector.start();
  await clock.advance(0);
  assert.equal(elector.snapshot().holder, 'other_9');
  // Old-looking timestamps do not matter: only the local time of the last observed change does.
  await clock.advance(10_000);
  api.externalWrite({ renewTime: '2020-01-01T00:00:10.000000Z' });
  await clock.advance(14_999);
  assert.equal(elector.isLeader(), false);
  await clock.advance(2);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 5);
  assert.equal(api.lease?.spec?.leaseTransitions, 5);
  await elector.stop();
});

test('"am I leader" is computed from the clock when asked, not from timers having fired', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  api.down = true;
  // An event-loop stall: time passes, no timer runs.
  clock.nowMs += 10_000;
  assert.equal(elector.isLeader(), false);
  assert.equal(elector.snapshot().validForMs, 0);
  await elector.stop();
});

test('API down: renewals fail, the leader demotes at its deadline and never re-claims blindly', async () => {
  const demotions: string[] = [];
  const { clock, api, elector } = setup({ demoted: (reason) => demotions.push(reason) });
  elector.start();
  await clock.advance(0);
  api.down = true;
  await clock.advance(9_999);
  assert.equal(elector.isLeader(), true);
  await clock.advance(1);
  assert.equal(elector.isLeader(), false);
  assert.deepEqual(demotions, ['renew-deadline']);
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), false);
  // Back: the Lease still names us and nobody changed it, so we may renew it (same epoch).
  api.down = false;
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 0);
  await elector.stop();
});

test('renews every retry period but never twice in one wall second, keeping acquireTime and epoch', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  const acquireTime = api.lease?.spec?.acquireTime;
  const before = api.writes.length;
  await clock.advance(20_000);
  const renewals = api.writes.slice(before);
  assert.ok(renewals.length >= 9 && renewals.length <= 10, `${renewals.length} renewals in 20 s`);
  const seconds = renewals.map((w) => String(w.spec?.renewTime).slice(0, 19));
  assert.equal(new Set(seconds).size, seconds.length);
  assert.ok(renewals.every((w) => w.spec?.acquireTime === acquireTime && w.spec?.leaseTransitions === 0));
  assert.equal(elector.snapshot().validForMs > 7_000, true);
  await elector.stop();
});

test('a foreign holder written over ours demotes the leader at once', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  api.externalWrite({ holderIdentity: 'intruder', leaseTransitions: 1 });
  await flush();
  assert.equal(elector.isLeader(), false);
  assert.equal(elector.snapshot().holder, 'intruder');
  await clock.advance(14_000);
  assert.equal(elector.isLeader(), false);
  await clock.advance(1_100);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 2);
  await elector.stop();
});

test('garbage durations: missing or negative are judged with our own; huge ones are honoured', async () => {
  for (const leaseDurationSeconds of [undefined, -5, 0, 2.5, 'ten']) {
    const { clock, api, elector } = setup();
    api.seed({ holderIdentity: 'odd_1', leaseDurationSeconds });
    elector.start();
    await clock.advance(14_000);
    assert.equal(elector.isLeader(), false, `took over early with duration ${leaseDurationSeconds}`);
    await clock.advance(1_100);
    assert.equal(elector.isLeader(), true, `never took over with duration ${leaseDurationSeconds}`);
    await elector.stop();
  }
  const { clock, api, elector } = setup();
  api.seed({ holderIdentity: 'forever_1', leaseDurationSeconds: 1_000_000_000 });
  elector.start();
  await clock.advance(3_600_000);
  assert.equal(elector.isLeader(), false);
  await elector.stop();
});

test('a Lease with no holder is free at once; unknown fields survive our writes', async () => {
  const { clock, api, elector } = setup();
  api.seed({ leaseDurationSeconds: 15, futureField: { keep: true } }, { status: { somethingNew: 1 } });
  elector.start();
  await clock.advance(0);
  assert.equal(elector.isLeader(), true);
  assert.deepEqual(api.lease?.spec?.futureField, { keep: true });
  assert.deepEqual(api.lease?.status, { somethingNew: 1 });
  await elector.stop();
});

test('coordinated leader election (spec.strategy) is left to the apiserver', async () => {
  const { clock, api, elector } = setup();
  api.seed({ holderIdentity: '', strategy: 'OldestEmulationVersion' });
  elector.start();
  await clock.advance(60_000);
  assert.equal(elector.isLeader(), false);
  await elector.stop();
});

test('deleted Lease: re-created with an epoch above anything seen', async () => {
  const { clock, api, elector } = setup();
  api.seed({ holderIdentity: 'old_1', leaseDurationSeconds: 15, leaseTransitions: 41 });
  elector.start();
  await clock.advance(0);
  api.delete();
  await clock.advance(0);
  assert.equal(elector.isLeader(), true);
  assert.equal(api.lease?.spec?.leaseTransitions, 42);
  await elector.stop();
});

test('stop: demote first, wait for the app, then release (holder "", duration 1, epoch kept)', async () => {
  const order: string[] = [];
  const { clock, api, elector } = setup({
    demoted: () => order.push('demoted'),
    waitForAppIdle: async () => {
      order.push(`app-idle while holder=${api.lease?.spec?.holderIdentity}`);
    },
    released: () => order.push('released'),
  });
  elector.start();
  await clock.advance(0);
  await elector.stop();
  assert.deepEqual(order, ['demoted', 'app-idle while holder=me_1', 'released']);
  assert.equal(api.lease?.spec?.holderIdentity, '');
  assert.equal(api.lease?.spec?.leaseDurationSeconds, 1);
  assert.equal(api.lease?.spec?.leaseTransitions, 0);
  assert.equal(api.lease?.spec?.acquireTime, api.lease?.spec?.renewTime);
});

test('resign: releases and stays out for the pause, then campaigns again', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  await elector.resign(5_000);
  assert.equal(api.lease?.spec?.holderIdentity, '');
  await clock.advance(4_900);
  assert.equal(elector.isLeader(), false);
  await clock.advance(200);
  assert.equal(elector.isLeader(), true);
  assert.equal(elector.snapshot().epoch, 1);
  await elector.stop();
});

test('a release it no longer owns is not written', async () => {
  const { clock, api, elector } = setup();
  elector.start();
  await clock.advance(0);
  api.down = true;
  await clock.advance(10_000);
  api.down = false;
  api.externalWrite({ holderIdentity: 'next_2', leaseTransitions: 1 });
  const writes = api.writes.length;
  await elector.stop();
  assert.equal(api.writes.length, writes);
  assert.equal(api.lease?.spec?.holderIdentity, 'next_2');
});
