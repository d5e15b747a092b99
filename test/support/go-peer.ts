import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { killOnExit } from './sidecar.ts';

const buildScript = fileURLToPath(new URL('../interop/build-peer.sh', import.meta.url));
let binary: Promise<string> | undefined;

/** The client-go peer binary, built into the cache on first use. */
export function goPeerBinary(): Promise<string> {
  binary ??= (async () => {
    const run = promisify(execFile)('bash', [buildScript], { timeout: 30 * 60_000 });
    run.child.stderr?.pipe(process.stderr);
    return (await run).stdout.trim();
  })();
  return binary;
}

export interface PeerEvent {
  type: 'term-start' | 'term-end' | 'new-leader' | 'exit';
  atNs: string;
  holder?: string;
  identity?: string;
}

/** One client-go leader-election candidate process (test/interop/peer). */
export class GoPeer {
  readonly name: string;
  readonly child: ChildProcess;
  readonly events: PeerEvent[] = [];
  readonly exited: Promise<number | null>;
  #listeners: ((event: PeerEvent) => void)[] = [];
  readonly #subscribers: ((event: PeerEvent) => void)[] = [];

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.child = child;
    killOnExit(child);
    let buffered = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl !== -1; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as PeerEvent;
        this.events.push(event);
        for (const subscriber of this.#subscribers) subscriber(event);
        for (const listener of this.#listeners) listener(event);
      }
    });
    child.stderr?.resume();
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static async start(options: {
    name: string;
    namespace: string;
    leaseName: string;
    kubeconfig: string;
    recordFile?: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  }): Promise<GoPeer> {
    const args = [
      `-kubeconfig=${options.kubeconfig}`,
      `-namespace=${options.namespace}`,
      `-lease=${options.leaseName}`,
      `-name=${options.name}`,
      `-lease-duration=${options.leaseDurationSeconds}s`,
      `-renew-deadline=${options.renewDeadlineSeconds}s`,
      `-retry-period=${options.retryPeriodSeconds}s`,
      ...(options.recordFile ? [`-record=${options.recordFile}`] : []),
    ];
    return new GoPeer(options.name, spawn(await goPeerBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  get leading(): boolean {
    const terms = this.events.filter((e) => e.type === 'term-start' || e.type === 'term-end');
    return terms.at(-1)?.type === 'term-start';
  }

  /** Calls `subscriber` with every event from now on. */
  onEvent(subscriber: (event: PeerEvent) => void): void {
    this.#subscribers.push(subscriber);
  }

  /** When the current (or last) term started, on the shared monotonic clock. */
  lastTermStartNs(): string {
    return this.events.filter((e) => e.type === 'term-start').at(-1)?.atNs ?? '0';
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the next event of `type` (or one already seen after index `from`). */
  next(type: PeerEvent['type'], from = this.events.length): Promise<PeerEvent> {
    const seen = this.events.slice(from).find((e) => e.type === type);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const listener = (event: PeerEvent): void => {
        if (event.type !== type) return;
        this.#listeners = this.#listeners.filter((l) => l !== listener);
        resolve(event);
      };
      this.#listeners.push(listener);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }
}
