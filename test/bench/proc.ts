import { readdir, readFile, readlink } from 'node:fs/promises';

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

/** The most resident memory the process has had (VmHWM), in bytes. */
export async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN) * 1024;
}

/**
 * Local ports of the established TCP connections a process opened itself (its sockets whose local port
 * is not one it listens on), from /proc/<pid>/fd and /proc/<pid>/net/tcp{,6}.
 */
export async function outgoingConnections(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const sockets: { localPort: number; state: string }[] = [];
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || !inodes.has(fields[9] as string)) continue;
      const localPort = Number.parseInt((fields[1] as string).split(':')[1] as string, 16);
      sockets.push({ localPort, state: fields[3] as string });
    }
  }
  const listening = new Set(sockets.filter((s) => s.state === '0A').map((s) => s.localPort));
  return sockets.filter((s) => s.state === '01' && !listening.has(s.localPort)).map((s) => s.localPort);
}
