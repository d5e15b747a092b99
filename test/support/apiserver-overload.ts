// An apiserver whose priority level for ordinary traffic is overloaded by another identity, with two
// sidecars of one release on it — for the overload test and `npm run bench`.
//
// A 2-core machine cannot fill the real `workload-low` level of a default apiserver with requests, so the
// busy cluster is made small instead: the apiserver runs with 30 seats in all, `workload-low` (where every
// ServiceAccount's requests land, through the `service-accounts` FlowSchema) gets one of them, lends and
// borrows none and rejects instead of queueing — the share a busy cluster leaves to ordinary traffic. A
// flooder ServiceAccount then LISTs ConfigMaps from 8 loops for a bounded time, on loopback, and stops by
// itself. The chart's FlowSchema is rendered by helm and applied as a user's release would have it.
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { sidecarRules } from './cluster.ts';
import { chartDir, helm, parseManifest, renderTemplate } from './helm.ts';
import { LeaseRecorder } from './lease-recorder.ts';
import { PrivateCluster } from './private-cluster.ts';
import { leasePath, rawApi } from './raw-api.ts';
import { SidecarProcess, waitForSingleLeader, waitUntil } from './sidecar.ts';
import { agentFor } from './watch-stream.ts';

const namespace = 'overload';
const release = 'ov';
const flowcontrol = '/apis/flowcontrol.apiserver.k8s.io/v1';

export interface FloodResult {
  /** Requests of the flooder the apiserver served, and refused with 429. */
  served: number;
  rejected: number;
}

/** What one overloaded stretch did to the sidecars: counted from their /metrics before and after. */
export interface OverloadRound {
  flood: FloodResult;
  renewalsSucceeded: number;
  renewalsFailed: number;
  throttled: number;
  /** Holder changes of the Lease seen during the flood. */
  holderChanges: number;
  /** The leader's /leader sampled every 50 ms: how often it did not say isLeader. */
  leaderAnswersLost: number;
}

export class OverloadedCluster {
  readonly cluster: PrivateCluster;
  readonly sidecars: SidecarProcess[] = [];
  readonly leaseName: string;
  readonly #flooderToken: string;
  readonly #serviceAccount: string;
  readonly #flowSchemaManifest: string;
  readonly #lease: LeaseRecorder;

  private constructor(
    cluster: PrivateCluster,
    flooderToken: string,
    serviceAccount: string,
    manifest: string,
  ) {
    this.cluster = cluster;
    this.#flooderToken = flooderToken;
    this.#serviceAccount = serviceAccount;
    this.#flowSchemaManifest = manifest;
    this.leaseName = serviceAccount;
    this.#lease = new LeaseRecorder(namespace, serviceAccount, cluster.controlPlane.info);
  }

  static async start(timings: Record<string, string>): Promise<OverloadedCluster> {
    await helm(['dependency', 'build', chartDir]);
    const stdout = await renderTemplate(release, namespace, 'templates/flowschema.yaml');
    const [flowSchema] = parseManifest(stdout);
    const serviceAccount = flowSchema?.spec.rules[0].subjects[0].serviceAccount.name as string;
    const cluster = await PrivateCluster.start(namespace, sidecarRules(serviceAccount), serviceAccount, [
      '--max-requests-inflight=20',
      '--max-mutating-requests-inflight=10',
    ]);
    const target = cluster.controlPlane.info;
    const call = async (method: string, path: string, body: unknown, contentType?: string) => {
      const answer = await rawApi(method, path, { body, target, ...(contentType ? { contentType } : {}) });
      if (answer.status >= 300)
        throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    };
    await call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: 'flooder' } });
    const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
    await call('POST', `${rbac}/roles`, {
      metadata: { name: 'flooder' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
    });
    await call('POST', `${rbac}/rolebindings`, {
      metadata: { name: 'flooder' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'flooder' },
      subjects: [{ kind: 'ServiceAccount', name: 'flooder', namespace }],
    });
    const token = await call('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/flooder/token`, {
      spec: { audiences: [], expirationSeconds: 3600 },
    });
    for (let i = 0; i < 50; i++)
      await call('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
        metadata: { name: `load-${i}` },
        data: { value: 'x'.repeat(2_000) },
      });
    await call(
      'PATCH',
      `${flowcontrol}/prioritylevelconfigurations/workload-low`,
      {
        // Without this annotation the apiserver puts its suggested configuration back.
        metadata: { annotations: { 'apf.kubernetes.io/autoupdate-spec': 'false' } },
        spec: {
          limited: {
            nominalConcurrencyShares: 1,
            lendablePercent: 0,
            borrowingLimitPercent: 0,
            limitResponse: { type: 'Reject', queuing: null },
          },
        },
      },
      'application/merge-patch+json',
    );
    const overloaded = new OverloadedCluster(cluster, token.status.token, serviceAccount, stdout);
    for (const name of ['ov-0', 'ov-1'])
      overloaded.sidecars.push(
        await SidecarProcess.start({
          namespace,
          leaseName: serviceAccount,
          podName: name,
          kubeconfig: await cluster.kubeconfig(name),
          env: { EMIT_EVENTS: 'false', ...timings },
        }),
      );
    await waitForSingleLeader(overloaded.sidecars, 20_000);
    return overloaded;
  }

  /** Applies the chart's FlowSchema and waits until the apiserver classifies the Lease requests by it. */
  async applyFlowSchema(): Promise<void> {
    const target = this.cluster.controlPlane.info;
    for (const object of parseManifest(this.#flowSchemaManifest)) {
      const created = await rawApi('POST', `${flowcontrol}/flowschemas`, { body: object, target });
      if (created.status !== 201)
        throw new Error(`FlowSchema: ${created.status} ${JSON.stringify(created.body)}`);
    }
    const { body } = await rawApi('GET', `${flowcontrol}/prioritylevelconfigurations/leader-election`, {
      target,
    });
    const leaderElection = body.metadata.uid as string;
    const token = this.cluster.token;
    await waitUntil(
      `the FlowSchema classifying ${this.#serviceAccount}'s Lease requests`,
      async () => {
        const response = await fetch(`${target.server}${leasePath(namespace, this.leaseName)}`, {
          dispatcher: agentFor(target.caPem),
          headers: { authorization: `Bearer ${token}` },
        });
        await response.text();
        return response.headers.get('x-kubernetes-pf-prioritylevel-uid') === leaderElection
          ? true
          : undefined;
      },
      10_000,
      100,
    );
  }

  /** Floods the ordinary priority level for `seconds` from 8 loops, and counts what the sidecars did. */
  async round(seconds: number): Promise<OverloadRound> {
    const before = await Promise.all(this.sidecars.map((s) => counters(s)));
    const leader = await waitForSingleLeader(this.sidecars, 20_000);
    const holder = this.#lease.last()?.holderIdentity;
    const fromEvent = this.#lease.events.length;
    let lost = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        if ((await leader.tryLeader())?.isLeader !== true) lost++;
        await sleep(50);
      }
    })();
    const flood = await this.#flood(seconds * 1000);
    sampling = false;
    await sampler;
    const after = await Promise.all(this.sidecars.map((s) => counters(s)));
    const delta = (key: keyof Counters) =>
      after.reduce((sum, c, i) => sum + c[key] - (before[i] as Counters)[key], 0);
    let changes = 0;
    let last = holder;
    for (const event of this.#lease.events.slice(fromEvent)) {
      if (event.holderIdentity !== last) changes++;
      last = event.holderIdentity;
    }
    return {
      flood,
      renewalsSucceeded: delta('renewals'),
      renewalsFailed: delta('errors'),
      throttled: delta('throttled'),
      holderChanges: changes,
      leaderAnswersLost: lost,
    };
  }

  async #flood(durationMs: number): Promise<FloodResult> {
    const target = this.cluster.controlPlane.info;
    // Its own connections (the shared agent carries the Lease watch), closed when the flood ends.
    const agent = new Agent({ connect: { ca: target.caPem } });
    const result: FloodResult = { served: 0, rejected: 0 };
    const end = performance.now() + durationMs;
    const loop = async () => {
      while (performance.now() < end) {
        const response = await fetch(`${target.server}/api/v1/namespaces/${namespace}/configmaps`, {
          dispatcher: agent,
          headers: { authorization: `Bearer ${this.#flooderToken}` },
        });
        await response.text();
        if (response.status === 429) result.rejected++;
        else result.served++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, loop));
    await agent.close();
    return result;
  }

  async stop(): Promise<void> {
    await this.#lease.stop();
    await Promise.all(this.sidecars.map((s) => s.stop()));
    await this.cluster.stop();
  }
}

interface Counters {
  renewals: number;
  errors: number;
  throttled: number;
}

/** The sidecar's renewal, API error and 429 counts from its /metrics. */
async function counters(sidecar: SidecarProcess): Promise<Counters> {
  const text = await (await fetch(`${sidecar.url}/metrics`)).text();
  const sum = (pattern: RegExp) =>
    [...text.matchAll(pattern)].reduce((total, match) => total + Number(match[1]), 0);
  return {
    renewals: sum(/^leasehold_renew_duration_seconds_count (\S+)$/gm),
    errors: sum(/^leasehold_api_errors_total\{[^}]*\} (\S+)$/gm),
    throttled: sum(/^leasehold_api_throttled_total (\S+)$/gm),
  };
}
