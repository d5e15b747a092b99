import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killOnExit, SidecarProcess } from './sidecar.ts';
import { TcpProxy } from './tcp-proxy.ts';

const controllerBin = fileURLToPath(
  new URL('../../controller/example/bin/example-controller.js', import.meta.url),
);

/**
 * One replica as a pod would run it: a sidecar and the example controller beside it. The app reaches
 * its sidecar through a TCP proxy the test controls (to break their connection, say).
 */
export class Replica {
  readonly name: string;
  sidecar: SidecarProcess;
  app: ChildProcess;
  /** Between the app and its sidecar. */
  readonly link: TcpProxy;
  readonly recordFile: string;
  readonly appOutput: string[] = [];
  readonly #options: ReplicaOptions;

  private constructor(
    name: string,
    sidecar: SidecarProcess,
    app: ChildProcess,
    link: TcpProxy,
    options: ReplicaOptions,
  ) {
    this.name = name;
    this.sidecar = sidecar;
    this.app = app;
    this.link = link;
    this.recordFile = join(options.recordDir, `${name}.jsonl`);
    this.#options = options;
    this.#capture(app);
    // The checker's latest end of any term this process left open, and the post-mortem's first fact:
    // how it went (an exit code, or the signal that took it).
    app.once('exit', (code, signal) =>
      appendFileSync(
        this.recordFile,
        `${JSON.stringify({ replica: name, type: 'exited', atNs: String(process.hrtime.bigint()), code, signal })}\n`,
      ),
    );
  }

  static async start(name: string, options: ReplicaOptions): Promise<Replica> {
    const sidecar = await SidecarProcess.start({
      namespace: options.namespace,
      leaseName: options.leaseName,
      podName: name,
      kubeconfig: options.kubeconfig,
      env: options.sidecarEnv,
    });
    const link = new TcpProxy(sidecar.port);
    await link.listen();
    const app = Replica.#spawnApp(name, `http://127.0.0.1:${link.port}`, options);
    return new Replica(name, sidecar, app, link, options);
  }

  static #spawnApp(name: string, sidecarUrl: string, options: ReplicaOptions): ChildProcess {
    // SIGUSR2 makes the app write a diagnostic report (its JavaScript stack, heap and open handles) beside
    // the records: the evidence of a failed check shows what each app still running was doing. (An app
    // whose event loop never turns writes none: it handles the signal on that loop.)
    const report = [
      '--report-on-signal',
      '--report-signal=SIGUSR2',
      `--report-directory=${options.recordDir}`,
    ];
    const child = spawn(process.execPath, [...report, controllerBin], {
      env: {
        PATH: process.env.PATH ?? '',
        POD_NAME: name,
        POD_NAMESPACE: options.namespace,
        KUBECONFIG: options.kubeconfig,
        LEASEHOLD_URL: sidecarUrl,
        RECORD_FILE: join(options.recordDir, `${name}.jsonl`),
        LOG_LEVEL: 'info',
        ...options.appEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killOnExit(child);
    return child;
  }

  get alive(): boolean {
    return this.sidecar.child.exitCode === null && this.sidecar.child.signalCode === null;
  }

  /** Sends a signal to both processes, as the kubelet does to a pod's containers. */
  signal(signal: NodeJS.Signals): void {
    this.sidecar.signal(signal);
    this.app.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const appExit = new Promise((resolve) =>
      this.app.exitCode !== null || this.app.signalCode !== null
        ? resolve(undefined)
        : this.app.once('exit', resolve),
    );
    this.app.kill(signal);
    await Promise.all([this.sidecar.stop(signal), appExit]);
    await this.link.close();
  }

  /** Asks a running app for a diagnostic report (see #spawnApp); resolves once it has had time to write it. */
  async reportApp(): Promise<void> {
    if (this.app.exitCode !== null || this.app.signalCode !== null) return;
    this.app.kill('SIGUSR2');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }

  /** Starts a new sidecar (same pod name, new identity) beside the living app, or both anew. */
  async restartSidecar(): Promise<void> {
    this.sidecar = await SidecarProcess.start({
      namespace: this.#options.namespace,
      leaseName: this.#options.leaseName,
      podName: this.name,
      kubeconfig: this.#options.kubeconfig,
      env: this.#options.sidecarEnv,
      port: this.sidecar.port,
    });
  }

  #capture(app: ChildProcess): void {
    const keep = (chunk: Buffer): void => {
      this.appOutput.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.appOutput.length > 300) this.appOutput.splice(0, this.appOutput.length - 300);
    };
    app.stdout?.on('data', keep);
    app.stderr?.on('data', keep);
  }
}

export interface ReplicaOptions {
  namespace: string;
  leaseName: string;
  kubeconfig: string;
  recordDir: string;
  sidecarEnv?: Record<string, string>;
  appEnv?: Record<string, string>;
}
