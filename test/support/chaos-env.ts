import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, type V1PolicyRule } from '@kubernetes/client-node';
import {
  deriveData,
  derivedName,
  sameData,
  sourceLabel,
  stampedEpoch,
} from '@leasehold/example-controller/derive';
import { ControlPlane } from '../cluster/control-plane.ts';
import { renderKubeconfig } from '../cluster/kubeconfig.ts';
import { podBoundToken, sidecarRules } from './cluster.ts';
import { applyFencing } from './fencing.ts';
import { rawApi } from './raw-api.ts';
import { Replica } from './replica.ts';
import { TcpProxy } from './tcp-proxy.ts';
import { keepWatching } from './watch-stream.ts';

export const namespace = 'leasehold-example';
export const leaseName = 'example-controller';
const singleSources = ['alpha', 'beta', 'gamma', 'delta'];

/** The chart's Role for the example controller with its sidecar (with `shards`, on the shard Leases). */
export function chartRules(shards = 0): V1PolicyRule[] {
  const [byName, ...others] = sidecarRules(leaseName);
  const names = shards > 0 ? Array.from({ length: shards }, (_, i) => `${leaseName}-${i}`) : [leaseName];
  return [
    { ...(byName as V1PolicyRule), resourceNames: names },
    ...others,
    {
      apiGroups: [''],
      resources: ['configmaps'],
      verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
    },
  ];
}

/**
 * A private control plane, N replicas each behind its own TCP proxy to the apiserver, a mutator that
 * keeps changing the source ConfigMaps, and a watch that records the epoch of every derived version.
 */
export class ChaosEnv {
  readonly controlPlane: ControlPlane;
  readonly core: CoreV1Api;
  readonly recordDir: string;
  readonly replicas: Replica[] = [];
  /** Replicas replaced by a restart of the same name, kept for their output. */
  readonly #retired: Replica[] = [];
  readonly proxies = new Map<string, TcpProxy>();
  readonly derivedVersions: { object: string; epoch: number }[] = [];
  /** The source ConfigMaps the mutator keeps changing (sharded: three per shard, spread by the hash). */
  readonly sources: string[];
  readonly #token: string;
  /** With fencing on: each replica's token bound to a Pod object of its name, made on first use. */
  readonly #podTokens = new Map<string, string>();
  #fenced = false;
  readonly #stop = new AbortController();
  #mutations = 0;
  #mutator: Promise<void> | undefined;
  #watch: Promise<void> | undefined;

  private constructor(controlPlane: ControlPlane, core: CoreV1Api, token: string, sources: string[]) {
    this.sources = sources;
    this.controlPlane = controlPlane;
    this.core = core;
    this.#token = token;
    this.recordDir = join(controlPlane.info.dir, 'records');
  }

  /** Env for every sidecar started here (e.g. production timings for benchmarks). */
  sidecarEnv: Record<string, string> = {};
  /** Env for every example controller started here. */
  appEnv: Record<string, string> = {};

  /**
   * With `shards`, every sidecar and app runs SHARDS=<shards> and the Role names the shard Leases;
   * there are three sources per shard. With `fenced`, the chart's fencing policy guards the ConfigMaps
   * (the app chart's dependency must be built) and each replica uses a token bound to a Pod of its name.
   */
  static async start(options: { shards?: number; fenced?: boolean } = {}): Promise<ChaosEnv> {
    const shards = options.shards ?? 0;
    const sources = shards > 0 ? Array.from({ length: shards * 3 }, (_, i) => `source-${i}`) : singleSources;
    const controlPlane = await ControlPlane.start();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(controlPlane.info.kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'leasehold' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: { metadata: { name: 'leasehold' }, rules: chartRules(shards) },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'leasehold' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'leasehold' },
        subjects: [{ kind: 'ServiceAccount', name: 'leasehold', namespace }],
      },
    });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'leasehold',
      namespace,
      body: { spec: { audiences: [] } },
    });
    const env = new ChaosEnv(controlPlane, core, token.status?.token ?? '', sources);
    if (shards > 0) {
      env.sidecarEnv = { SHARDS: String(shards) };
      env.appEnv = { SHARDS: String(shards) };
    }
    await mkdir(env.recordDir, { recursive: true });
    if (options.fenced) {
      env.#fenced = true;
      await applyFencing(controlPlane.info, {
        release: 'chaos',
        namespace,
        resources: [
          { apiGroups: [''], resources: ['configmaps'], operations: ['CREATE', 'UPDATE', 'DELETE'] },
        ],
        values: ['serviceAccount.name=leasehold', `leaseName=${leaseName}`],
      });
    }
    for (const name of sources) {
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name, labels: { [sourceLabel]: 'true' } }, data: { value: `${name}-0` } },
      });
    }
    const derivedPath = `/api/v1/namespaces/${namespace}/configmaps?labelSelector=leasehold.io%2Fderived-from`;
    env.#watch = keepWatching(controlPlane.info, derivedPath, env.#stop.signal, (event) => {
      if (event.type === 'ADDED' || event.type === 'MODIFIED') {
        env.derivedVersions.push({
          object: event.object.metadata.name,
          epoch: stampedEpoch(event.object.metadata.annotations),
        });
      }
    });
    return env;
  }

  /** A kubeconfig with the chart's ServiceAccount token that reaches the apiserver through `name`'s own proxy. */
  async kubeconfigFor(name: string): Promise<string> {
    let proxy = this.proxies.get(name);
    if (!proxy) {
      proxy = new TcpProxy(this.controlPlane.info.apiserverPort);
      await proxy.listen();
      this.proxies.set(name, proxy);
    }
    const kubeconfig = join(this.recordDir, `${name}.kubeconfig`);
    const { caPem } = this.controlPlane.info;
    const server = `https://127.0.0.1:${proxy.port}`;
    const token = this.#fenced ? await this.podToken(name) : this.#token;
    await writeFile(kubeconfig, renderKubeconfig({ server, caPem, token, user: 'leasehold', namespace }));
    return kubeconfig;
  }

  /** The ServiceAccount's token bound to a Pod object `name` (created once), as the kubelet mounts one. */
  async podToken(name: string): Promise<string> {
    let token = this.#podTokens.get(name);
    if (!token) {
      token = await podBoundToken(namespace, 'leasehold', name, this.controlPlane.info);
      this.#podTokens.set(name, token);
    }
    return token;
  }

  /** Starts a replica (or restarts one by name) behind its own proxy. */
  async startReplica(name: string): Promise<Replica> {
    const kubeconfig = await this.kubeconfigFor(name);
    const replica = await Replica.start(name, {
      namespace,
      leaseName,
      kubeconfig,
      recordDir: this.recordDir,
      sidecarEnv: this.sidecarEnv,
      appEnv: this.appEnv,
    });
    const index = this.replicas.findIndex((r) => r.name === name);
    if (index === -1) this.replicas.push(replica);
    else this.#retired.push(...this.replicas.splice(index, 1, replica));
    return replica;
  }

  /** SIGKILLs a whole replica and tells the checker when its acting ended. */
  async kill(replica: Replica): Promise<void> {
    replica.signal('SIGKILL');
    const at = process.hrtime.bigint();
    await replica.stop('SIGKILL');
    this.#record(replica, 'killed', at);
  }

  /** SIGSTOPs a whole replica: a frozen process acts no more, so its acting interval ends here. */
  freeze(replica: Replica): void {
    replica.signal('SIGSTOP');
    this.#record(replica, 'frozen', process.hrtime.bigint());
  }

  #record(replica: Replica, type: 'killed' | 'frozen', at: bigint): void {
    appendFileSync(
      replica.recordFile,
      `${JSON.stringify({ replica: replica.name, type, atNs: String(at) })}\n`,
    );
  }

  /** Keeps changing sources so that every term has work (and writes) to do. */
  startMutator(): void {
    this.#mutator = (async () => {
      while (!this.#stop.signal.aborted) {
        const name = this.sources[this.#mutations % this.sources.length] as string;
        this.#mutations++;
        await rawApi('PATCH', `/api/v1/namespaces/${namespace}/configmaps/${name}`, {
          body: { data: { value: `${name}-${this.#mutations}` } },
          contentType: 'application/merge-patch+json',
          target: this.controlPlane.info,
        }).catch(() => {});
        await sleep(150);
      }
    })();
  }

  async stopMutator(): Promise<void> {
    this.#stop.abort();
    await this.#mutator;
  }

  /** True when every source has its derived object with the right data. */
  async converged(): Promise<boolean> {
    const list = await this.core.listNamespacedConfigMap({ namespace });
    const byName = new Map(list.items.map((cm) => [cm.metadata?.name, cm]));
    return this.sources.every((name) => {
      const derived = byName.get(derivedName(name));
      return derived !== undefined && sameData(derived.data, deriveData(byName.get(name)?.data));
    });
  }

  /**
   * Stops everything. With `keepEvidence` (a failed check) the records, the apiserver log and the end of
   * every replica's sidecar and app output stay on disk, with a diagnostic report of every app still
   * running, and their directory is printed.
   */
  async close(options: { keepEvidence?: boolean } = {}): Promise<void> {
    this.#stop.abort();
    if (options.keepEvidence) await Promise.all(this.replicas.map((r) => r.reportApp()));
    await Promise.all(this.replicas.map((r) => r.stop('SIGKILL')));
    for (const proxy of this.proxies.values()) await proxy.close();
    await this.#watch;
    if (options.keepEvidence) {
      // Every process's output, the earlier ones of a name too (numbered in start order).
      const all = [...this.#retired, ...this.replicas];
      for (const [i, r] of all.entries()) {
        const run = all.slice(0, i).filter((x) => x.name === r.name).length;
        const base = join(this.recordDir, `${r.name}${run === 0 ? '' : `.${run}`}`);
        await writeFile(`${base}.sidecar.log`, `${r.sidecar.output.join('\n')}\n`);
        await writeFile(`${base}.app.log`, `${r.appOutput.join('\n')}\n`);
      }
      console.log(`[chaos] check failed; records and logs kept in ${this.recordDir}`);
    }
    await this.controlPlane.stop({ keepLogs: options.keepEvidence === true });
  }
}
