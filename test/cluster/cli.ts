// npm run cluster -- up | down | binaries
// `up` starts etcd + kube-apiserver, prints KUBECONFIG=<path> and stays up until Ctrl-C / SIGTERM.
// `down` stops one left running (found through the state file).
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlaneBinaries } from './binaries.ts';
import { ControlPlane } from './control-plane.ts';

const stateDir = join(
  process.env.LEASEHOLD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'leasehold'),
  'run',
);
const stateFile = join(stateDir, 'cluster.json');

async function up(): Promise<void> {
  const controlPlane = await ControlPlane.start();
  await mkdir(stateDir, { recursive: true });
  await writeFile(stateFile, JSON.stringify({ pid: process.pid, ...controlPlane.info }));
  process.stdout.write(`KUBECONFIG=${controlPlane.info.kubeconfigPath}\n`);
  process.stderr.write(
    `kube-apiserver ${controlPlane.info.binaries.kubernetesVersion} at ${controlPlane.info.server}; Ctrl-C stops it\n`,
  );
  const signal = await new Promise<string>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
  });
  process.stderr.write(`${signal}: stopping the control plane\n`);
  await controlPlane.stop();
  await rm(stateFile, { force: true });
}

async function down(): Promise<void> {
  const state = await readFile(stateFile, 'utf8').catch(() => undefined);
  if (!state) {
    process.stderr.write('no control plane recorded as running\n');
    return;
  }
  const { pid } = JSON.parse(state) as { pid: number };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    await rm(stateFile, { force: true });
    process.stderr.write(`process ${pid} was already gone\n`);
    return;
  }
  for (let i = 0; i < 300; i++) {
    await sleep(100);
    try {
      process.kill(pid, 0);
    } catch {
      process.stderr.write('control plane stopped\n');
      return;
    }
  }
  throw new Error(`process ${pid} did not stop within 30 s`);
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') await down();
else if (command === 'binaries')
  process.stdout.write(`${JSON.stringify(await controlPlaneBinaries(), null, 2)}\n`);
else {
  process.stderr.write('usage: npm run cluster -- up | down | binaries\n');
  process.exitCode = 2;
}
