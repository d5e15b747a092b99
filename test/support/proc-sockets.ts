import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * The established TCP connections a process holds to `remotePort`, from /proc: its socket inodes
 * (/proc/PID/fd) matched against the kernel's connection tables (/proc/PID/net/tcp, tcp6).
 */
export async function connectionsTo(pid: number, remotePort: number): Promise<number> {
  const inodes = new Set<string>();
  for (const fd of await readdir(`/proc/${pid}/fd`).catch(() => [])) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1] as string);
  }
  let count = 0;
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address rem_address st ... inode (field 9)
      const [, , remote, state] = fields;
      if (!remote || state !== '01') continue; // 01 = ESTABLISHED
      const port = Number.parseInt(remote.split(':')[1] ?? '', 16);
      if (port === remotePort && inodes.has(fields[9] ?? '')) count++;
    }
  }
  return count;
}
