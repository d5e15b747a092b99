import type { LeaderAnswer } from '../support/sidecar.ts';

export interface Transition {
  at: Date;
  holder: string;
  epoch: number;
  kind: string;
  tookMs: number;
}

export interface Row {
  name: string;
  url: string;
  answer: LeaderAnswer | undefined;
}

/** The demo's screen: a live table on a terminal, or one line per second for logs and CI. */
export class DemoView {
  readonly #interactive: boolean;
  readonly #header: string;
  #notes: string[] = [];

  constructor(options: { interactive: boolean; kubeconfig: string; namespace: string; leaseName: string }) {
    this.#interactive = options.interactive;
    this.#header = [
      'Leasehold demo: 3 replicas (sidecar + example controller) on a local kube-apiserver',
      `  KUBECONFIG=${options.kubeconfig}`,
      `  kubectl -n ${options.namespace} get lease ${options.leaseName} -o yaml`,
    ].join('\n');
    if (!this.#interactive) process.stdout.write(`${this.#header}\n`);
  }

  note(text: string): void {
    this.#notes.push(`${new Date().toISOString().slice(11, 23)} ${text}`);
    this.#notes = this.#notes.slice(-5);
    if (!this.#interactive) process.stdout.write(`action: ${text}\n`);
  }

  render(rows: Row[], transitions: Transition[]): void {
    const leader = rows.find((r) => r.answer?.isLeader);
    if (!this.#interactive) {
      const who = leader
        ? `${leader.name} epoch ${leader.answer?.epoch} valid ${leader.answer?.validForMs} ms`
        : 'none';
      process.stdout.write(
        `${new Date().toISOString()} leader: ${who}; transitions: ${transitions.length}\n`,
      );
      return;
    }
    const lines = [this.#header, '', '  replica      role       leader?  epoch  validForMs  /leader'];
    for (const row of rows) {
      const a = row.answer;
      const mark = a?.isLeader ? '\x1b[32m  yes  \x1b[0m' : '   no  ';
      lines.push(
        `  ${row.name.padEnd(12)} ${(a?.role ?? 'down').padEnd(10)} ${mark}  ${String(a?.epoch ?? '-').padStart(5)}  ${String(a?.validForMs ?? 0).padStart(10)}  ${row.url}`,
      );
    }
    lines.push('', '  recent transitions:');
    for (const t of transitions.slice(-6)) {
      lines.push(
        `    ${t.at.toISOString().slice(11, 23)}  ${t.holder.padEnd(24)} epoch ${String(t.epoch).padStart(3)}  ${t.kind} in ${Math.round(t.tookMs)} ms`,
      );
    }
    lines.push(
      '',
      '  keys: [k] kill -9 leader  [s] freeze leader  [t] SIGTERM leader  [r] resign leader  [q] quit',
      '',
    );
    lines.push(...this.#notes.map((n) => `  ${n}`));
    process.stdout.write(`\x1b[2J\x1b[H${lines.join('\n')}\n`);
  }

  summary(transitions: Transition[]): void {
    process.stdout.write(`\n${transitions.length} transitions:\n`);
    for (const t of transitions)
      process.stdout.write(`  ${t.holder} epoch ${t.epoch}: ${t.kind} in ${Math.round(t.tookMs)} ms\n`);
  }

  close(): void {
    if (this.#interactive) process.stdin.setRawMode(false);
  }
}
