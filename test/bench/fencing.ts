// node test/bench/fencing.ts [--writes 300] [--changes 20]
// What enforced fencing costs and how fast it moves, on a control plane of its own: write latency (a
// ConfigMap create by the holder's pod-bound token) p50/p99 without and with the chart's fencing policy,
// in one run, and the time from a Lease update returning (holder moved to another pod) to the first write
// of the old holder the apiserver refuses. docs/fencing.md has the figures.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { podBoundToken, sidecarRules } from '../support/cluster.ts';
import { applyFencing } from '../support/fencing.ts';
import { chartDir, helm } from '../support/helm.ts';
import { PrivateCluster } from '../support/private-cluster.ts';
import { leasePath, rawApi } from '../support/raw-api.ts';
import { type Summary, summarize } from './stats.ts';

const release = 'bench';
const serviceAccount = `${release}-leasehold`;
const lease = `${release}-leasehold`;
const namespace = 'fencing-bench';
const fencedResources = [{ apiGroups: [''], resources: ['configmaps'], operations: ['CREATE'] }];

export interface FencingResults {
  writes: number;
  withoutPolicyMs: Summary;
  withPolicyMs: Summary;
  /** Lease update returned → first refused write of the old holder, per holder change. */
  leaseChangeToRefusalMs: Summary;
  /** Writes of the old holder admitted after a Lease update had returned, over all changes. */
  admittedAfterChange: number;
}

export async function fencingBench(writes: number, changes: number): Promise<FencingResults> {
  const cluster = await PrivateCluster.start(
    namespace,
    [...sidecarRules(lease), { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] }],
    serviceAccount,
  );
  const target = cluster.controlPlane.info;
  try {
    const tokens = {
      a: await podBoundToken(namespace, serviceAccount, 'writer-a', target),
      b: await podBoundToken(namespace, serviceAccount, 'writer-b', target),
    };
    let written = 0;
    /** One write as `who`: its status and how long it took. */
    const write = async (who: 'a' | 'b') => {
      const started = performance.now();
      const { status } = await rawApi('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
        token: tokens[who],
        target,
        body: { metadata: { name: `${who}-${written++}` } },
      });
      return { status, ms: performance.now() - started };
    };
    const timed = async (count: number): Promise<number[]> => {
      const samples: number[] = [];
      for (let i = 0; i < count; i++) {
        const { status, ms } = await write('a');
        if (status !== 201) throw new Error(`the holder's write answered ${status}`);
        samples.push(ms);
      }
      return samples;
    };
    const setHolder = async (holderIdentity: string): Promise<void> => {
      for (;;) {
        const { body } = await rawApi('GET', leasePath(namespace, lease), { target });
        body.spec.holderIdentity = holderIdentity;
        const { status } = await rawApi('PUT', leasePath(namespace, lease), { body, target });
        if (status === 200) return;
        if (status !== 409) throw new Error(`Lease update answered ${status}`);
      }
    };
    const until = async (who: 'a' | 'b', status: number): Promise<void> => {
      const deadline = performance.now() + 10_000;
      while ((await write(who)).status !== status)
        if (performance.now() > deadline) throw new Error(`${who} never answered ${status}`);
    };
    await rawApi('POST', leasePath(namespace), {
      target,
      body: {
        metadata: { name: lease },
        spec: { holderIdentity: 'writer-a_bench', leaseDurationSeconds: 15 },
      },
    });
    await timed(50); // warm: connections, caches, the JIT
    const withoutPolicy = await timed(writes);

    await helm(['dependency', 'build', chartDir]);
    await applyFencing(target, { release, namespace, resources: fencedResources });
    await until('b', 422); // enforced: the pod that does not hold the Lease is refused
    await timed(50);
    const withPolicy = await timed(writes);

    const refusals: number[] = [];
    let admittedAfterChange = 0;
    for (let i = 0; i < changes; i++) {
      await setHolder('writer-b_bench');
      const changedAt = performance.now();
      // The old holder writes at once and on: how long until refused, and how many landed meanwhile.
      for (;;) {
        const { status } = await write('a');
        if (status === 422) break;
        if (status !== 201) throw new Error(`the old holder's write answered ${status}`);
        admittedAfterChange++;
      }
      refusals.push(performance.now() - changedAt);
      await setHolder('writer-a_bench');
      await until('a', 201);
    }
    return {
      writes,
      withoutPolicyMs: summarize(withoutPolicy),
      withPolicyMs: summarize(withPolicy),
      leaseChangeToRefusalMs: summarize(refusals),
      admittedAfterChange,
    };
  } finally {
    await cluster.stop();
  }
}

/** One line for the report. */
export function fencingLine(r: FencingResults): string {
  return (
    `Fencing (${r.writes} ConfigMap creates each, one apiserver): write latency p50/p99 ` +
    `${r.withoutPolicyMs.p50}/${r.withoutPolicyMs.p99} ms without the policy, ` +
    `${r.withPolicyMs.p50}/${r.withPolicyMs.p99} ms with it; Lease change → first refused write of the old holder ` +
    `p50 ${r.leaseChangeToRefusalMs.p50} ms, max ${r.leaseChangeToRefusalMs.max} ms, ${r.admittedAfterChange} of its writes ` +
    `admitted after an update had returned (${r.leaseChangeToRefusalMs.n} changes).\n`
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      writes: { type: 'string', default: '300' },
      changes: { type: 'string', default: '20' },
      out: { type: 'string' },
    },
  });
  const results = await fencingBench(Number(values.writes), Number(values.changes));
  if (values.out) await writeFile(join(values.out, 'fencing.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n${fencingLine(results)}`);
}
