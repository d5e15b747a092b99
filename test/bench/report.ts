import type { SteadyState } from './measure.ts';
import type { Summary } from './stats.ts';

export interface SideResults {
  gracefulHandoverMs: Summary & { samples: number[] };
  crashBeyondExpiryMs: Summary & { samples: number[] };
  steady: SteadyState;
  startToFirstAcquisitionMs: Summary;
}

export interface BenchResults {
  date: string;
  machine: { cpus: number; node: string; kubernetes: string };
  timings: { leaseDurationSeconds: number; renewDeadlineSeconds: number; retryPeriodSeconds: number };
  leasehold: SideResults & {
    lossNotificationMs: Summary;
    /**
     * With the peak RSS (VmHWM) of that sidecar over its whole life, load included, and the floor: the
     * same load on a bare node:http server (bench/reference-server.ts).
     */
    leaderLatencyMs: Summary & { ratePerSecond: number; peakRssMiB: number; floor: Summary };
    /** SIGTERM → another replica acted on, as session-less pollers (no gate) see it. */
    sessionlessHandoverMs: Summary & { samples: number[]; overlaps: number };
  };
  clientGo: SideResults;
  timeline: { name: string; kind: string; intervals: [number, number][] }[];
}

const ratio = (ours: number, theirs: number): string =>
  theirs > 0 ? `${(ours / theirs).toFixed(2)}×` : 'n/a';
const mark = (ok: boolean): string => (ok ? 'met' : '**not met**');

export function markdownTable(r: BenchResults): string {
  const l = r.leasehold;
  const g = r.clientGo;
  const rows = [
    [
      'graceful hand-over, gate clients, p50 (ms)',
      l.gracefulHandoverMs.p50,
      g.gracefulHandoverMs.p50,
      ratio(l.gracefulHandoverMs.p50, g.gracefulHandoverMs.p50),
      '',
    ],
    [
      'graceful hand-over, gate clients, p99 (ms)',
      l.gracefulHandoverMs.p99,
      g.gracefulHandoverMs.p99,
      ratio(l.gracefulHandoverMs.p99, g.gracefulHandoverMs.p99),
      `≤ 100: ${mark(l.gracefulHandoverMs.p99 <= 100)}`,
    ],
    [
      'graceful hand-over, session-less clients, p50 / p99 (ms)',
      `${l.sessionlessHandoverMs.p50} / ${l.sessionlessHandoverMs.p99}`,
      '—',
      '',
      `p99 ≤ 1000: ${mark(l.sessionlessHandoverMs.p99 <= 1000)}`,
    ],
    [
      'overlapping acting windows, session-less clients',
      l.sessionlessHandoverMs.overlaps,
      '—',
      '',
      `0: ${mark(l.sessionlessHandoverMs.overlaps === 0)}`,
    ],
    [
      'crash takeover beyond expiry p50 (ms)',
      l.crashBeyondExpiryMs.p50,
      g.crashBeyondExpiryMs.p50,
      ratio(l.crashBeyondExpiryMs.p50, g.crashBeyondExpiryMs.p50),
      '',
    ],
    [
      'crash takeover beyond expiry max (ms)',
      l.crashBeyondExpiryMs.max,
      g.crashBeyondExpiryMs.max,
      ratio(l.crashBeyondExpiryMs.max, g.crashBeyondExpiryMs.max),
      `≤ 250: ${mark(l.crashBeyondExpiryMs.max <= 250)}`,
    ],
    [
      'Lease API requests / min / replica',
      l.steady.requestsPerMinutePerReplica,
      g.steady.requestsPerMinutePerReplica,
      ratio(l.steady.requestsPerMinutePerReplica, g.steady.requestsPerMinutePerReplica),
      `≤ 50 %: ${mark(l.steady.requestsPerMinutePerReplica <= g.steady.requestsPerMinutePerReplica / 2)}`,
    ],
    [
      'RSS max (MiB)',
      l.steady.rssMiB.max,
      g.steady.rssMiB.max,
      ratio(l.steady.rssMiB.max, g.steady.rssMiB.max),
      `≤ 80: ${mark(l.steady.rssMiB.max <= 80)} (goal 64)`,
    ],
    [
      'CPU idle, leader / follower (% of one core)',
      `${l.steady.cpuPercentByRole.leader} / ${l.steady.cpuPercentByRole.follower}`,
      `${g.steady.cpuPercentByRole.leader} / ${g.steady.cpuPercentByRole.follower}`,
      '',
      `≤ 0.2: ${mark(Math.max(l.steady.cpuPercentByRole.leader, l.steady.cpuPercentByRole.follower) <= 0.2)}`,
    ],
    [
      'API connections per candidate over the steady window',
      l.steady.connectionsPerCandidateMax,
      g.steady.connectionsPerCandidateMax,
      '',
      `1: ${mark(l.steady.connectionsPerCandidateMax === 1)}`,
    ],
    [
      'start → first acquisition p50 (ms)',
      l.startToFirstAcquisitionMs.p50,
      g.startToFirstAcquisitionMs.p50,
      ratio(l.startToFirstAcquisitionMs.p50, g.startToFirstAcquisitionMs.p50),
      `≤ 200: ${mark(l.startToFirstAcquisitionMs.p50 <= 200)}`,
    ],
    [
      'loss notification p50 / p99 (ms)',
      `${l.lossNotificationMs.p50} / ${l.lossNotificationMs.p99}`,
      '—',
      '',
      `≤ 50: ${mark(l.lossNotificationMs.p99 <= 50)}`,
    ],
    [
      `/leader latency p50 / p99 at ${l.leaderLatencyMs.ratePerSecond}/s (ms)`,
      `${l.leaderLatencyMs.p50} / ${l.leaderLatencyMs.p99}`,
      '—',
      '',
      `p99 ≤ 2: ${mark(l.leaderLatencyMs.p99 <= 2)}`,
    ],
    [
      `the same load on a bare node:http server, p50 / p99 (ms): this machine's floor`,
      `${l.leaderLatencyMs.floor.p50} / ${l.leaderLatencyMs.floor.p99}`,
      '—',
      '',
      '',
    ],
    [`RSS peak of that sidecar, load included (MiB)`, l.leaderLatencyMs.peakRssMiB, '—', '', ''],
  ];
  return [
    `Measured ${r.date} on ${r.machine.cpus} cores, Node ${r.machine.node}, Kubernetes ${r.machine.kubernetes}; ` +
      `LD/RD/RP = ${r.timings.leaseDurationSeconds}/${r.timings.renewDeadlineSeconds}/${r.timings.retryPeriodSeconds} s for both. ` +
      `Samples: ${l.gracefulHandoverMs.n} / ${g.gracefulHandoverMs.n} hand-overs, ${l.crashBeyondExpiryMs.n} / ${g.crashBeyondExpiryMs.n} crashes, ${l.steady.seconds} s steady state.`,
    '',
    '| measure | Leasehold | client-go | ratio | target |',
    '|---|---|---|---|---|',
    ...rows.map((row) => `| ${row.join(' | ')} |`),
    '',
    `Lease requests in the steady window by verb — Leasehold: ${JSON.stringify(l.steady.leaseRequestsByVerb)}; client-go: ${JSON.stringify(g.steady.leaseRequestsByVerb)}.`,
    '',
  ].join('\n');
}

/** Strip chart of the hand-over samples of both sides on a log axis. */
export function handoverSvg(r: BenchResults): string {
  const width = 720;
  const height = 220;
  const left = 140;
  const right = 20;
  const all = [...r.leasehold.gracefulHandoverMs.samples, ...r.clientGo.gracefulHandoverMs.samples].filter(
    (x) => x > 0,
  );
  const lo = Math.log10(Math.max(1, Math.min(...all) / 2));
  const hi = Math.log10(Math.max(...all) * 2);
  const x = (ms: number): number =>
    left + ((Math.log10(Math.max(ms, 1)) - lo) / (hi - lo)) * (width - left - right);
  const lanes: [string, number[], string][] = [
    ['Leasehold', r.leasehold.gracefulHandoverMs.samples, '#1b7f3b'],
    ['client-go', r.clientGo.gracefulHandoverMs.samples, '#b5462b'],
  ];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="18" font-size="14">Graceful hand-over: leader SIGTERM → next leader acting (ms, log scale)</text>`,
  ];
  lanes.forEach(([name, samples, color], lane) => {
    const y = 70 + lane * 60;
    parts.push(
      `<text x="10" y="${y + 4}">${name}</text><line x1="${left}" x2="${width - right}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
    );
    for (const [i, s] of samples.entries()) {
      parts.push(
        `<circle cx="${x(s).toFixed(1)}" cy="${y + ((i % 5) - 2) * 4}" r="3" fill="${color}" fill-opacity="0.6"/>`,
      );
    }
  });
  for (let decade = Math.ceil(lo); decade <= hi; decade++) {
    const value = 10 ** decade;
    parts.push(
      `<line x1="${x(value)}" x2="${x(value)}" y1="170" y2="176" stroke="#333"/><text x="${x(value) - 10}" y="192">${value}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** A failover timeline: who acted when, per candidate, over one bench phase. */
export function timelineSvg(r: BenchResults): string {
  const width = 720;
  const laneHeight = 22;
  const left = 150;
  const rows = r.timeline.filter((t) => t.intervals.length > 0);
  const height = 60 + rows.length * laneHeight;
  const end = Math.max(1, ...rows.flatMap((t) => t.intervals.map(([, e]) => e)));
  const x = (s: number): number => left + (s / end) * (width - left - 20);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    '<text x="10" y="18" font-size="14">Who acted as leader, over the hand-over and crash runs (seconds)</text>',
  ];
  rows.forEach((row, i) => {
    const y = 40 + i * laneHeight;
    const color = row.kind === 'leasehold' ? '#1b7f3b' : '#b5462b';
    parts.push(`<text x="10" y="${y + 12}">${row.kind} ${row.name}</text>`);
    for (const [s, e] of row.intervals)
      parts.push(
        `<rect x="${x(s).toFixed(1)}" y="${y}" width="${Math.max(1, x(e) - x(s)).toFixed(1)}" height="14" fill="${color}"/>`,
      );
  });
  parts.push(
    `<text x="${left}" y="${height - 6}">0</text><text x="${width - 60}" y="${height - 6}">${end.toFixed(0)} s</text></svg>`,
  );
  return parts.join('\n');
}
