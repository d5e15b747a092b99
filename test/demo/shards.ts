// npm run demo -- --shards 8 [--replicas 3] [--duration 60] [--chaos-every 10]
// The sharded demo: replicas (sidecar + example controller, SHARDS=N) share N shard Leases on the local
// control plane; shows which replica owns each shard, live, and how long each rebalancing took.
// Keys: k kill -9 the busiest replica, t SIGTERM it, + add a replica, - remove the newest, q quit.

import { setTimeout as sleep } from 'node:timers/promises';
import { ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import type { Replica } from '../support/replica.ts';
import { shardsHeld } from '../support/shard-assignment.ts';

export interface ShardDemoOptions {
  shards: number;
  replicas: number;
  durationSeconds: number | undefined;
  chaosEvery: number | undefined;
  interactive: boolean;
}

type Action = 'kill' | 'term' | 'add' | 'remove';

export async function runShardDemo(options: ShardDemoOptions): Promise<void> {
  const { shards, interactive } = options;
  const env = await ChaosEnv.start({ shards });
  const notes: string[] = [];
  /** An action waiting for the shares to settle: what it was and when it happened. */
  let unsettled: { what: string; at: number } | undefined;
  let stopping = false;
  let nextIndex = options.replicas;

  const note = (text: string): void => {
    notes.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
    notes.splice(0, Math.max(0, notes.length - 6));
    if (!interactive) process.stdout.write(`event: ${text}\n`);
  };
  const shutdown = async (code: number): Promise<never> => {
    if (stopping) process.exit(code);
    stopping = true;
    if (interactive) process.stdin.setRawMode(false);
    process.stderr.write('Stopping replicas and the control plane...\n');
    await env.close();
    process.exit(code);
  };
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  await Promise.all(Array.from({ length: options.replicas }, (_, i) => env.startReplica(`replica-${i}`)));
  env.startMutator();
  const live = (): Replica[] => env.replicas.filter((r) => r.alive);

  /** Each live replica's shards, from its own /shards (undefined when it does not answer). */
  const held = async (): Promise<Map<Replica, number[] | undefined>> =>
    new Map(await Promise.all(live().map(async (r) => [r, await shardsHeld(r)] as const)));

  const act = async (action: Action): Promise<void> => {
    const now = await held();
    const busiest = [...now].sort((a, b) => (b[1]?.length ?? 0) - (a[1]?.length ?? 0))[0]?.[0];
    const at = performance.now();
    if (action === 'add') {
      const name = `replica-${nextIndex++}`;
      unsettled = { what: `added ${name}`, at };
      note(unsettled.what);
      await env.startReplica(name);
    } else if (action === 'remove') {
      const newest = live().at(-1);
      if (!newest || live().length === 1) return note('keeping the last replica');
      unsettled = { what: `SIGTERM ${newest.name} (scale down)`, at };
      note(unsettled.what);
      await newest.stop('SIGTERM');
    } else if (busiest) {
      unsettled = { what: `${action === 'kill' ? 'kill -9' : 'SIGTERM'} ${busiest.name}`, at };
      note(unsettled.what);
      if (action === 'kill') await env.kill(busiest);
      else await busiest.stop('SIGTERM');
      await env.startReplica(busiest.name);
    }
  };

  if (interactive) {
    process.stdin.setRawMode(true);
    process.stdin.resume();
    process.stdin.on('data', (key) => {
      const k = key.toString();
      if (k === 'q' || k === '\u0003') void shutdown(0);
      else if (k === 'k') void act('kill');
      else if (k === 't') void act('term');
      else if (k === '+') void act('add');
      else if (k === '-') void act('remove');
    });
  }

  const startedAt = performance.now();
  const chaosMs = (options.chaosEvery ?? 0) * 1000;
  let nextChaos = options.chaosEvery === undefined ? Number.POSITIVE_INFINITY : startedAt + chaosMs;
  const cycle: Action[] = ['kill', 'add', 'remove', 'term'];
  let cycleIndex = 0;
  while (!stopping) {
    const now = await held();
    const owner: string[] = Array.from({ length: shards }, () => '-');
    const holders = new Array<number>(shards).fill(0);
    for (const [replica, mine] of now) {
      for (const shard of mine ?? []) {
        owner[shard] = replica.name;
        holders[shard] = (holders[shard] ?? 0) + 1;
      }
    }
    const answering = [...now.values()].filter((mine) => mine !== undefined) as number[][];
    const fair = shards / Math.max(1, answering.length);
    const balanced =
      holders.every((count) => count === 1) && answering.every((mine) => Math.abs(mine.length - fair) < 1);
    if (balanced && unsettled) {
      note(`balanced again ${Math.round(performance.now() - unsettled.at)} ms after: ${unsettled.what}`);
      unsettled = undefined;
    }
    const map = owner.map((name, shard) => `${shard}:${name.replace('replica-', 'r')}`).join(' ');
    if (interactive) {
      const lines = [
        `Leasehold sharded demo: ${shards} shards over the replicas below, on a local kube-apiserver`,
        `  KUBECONFIG=${env.controlPlane.info.kubeconfigPath}`,
        `  kubectl -n ${namespace} get leases    (the shard Leases are ${leaseName}-0 … -${shards - 1})`,
        '',
        '  replica      shards held           url',
        ...[...now].map(
          ([r, mine]) =>
            `  ${r.name.padEnd(12)} ${(mine === undefined ? 'not answering' : `[${mine.join(' ')}]`).padEnd(21)} ${r.sidecar.url}/shards`,
        ),
        '',
        `  shard → replica: ${map}`,
        `  balanced: ${balanced ? '\x1b[32myes\x1b[0m' : '\x1b[33mno\x1b[0m'}`,
        '',
        '  keys: [k] kill -9 busiest  [t] SIGTERM busiest  [+] add replica  [-] remove newest  [q] quit',
        '',
        ...notes.map((n) => `  ${n}`),
      ];
      process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`);
    } else {
      process.stdout.write(`${new Date().toISOString()} ${map} balanced: ${balanced ? 'yes' : 'no'}\n`);
    }
    if (performance.now() >= nextChaos) {
      nextChaos = performance.now() + chaosMs;
      void act(cycle[cycleIndex++ % cycle.length] as Action);
    }
    if (
      options.durationSeconds !== undefined &&
      performance.now() - startedAt >= options.durationSeconds * 1000
    )
      await shutdown(0);
    await sleep(interactive ? 200 : 1_000);
  }
}
