import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const guard = fileURLToPath(new URL('./guard.sh', import.meta.url));

/**
 * A control-plane process run under guard.sh: it dies with us even if we are SIGKILLed, because the
 * guard stops it when the pipe on its stdin closes. Output goes to a log file.
 */
export class ManagedProcess {
  readonly name: string;
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  #running = true;

  constructor(name: string, command: string, args: string[], logFile: string) {
    this.name = name;
    const log = createWriteStream(logFile, { flags: 'a' });
    this.#child = spawn('bash', [guard, command, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdout?.pipe(log);
    this.#child.stderr?.pipe(log);
    this.exited = new Promise((resolve) => {
      this.#child.on('exit', (code) => {
        this.#running = false;
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.#running;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Stops the process (SIGTERM, then SIGKILL after `graceMs`) and waits for it. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.#running) return;
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.stdin?.destroy(), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.#child.stdin?.destroy();
  }
}
