import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { addWindow, nowNs, type Window } from './acting-windows.ts';
import { sidecarRules } from './cluster.ts';
import { GoPeer } from './go-peer.ts';
import { LeaseRecorder } from './lease-recorder.ts';
import { SessionlessPoller } from './pollers.ts';
import { PrivateCluster } from './private-cluster.ts';
import { leasePath, rawApi } from './raw-api.ts';
import { SidecarProcess } from './sidecar.ts';
import { TcpProxy } from './tcp-proxy.ts';

export interface Timings {
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  safetyMarginSeconds: number;
}

export interface FleetOptions {
  timings: Timings;
  /** How often each session-less poller asks its sidecar. */
  pollIntervalMs: number;
  leaseName?: string;
}

const ensurePackages = fileURLToPath(new URL('../cluster/ensure-packages.sh', import.meta.url));
let faketime: Promise<string> | undefined;

/** Env that runs a process with its wall clock moved by `offset` (libfaketime, e.g. "+30s", "-1h"). */
export async function skewedClockEnv(offset: string): Promise<Record<string, string>> {
  faketime ??= promisify(execFile)('bash', [ensurePackages, 'faketime']).then(
    () => '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  );
  // Only the wall clock moves, as on a node whose clock is off; the monotonic clock is the machine's.
  return { LD_PRELOAD: await faketime, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1' };
}

/**
 * Candidates on one Lease of a private control plane, each behind its own TCP proxy to the apiserver:
 * Leasehold sidecars (each watched by a /leader and an /is-leader poller) and client-go peers. Their
 * acting windows, on the shared monotonic clock, are what the safety checks read.
 */
export class Fleet {
  readonly cluster: PrivateCluster;
  readonly leaseName: string;
  readonly timings: Timings;
  readonly lease: LeaseRecorder;
  readonly sidecars = new Map<string, SidecarProcess>();
  readonly peers = new Map<string, GoPeer>();
  readonly proxies = new Map<string, TcpProxy>();
  readonly #pollIntervalMs: number;
  readonly #pollers: SessionlessPoller[] = [];
  readonly #ports = new Map<string, number>();
  readonly #peerWindows: Window[] = [];
  readonly #env = new Map<string, Record<string, string>>();

  private constructor(cluster: PrivateCluster, options: FleetOptions) {
    this.cluster = cluster;
    this.leaseName = options.leaseName ?? 'fleet';
    this.timings = options.timings;
    this.#pollIntervalMs = options.pollIntervalMs;
    this.lease = new LeaseRecorder(cluster.namespace, this.leaseName, cluster.controlPlane.info);
  }

  static async start(options: FleetOptions): Promise<Fleet> {
    const cluster = await PrivateCluster.start('fleet', sidecarRules(options.leaseName ?? 'fleet'));
    return new Fleet(cluster, options);
  }

  get namespace(): string {
    return this.cluster.namespace;
  }

  async #kubeconfig(name: string): Promise<string> {
    let proxy = this.proxies.get(name);
    if (!proxy) {
      proxy = new TcpProxy(this.cluster.controlPlane.info.apiserverPort);
      await proxy.listen();
      this.proxies.set(name, proxy);
    }
    return this.cluster.kubeconfig(name, proxy.port);
  }

  /** Starts (or restarts, same port, new identity) a sidecar; its pollers start with its first start. */
  async startSidecar(
    name: string,
    env: Record<string, string> = this.#env.get(name) ?? {},
  ): Promise<SidecarProcess> {
    this.#env.set(name, env);
    const t = this.timings;
    const sidecar = await SidecarProcess.start({
      namespace: this.namespace,
      leaseName: this.leaseName,
      podName: name,
      kubeconfig: await this.#kubeconfig(name),
      port: this.#ports.get(name),
      env: {
        LEASE_DURATION_SECONDS: String(t.leaseDurationSeconds),
        LEASE_RENEW_DEADLINE_SECONDS: String(t.renewDeadlineSeconds),
        LEASE_RETRY_PERIOD_SECONDS: String(t.retryPeriodSeconds),
        LEASE_SAFETY_MARGIN_SECONDS: String(t.safetyMarginSeconds),
        EMIT_EVENTS: 'false',
        ...env,
      },
    });
    if (!this.#ports.has(name)) {
      this.#ports.set(name, sidecar.port);
      for (const path of ['/leader', '/is-leader'] as const)
        this.#pollers.push(new SessionlessPoller(name, sidecar.url, path, this.#pollIntervalMs).start());
    }
    this.sidecars.set(name, sidecar);
    return sidecar;
  }

  /** Starts (or restarts) a client-go candidate with the same timings. */
  async startPeer(name: string): Promise<GoPeer> {
    const t = this.timings;
    const peer = await GoPeer.start({
      name,
      namespace: this.namespace,
      leaseName: this.leaseName,
      kubeconfig: await this.#kubeconfig(name),
      leaseDurationSeconds: t.leaseDurationSeconds,
      renewDeadlineSeconds: t.renewDeadlineSeconds,
      retryPeriodSeconds: t.retryPeriodSeconds,
    });
    let opened: bigint | undefined;
    const windows = this.#peerWindows;
    peer.onEvent((event) => {
      if (event.type === 'term-start') opened = BigInt(event.atNs);
      else if (event.type === 'term-end' && opened !== undefined) {
        addWindow(windows, { replica: name, start: opened, end: BigInt(event.atNs) });
        opened = undefined;
      }
    });
    peer.exited.then(() => {
      // Killed while leading: it acted until it died.
      if (opened !== undefined) addWindow(windows, { replica: name, start: opened, end: nowNs() });
      opened = undefined;
    });
    this.peers.set(name, peer);
    return peer;
  }

  /** Every acting window so far: the pollers' (session-less clients) and client-go's terms. */
  windows(): Window[] {
    const open = [...this.peers.entries()]
      .filter(([, peer]) => peer.leading && peer.alive)
      .map(([name, peer]) => ({ replica: name, start: BigInt(peer.lastTermStartNs()), end: nowNs() }));
    return [...this.#pollers.flatMap((p) => p.windows), ...this.#peerWindows, ...open];
  }

  pollerStats(): { answers: number; errors: number } {
    return {
      answers: this.#pollers.reduce((sum, p) => sum + p.answers, 0),
      errors: this.#pollers.reduce((sum, p) => sum + p.errors, 0),
    };
  }

  /** The candidate name holding the Lease now (as the Lease says), or undefined. */
  holderName(): string | undefined {
    const holder = this.lease.last()?.holderIdentity ?? '';
    return holder === '' ? undefined : holder.slice(0, holder.lastIndexOf('_'));
  }

  /** Waits until some candidate holds the Lease, and returns its name. */
  async waitForHolder(timeoutMs: number, accept: (name: string) => boolean = () => true): Promise<string> {
    const event = await this.lease.waitFor(
      (e) => e.holderIdentity !== '' && accept(e.holderIdentity.slice(0, e.holderIdentity.lastIndexOf('_'))),
      timeoutMs,
      Math.max(0, this.lease.events.length - 1),
    );
    return event.holderIdentity.slice(0, event.holderIdentity.lastIndexOf('_'));
  }

  async leaseObject(): Promise<{ status: number; body: any }> {
    return rawApi('GET', leasePath(this.namespace, this.leaseName), {
      target: this.cluster.controlPlane.info,
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#pollers.map((p) => p.stop()));
    await Promise.all([...this.sidecars.values()].map((s) => s.stop('SIGKILL')));
    await Promise.all([...this.peers.values()].map((p) => p.stop('SIGKILL')));
    await this.lease.stop();
    for (const proxy of this.proxies.values()) await proxy.close();
    await this.cluster.stop();
  }
}
