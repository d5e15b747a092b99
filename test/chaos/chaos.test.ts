// The chaos suite: real sidecar + example-controller pairs against a real apiserver, disturbed in every
// way we know, then a checker proves from their records that at most one replica acted at any instant,
// every write was fenced inside its writer's term, per-object epochs never decreased and no reconcile
// was lost. LEASEHOLD_CHAOS_SOAK_SECONDS adds a long random soak.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosEnv, type ChaosEnv as Env, leaseName, namespace } from '../support/chaos-env.ts';
import { checkEpochOrder, checkRecords } from '../support/checker.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import type { Replica } from '../support/replica.ts';
import { testTimings, waitForSingleLeader, waitUntil } from '../support/sidecar.ts';

const leaseDurationMs = testTimings.leaseDurationSeconds * 1000;
const minimumTransitions = Number(process.env.LEASEHOLD_CHAOS_TRANSITIONS ?? '100');
const soakSeconds = Number(process.env.LEASEHOLD_CHAOS_SOAK_SECONDS ?? '0');
let env: Env;
let lease: LeaseRecorder;

before(async () => {
  env = await ChaosEnv.start();
  lease = new LeaseRecorder(namespace, leaseName, env.controlPlane.info);
  await Promise.all(['replica-0', 'replica-1', 'replica-2'].map((name) => env.startReplica(name)));
  env.startMutator();
});

after(async () => {
  await lease?.stop();
  await env?.close();
});

const live = (): Replica[] => env.replicas.filter((r) => r.alive);

async function leader(timeoutMs = leaseDurationMs * 3): Promise<Replica> {
  try {
    const sidecar = await waitForSingleLeader(
      live().map((r) => r.sidecar),
      timeoutMs,
    );
    return live().find((r) => r.sidecar === sidecar) as Replica;
  } catch (err) {
    // Say what every replica believed, with the end of its logs, to make a failure debuggable.
    const states = await Promise.all(
      live().map(
        async (r) =>
          `${r.name}: ${JSON.stringify(await r.sidecar.tryLeader())}\n${r.sidecar.tail(8)}\n${r.appOutput.slice(-4).join('\n')}`,
      ),
    );
    throw new Error(`${(err as Error).message}\n${states.join('\n---\n')}`);
  }
}

/** The next holder that is not `previous`, as seen on the Lease. */
async function nextHolder(previous: string, from: number, timeoutMs: number) {
  return lease.waitFor((e) => e.holderIdentity !== '' && e.holderIdentity !== previous, timeoutMs, from);
}

test('leader SIGKILL: another takes over after expiry', async () => {
  const victim = await leader();
  const holder = (await victim.sidecar.leader()).holder;
  const from = lease.events.length;
  await env.kill(victim);
  const next = await nextHolder(holder, from, leaseDurationMs * 3);
  assert.notEqual(next.holderIdentity, holder);
  await env.startReplica(victim.name);
});

test('leader SIGTERM: graceful hand-over within 1 s', async () => {
  const victim = await leader();
  const holder = (await victim.sidecar.leader()).holder;
  const from = lease.events.length;
  const sentAt = performance.now();
  victim.signal('SIGTERM');
  const next = await nextHolder(holder, from, leaseDurationMs);
  assert.ok(next.at - sentAt < 1_000, `hand-over took ${Math.round(next.at - sentAt)} ms`);
  await victim.stop();
  await env.startReplica(victim.name);
});

test('leader SIGSTOP past the lease duration, then SIGCONT: the thawed replica does not write', async () => {
  const victim = await leader();
  const holder = (await victim.sidecar.leader()).holder;
  const from = lease.events.length;
  victim.signal('SIGSTOP');
  await nextHolder(holder, from, leaseDurationMs * 3);
  await sleep(500);
  victim.signal('SIGCONT');
  const thawedAt = process.hrtime.bigint();
  await waitUntil(
    'the thawed sidecar to answer as follower',
    async () => ((await victim.sidecar.tryLeader())?.isLeader === false ? true : undefined),
    5_000,
  );
  await sleep(1_000);
  const report = await checkRecords([victim.recordFile], process.hrtime.bigint());
  const writesAfterThaw = report.intervals.filter((x) => x.replica === victim.name && x.end > thawedAt);
  assert.deepEqual(writesAfterThaw, [], 'the thawed replica kept acting after SIGCONT');
});

test('apiserver stopped and restarted: exactly one leader afterwards', async () => {
  await leader();
  await env.controlPlane.restartApiserver();
  await leader(leaseDurationMs * 4);
});

test('the leader cut off from the apiserver: it stops acting, another takes over', async () => {
  const victim = await leader();
  const holder = (await victim.sidecar.leader()).holder;
  const from = lease.events.length;
  env.proxies.get(victim.name)?.set('blackhole');
  await nextHolder(holder, from, leaseDurationMs * 3);
  assert.equal((await victim.sidecar.leader()).isLeader, false);
  env.proxies.get(victim.name)?.set('pass');
  await leader();
});

test('added API latency (150 ms each way): leadership holds, one leader', async () => {
  const before = await leader();
  for (const proxy of env.proxies.values()) proxy.set('pass', 150);
  const until = performance.now() + leaseDurationMs * 2;
  while (performance.now() < until) {
    const answers = await Promise.all(live().map((r) => r.sidecar.tryLeader()));
    assert.ok(answers.filter((a) => a?.isLeader).length <= 1);
    await sleep(100);
  }
  assert.equal(await leader(), before);
  for (const proxy of env.proxies.values()) proxy.set('pass', 0);
});

test('sidecar killed while its app lives: the app fails closed, another replica leads', async () => {
  const victim = await leader();
  const holder = (await victim.sidecar.leader()).holder;
  const from = lease.events.length;
  victim.sidecar.signal('SIGKILL');
  await victim.sidecar.exited;
  await nextHolder(holder, from, leaseDurationMs * 3);
  await victim.restartSidecar();
  await leader();
});

test('Lease edited to a foreign holder, then deleted: one leader again, epochs move on', async () => {
  const target = env.controlPlane.info;
  await leader();
  const { status, body } = await rawApi('GET', leasePath(namespace, leaseName), { target });
  assert.equal(status, 200);
  body.spec.holderIdentity = 'intruder_0';
  body.spec.leaseTransitions += 1;
  await rawApi('PUT', leasePath(namespace, leaseName), { body, target });
  await leader(leaseDurationMs * 3);
  assert.equal((await rawApi('DELETE', leasePath(namespace, leaseName), { target })).status, 200);
  await leader(leaseDurationMs * 3);
});

test(`rapid hand-overs: resign the leader until ${minimumTransitions} transitions in all`, async () => {
  const transitions = async () => (await report()).transitions;
  while ((await transitions()) < minimumTransitions) {
    const current = await leader();
    const response = await fetch(`${current.sidecar.url}/leader/resign?pauseSeconds=0.3`, { method: 'POST' });
    assert.ok(response.status === 202 || response.status === 409);
    await waitUntil(
      'a new term to start',
      async () => ((await leader()) !== current ? true : undefined),
      leaseDurationMs * 2,
    );
  }
});

test('ten replicas started at once: exactly one leads', async () => {
  await Promise.all(Array.from({ length: 7 }, (_, i) => env.startReplica(`burst-${i}`)));
  await leader(leaseDurationMs * 4);
  await Promise.all(env.replicas.filter((r) => r.name.startsWith('burst-')).map((r) => r.stop('SIGTERM')));
  await leader();
});

test('soak (LEASEHOLD_CHAOS_SOAK_SECONDS): random kills, terms and resigns', {
  timeout: (soakSeconds + 600) * 1000,
}, async () => {
  const until = performance.now() + soakSeconds * 1000;
  let rounds = 0;
  while (performance.now() < until) {
    const victim = await leader();
    const action = rounds++ % 3;
    if (action === 0) await fetch(`${victim.sidecar.url}/leader/resign?pauseSeconds=0.2`, { method: 'POST' });
    else if (action === 1) {
      victim.signal('SIGTERM');
      await victim.stop();
      await env.startReplica(victim.name);
    } else {
      await env.kill(victim);
      await env.startReplica(victim.name);
    }
  }
  assert.ok(soakSeconds === 0 || rounds > 0);
});

test('checker: one acting leader at any instant, fenced writes, monotonic epochs, nothing lost', async () => {
  await env.stopMutator();
  await waitUntil(
    'derived objects to converge',
    async () => ((await env.converged()) ? true : undefined),
    leaseDurationMs * 4,
    200,
  );
  const result = await report();
  process.stderr.write(
    `[chaos] ${result.transitions} terms, ${result.writes} writes, ${env.derivedVersions.length} derived versions\n`,
  );
  assert.deepEqual(result.violations, []);
  assert.deepEqual(checkEpochOrder(env.derivedVersions), []);
  assert.ok(result.transitions >= minimumTransitions, `${result.transitions} transitions`);
  assert.ok(result.writes > result.transitions / 2, 'terms did real work');
});

async function report() {
  const files = (await readdir(env.recordDir))
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => join(env.recordDir, f));
  return checkRecords(files, process.hrtime.bigint());
}
