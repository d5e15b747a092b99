import { readFile } from 'node:fs/promises';

const clockTicksPerSecond = 100; // USER_HZ on Linux

/** Resident set size and cumulative CPU seconds of a process, from /proc. */
export async function processUsage(pid: number): Promise<{ rssBytes: number; cpuSeconds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return { rssBytes: rssKb * 1024, cpuSeconds: ticks / clockTicksPerSecond };
}
