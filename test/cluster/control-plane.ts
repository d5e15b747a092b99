import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ControlPlaneBinaries, controlPlaneBinaries } from './binaries.ts';
import { renderKubeconfig } from './kubeconfig.ts';
import { ManagedProcess } from './managed-process.ts';
import { CertificateAuthority, randomToken, serviceAccountSigningKey } from './pki.ts';
import { freePort } from './ports.ts';

/** What a test needs to reach a running control plane; serialisable so test files can share one. */
export interface ControlPlaneInfo {
  dir: string;
  server: string;
  apiserverPort: number;
  adminToken: string;
  caPem: string;
  kubeconfigPath: string;
  /** The CA whose client certificates the apiserver accepts (CertificateAuthority.open(clientCaDir)). */
  clientCaDir: string;
  binaries: ControlPlaneBinaries;
}

/** etcd + kube-apiserver on free loopback ports, RBAC on, in a private temp directory. */
export class ControlPlane {
  readonly info: ControlPlaneInfo;
  #etcd: ManagedProcess;
  #apiserver: ManagedProcess;
  #apiserverArgs: string[];

  private constructor(
    info: ControlPlaneInfo,
    etcd: ManagedProcess,
    apiserver: ManagedProcess,
    args: string[],
  ) {
    this.info = info;
    this.#etcd = etcd;
    this.#apiserver = apiserver;
    this.#apiserverArgs = args;
  }

  /** `apiserverArgs` are added to (and, for the same flag, override) the harness's own flags. */
  static async start(options: { dir?: string; apiserverArgs?: string[] } = {}): Promise<ControlPlane> {
    const binaries = await controlPlaneBinaries();
    const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'leasehold-cp-')));
    await mkdir(join(dir, 'certs'), { recursive: true });
    const [etcdPort, etcdPeerPort, apiserverPort] = [await freePort(), await freePort(), await freePort()];
    const adminToken = randomToken();
    await writeFile(join(dir, 'tokens.csv'), `${adminToken},admin,admin,system:masters\n`, { mode: 0o600 });
    await writeFile(join(dir, 'sa.key'), serviceAccountSigningKey(), { mode: 0o600 });
    const clientCa = await CertificateAuthority.create(join(dir, 'client-ca'));

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcd = new ManagedProcess(
      'etcd',
      binaries.etcd,
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(dir, 'etcd.log'),
    );
    await waitFor('etcd', etcd, () => httpOk(`${etcdUrl}/health`));

    const args = [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiserverPort}`,
      `--cert-dir=${join(dir, 'certs')}`,
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--client-ca-file=${clientCa.certFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${join(dir, 'sa.key')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--endpoint-reconciler-type=none',
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--v=1',
      ...(options.apiserverArgs ?? []),
    ];
    const apiserver = new ManagedProcess(
      'kube-apiserver',
      binaries.kubeApiserver,
      args,
      join(dir, 'apiserver.log'),
    );
    const server = `https://127.0.0.1:${apiserverPort}`;
    const caFile = join(dir, 'certs', 'apiserver.crt');
    await waitFor('kube-apiserver', apiserver, async () => {
      const caPem = await readFile(caFile, 'utf8').catch(() => '');
      return caPem !== '' && (await readyz(server, adminToken, caPem));
    });
    const caPem = await readFile(caFile, 'utf8');
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, renderKubeconfig({ server, caPem, token: adminToken, user: 'admin' }), {
      mode: 0o600,
    });
    const info = {
      dir,
      server,
      apiserverPort,
      adminToken,
      caPem,
      kubeconfigPath,
      clientCaDir: clientCa.dir,
      binaries,
    };
    return new ControlPlane(info, etcd, apiserver, args);
  }

  get pids(): number[] {
    return [this.#etcd.pid, this.#apiserver.pid].filter((pid): pid is number => pid !== undefined);
  }

  /** Stops kube-apiserver only (etcd keeps the data), for outage tests. */
  async stopApiserver(): Promise<void> {
    await this.#apiserver.stop();
  }

  /** Starts kube-apiserver again on the same port with the same certificates and data. */
  async restartApiserver(): Promise<void> {
    await this.#apiserver.stop();
    const { dir, server, adminToken, caPem, binaries } = this.info;
    this.#apiserver = new ManagedProcess(
      'kube-apiserver',
      binaries.kubeApiserver,
      this.#apiserverArgs,
      join(dir, 'apiserver.log'),
    );
    await waitFor('kube-apiserver', this.#apiserver, () => readyz(server, adminToken, caPem));
  }

  /** Stops everything; removes the directory unless `keepLogs` (then only etcd's data goes). */
  async stop(options: { keepLogs?: boolean } = {}): Promise<void> {
    await this.#apiserver.stop();
    await this.#etcd.stop();
    if (options.keepLogs) await rm(join(this.info.dir, 'etcd'), { recursive: true, force: true });
    else await rm(this.info.dir, { recursive: true, force: true });
  }
}

async function waitFor(name: string, proc: ManagedProcess, ready: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    if (!proc.running) throw new Error(`${name} exited during start-up; see its log`);
    if (await ready().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${name} was not ready within 120 s`);
}

async function httpOk(url: string): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return response.ok;
}

function readyz(server: string, token: string, caPem: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      { ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
