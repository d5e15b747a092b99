// npm run demo [-- --duration 60] [--chaos-every 10] [--shards 8]
// Starts the local control plane and three replicas (sidecar + example controller) and shows who leads,
// live. Keys: k kill -9 the leader, s freeze it past its lease, t SIGTERM it, r resign it, q quit.
// With --shards N: sharded leadership instead (shards.ts).

import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import { LeaseRecorder } from '../support/lease-recorder.ts';
import type { Replica } from '../support/replica.ts';
import { testTimings } from '../support/sidecar.ts';
import { DemoView, type Transition } from './view.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    'chaos-every': { type: 'string' },
    replicas: { type: 'string', default: '3' },
    shards: { type: 'string' },
  },
});
const durationSeconds = values.duration === undefined ? undefined : Number(values.duration);
const chaosEvery = values['chaos-every'] === undefined ? undefined : Number(values['chaos-every']);
const replicaCount = Number(values.replicas);
const shardCount = values.shards === undefined ? undefined : Number(values.shards);
if (shardCount !== undefined && !(Number.isInteger(shardCount) && shardCount >= 1 && shardCount <= 64)) {
  process.stderr.write(`demo: --shards must be a whole number from 1 to 64, got "${values.shards}"\n`);
  process.exit(2);
}
for (const [flag, value] of [
  ['--duration', durationSeconds],
  ['--chaos-every', chaosEvery],
  ['--replicas', replicaCount],
] as const) {
  if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
    process.stderr.write(`demo: ${flag} must be a positive number\n`);
    process.exit(2);
  }
}

const interactive =
  process.stdin.isTTY === true && process.stdout.isTTY === true && durationSeconds === undefined;
process.stderr.write(
  'Starting the local control plane (the first run builds it from the Go module proxy; that takes a while)...\n',
);
if (shardCount !== undefined) {
  const { runShardDemo } = await import('./shards.ts');
  await runShardDemo({
    shards: shardCount,
    replicas: replicaCount,
    durationSeconds,
    chaosEvery,
    interactive,
  });
}
const env = await ChaosEnv.start();
const lease = new LeaseRecorder(namespace, leaseName, env.controlPlane.info);
const view = new DemoView({
  interactive,
  kubeconfig: env.controlPlane.info.kubeconfigPath,
  namespace,
  leaseName,
});
const transitions: Transition[] = [];
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (stopping) process.exit(code);
  stopping = true;
  view.close();
  process.stderr.write('Stopping replicas and the control plane...\n');
  await lease.stop();
  await env.close();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

await Promise.all(Array.from({ length: replicaCount }, (_, i) => env.startReplica(`replica-${i}`)));
env.startMutator();

async function currentLeader(): Promise<Replica | undefined> {
  for (const replica of env.replicas.filter((r) => r.alive)) {
    if ((await replica.sidecar.tryLeader())?.isLeader) return replica;
  }
  return undefined;
}

/** Does something to the leader and logs what it was. */
async function act(action: 'kill' | 'stop' | 'term' | 'resign'): Promise<void> {
  const victim = await currentLeader();
  if (!victim) return view.note('no leader right now');
  view.note(`${action} ${victim.name}`);
  if (action === 'resign')
    await fetch(`${victim.sidecar.url}/leader/resign?pauseSeconds=1`, { method: 'POST' });
  else if (action === 'kill') {
    await env.kill(victim);
    await env.startReplica(victim.name);
  } else if (action === 'term') {
    await victim.stop('SIGTERM');
    await env.startReplica(victim.name);
  } else {
    victim.signal('SIGSTOP');
    await sleep(testTimings.leaseDurationSeconds * 1000 + 1_000);
    victim.signal('SIGCONT');
  }
}

// Hand-over times from the Lease itself: released -> next holder, or last renew -> takeover.
let seen = 0;
function collectTransitions(): void {
  const events = lease.events;
  for (; seen < events.length; seen++) {
    const event = events[seen];
    const previous = events[seen - 1];
    if (
      !event ||
      !previous ||
      event.holderIdentity === '' ||
      event.holderIdentity === previous.holderIdentity
    )
      continue;
    const lastOfOld = events
      .slice(0, seen)
      .reverse()
      .find((e) => e.holderIdentity !== event.holderIdentity);
    const graceful = lastOfOld?.holderIdentity === '';
    transitions.push({
      at: new Date(),
      holder: event.holderIdentity,
      epoch: event.leaseTransitions ?? 0,
      kind: graceful ? 'hand-over after release' : 'takeover after last renew',
      tookMs: lastOfOld ? event.at - lastOfOld.at : 0,
    });
  }
}

if (interactive) {
  process.stdin.setRawMode(true);
  process.stdin.resume();
  process.stdin.on('data', (key) => {
    const k = key.toString();
    if (k === 'q' || k === '\u0003') void shutdown(0);
    else if (k === 'k') void act('kill');
    else if (k === 's') void act('stop');
    else if (k === 't') void act('term');
    else if (k === 'r') void act('resign');
  });
}

const startedAt = performance.now();
let nextChaos = chaosEvery === undefined ? Number.POSITIVE_INFINITY : startedAt + chaosEvery * 1000;
const actions = ['resign', 'kill', 'term', 'stop'] as const;
let actionIndex = 0;
while (!stopping) {
  collectTransitions();
  const rows = await Promise.all(
    env.replicas.map(async (r) => ({
      name: r.name,
      url: `${r.sidecar.url}/leader`,
      answer: await r.sidecar.tryLeader(),
    })),
  );
  view.render(rows, transitions);
  if (performance.now() >= nextChaos) {
    nextChaos = performance.now() + (chaosEvery ?? 0) * 1000;
    void act(actions[actionIndex++ % actions.length] as (typeof actions)[number]);
  }
  if (durationSeconds !== undefined && performance.now() - startedAt >= durationSeconds * 1000) {
    view.summary(transitions);
    await shutdown(0);
  }
  await sleep(interactive ? 200 : 1_000);
}
