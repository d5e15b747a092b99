import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ChaosEnv, leaseName, namespace } from '../support/chaos-env.ts';
import { GoPeer } from '../support/go-peer.ts';
import type { LeaseRecorder } from '../support/lease-recorder.ts';
import { atOf, type RecordEntry, waitForRecord } from './records.ts';

/** Three candidates of one kind on the bench Lease, driven the same way whatever the kind. */
export interface CandidateGroup {
  kind: 'leasehold' | 'client-go';
  start(): Promise<void>;
  /** The name of the replica holding the Lease (from the Lease itself). */
  leaderName(timeoutMs: number): Promise<string>;
  /** Sends `signal` to the named replica; for SIGKILL also records its death. */
  disrupt(name: string, signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  restart(name: string): Promise<void>;
  /** First moment (shared monotonic ns) after `afterNs` that a replica other than `except` began acting. */
  nextActing(afterNs: bigint, except: string, timeoutMs: number): Promise<bigint>;
  /** The live candidate processes by replica name. */
  processes(): { name: string; pid: number }[];
  stop(): Promise<void>;
}

const names = ['r0', 'r1', 'r2'];

async function holderName(lease: LeaseRecorder, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const holder = lease.last()?.holderIdentity ?? '';
    if (holder !== '') return holder.slice(0, holder.lastIndexOf('_'));
    if (performance.now() > deadline) throw new Error('no holder on the Lease');
    await sleep(20);
  }
}

/** The first term-start in `dir`'s records after `afterNs` by a replica other than `except`. */
async function nextTermStart(
  dir: string,
  afterNs: bigint,
  except: string,
  timeoutMs: number,
): Promise<bigint> {
  const isNext = (e: RecordEntry) =>
    e.type === 'term-start' && e.replica !== except && atOf(e.atNs) > afterNs;
  return atOf((await waitForRecord(dir, 'a term by another replica', isNext, timeoutMs)).atNs);
}

export function leaseholdGroup(env: ChaosEnv, lease: LeaseRecorder): CandidateGroup {
  const replica = (name: string) => {
    const found = env.replicas.find((r) => r.name === name);
    if (!found) throw new Error(`no replica ${name}`);
    return found;
  };
  return {
    kind: 'leasehold',
    start: async () => {
      await Promise.all(names.map((n) => env.startReplica(n)));
    },
    leaderName: (timeoutMs) => holderName(lease, timeoutMs),
    disrupt: async (name, signal) => {
      if (signal === 'SIGKILL') await env.kill(replica(name));
      else await replica(name).stop('SIGTERM');
    },
    restart: async (name) => {
      await env.startReplica(name);
    },
    nextActing: (afterNs, except, timeoutMs) => nextTermStart(env.recordDir, afterNs, except, timeoutMs),
    processes: () =>
      env.replicas.filter((r) => r.alive).map((r) => ({ name: r.name, pid: r.sidecar.child.pid as number })),
    stop: async () => {
      await Promise.all(env.replicas.map((r) => r.stop('SIGTERM')));
    },
  };
}

export function clientGoGroup(
  env: ChaosEnv,
  lease: LeaseRecorder,
  timings: { leaseDurationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number },
): CandidateGroup {
  const peers = new Map<string, GoPeer>();
  const dir = join(env.recordDir, 'client-go');
  const start = async (name: string): Promise<void> => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    peers.set(
      name,
      await GoPeer.start({
        name,
        namespace,
        leaseName,
        kubeconfig: await env.kubeconfigFor(`go-${name}`),
        recordFile: join(dir, `${name}.jsonl`),
        ...timings,
      }),
    );
  };
  return {
    kind: 'client-go',
    start: async () => {
      await Promise.all(names.map(start));
    },
    leaderName: (timeoutMs) => holderName(lease, timeoutMs),
    disrupt: async (name, signal) => {
      await peers.get(name)?.stop(signal);
    },
    restart: start,
    nextActing: (afterNs, except, timeoutMs) => nextTermStart(dir, afterNs, except, timeoutMs),
    processes: () =>
      [...peers.entries()]
        .filter(([, p]) => p.alive)
        .map(([name, p]) => ({ name, pid: p.child.pid as number })),
    stop: async () => {
      await Promise.all([...peers.values()].map((p) => p.stop('SIGTERM')));
    },
  };
}
