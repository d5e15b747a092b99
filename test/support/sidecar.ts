import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { LeaderAnswer } from '@leasehold/controller';
import { freePort } from '../cluster/ports.ts';

// LEASEHOLD_SIDECAR_BIN runs another build of the sidecar under the same tests (an older one, say).
const sidecarBin =
  process.env.LEASEHOLD_SIDECAR_BIN ??
  fileURLToPath(new URL('../../sidecar/bin/leasehold-sidecar.js', import.meta.url));

/** The Node flags the image starts the bundle with (sidecar/Dockerfile): what we test is what we ship. */
export const sidecarNodeFlags = ['--max-semi-space-size=1', '--optimize-for-size'];

/** Fast timings for tests; every bound a test asserts is derived from these. */
export const testTimings = {
  leaseDurationSeconds: 4,
  renewDeadlineSeconds: 3,
  retryPeriodSeconds: 0.5,
  safetyMarginSeconds: 1,
} as const;

export type { LeaderAnswer } from '@leasehold/controller';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Kills `child` when this test process exits, whatever happens to the test. */
export function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

/** One real sidecar process (the package's bin) with its own port and log. */
export class SidecarProcess {
  readonly port: number;
  readonly podName: string;
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(port: number, podName: string, child: ChildProcess) {
    this.port = port;
    this.podName = podName;
    this.url = `http://127.0.0.1:${port}`;
    this.child = child;
    running.add(child);
    const keep = (chunk: Buffer): void => {
      this.output.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.on('exit', (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
  }

  static async start(options: {
    namespace: string;
    leaseName: string;
    podName: string;
    kubeconfig: string;
    env?: Record<string, string>;
    waitReady?: boolean;
    port?: number;
    /** Another build's bin (an installed package's, say), run by `node` (default: this Node). */
    bin?: string;
    node?: string;
  }): Promise<SidecarProcess> {
    // A port that was free when chosen can be taken before the sidecar binds it (by an outgoing
    // connection's ephemeral port, say): then the sidecar exits with EADDRINUSE, and another is tried.
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePort());
      try {
        return await SidecarProcess.#spawn(options, port);
      } catch (err) {
        // waitForHttp's error for an exited sidecar carries the end of its output.
        const taken = String(err).includes('EADDRINUSE');
        if (!taken || options.port !== undefined || attempt === 3) throw err;
      }
    }
  }

  static async #spawn(
    options: Parameters<typeof SidecarProcess.start>[0],
    port: number,
  ): Promise<SidecarProcess> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      LEASE_NAME: options.leaseName,
      POD_NAMESPACE: options.namespace,
      POD_NAME: options.podName,
      KUBECONFIG: options.kubeconfig,
      PORT: String(port),
      LOG_FORMAT: 'json',
      MALLOC_ARENA_MAX: '2',
      LEASE_DURATION_SECONDS: String(testTimings.leaseDurationSeconds),
      LEASE_RENEW_DEADLINE_SECONDS: String(testTimings.renewDeadlineSeconds),
      LEASE_RETRY_PERIOD_SECONDS: String(testTimings.retryPeriodSeconds),
      LEASE_SAFETY_MARGIN_SECONDS: String(testTimings.safetyMarginSeconds),
      ...options.env,
    };
    const child = spawn(options.node ?? process.execPath, [...sidecarNodeFlags, options.bin ?? sidecarBin], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const sidecar = new SidecarProcess(port, options.podName, child);
    if (options.waitReady !== false) await sidecar.waitForHttp();
    return sidecar;
  }

  async waitForHttp(timeoutMs = 20_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`sidecar ${this.podName} exited:\n${this.tail()}`);
      const ok = await fetch(`${this.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await sleep(50);
    }
    throw new Error(`sidecar ${this.podName} did not serve within ${timeoutMs} ms:\n${this.tail()}`);
  }

  async leader(path = '/leader'): Promise<LeaderAnswer> {
    const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(2_000) });
    return (await response.json()) as LeaderAnswer;
  }

  /** The answer, or undefined when the sidecar does not answer (stopped, frozen, gone). */
  async tryLeader(): Promise<LeaderAnswer | undefined> {
    return this.leader().catch(() => undefined);
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  logLines(): Record<string, unknown>[] {
    return this.output.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  tail(lines = 30): string {
    return this.output.slice(-lines).join('\n');
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  everyMs = 25,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The one sidecar that says it leads, once exactly one does and every live one agrees on `name`. */
export async function waitForSingleLeader(
  sidecars: SidecarProcess[],
  timeoutMs: number,
): Promise<SidecarProcess> {
  return waitUntil(
    'exactly one leader that all sidecars agree on',
    async () => {
      const answers = await Promise.all(sidecars.map((s) => s.tryLeader()));
      const leaders = sidecars.filter((_, i) => answers[i]?.isLeader);
      if (leaders.length !== 1) return undefined;
      const name = (leaders[0] as SidecarProcess).podName;
      return answers.every((a) => a === undefined || a.name === name) ? leaders[0] : undefined;
    },
    timeoutMs,
  );
}
