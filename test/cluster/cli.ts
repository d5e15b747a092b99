// npm run cluster -- up [--with-node] | down | binaries
// `up` starts etcd + kube-apiserver, prints KUBECONFIG=<path> and stays up until Ctrl-C / SIGTERM.
// `up --with-node` starts a whole single-node cluster instead (kubelet, containerd, scheduler,
// controller-manager, kube-proxy; needs root), prints KUBECONFIG=<path> once the node is Ready and
// tears it down on Ctrl-C / SIGTERM. Both start the harness's OCI registry (registry/registry.sh, on
// 127.0.0.1:15000 unless LEASEHOLD_REGISTRY says otherwise) and stop it, with everything pushed to it,
// when they stop. `down` stops whatever is left running.
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { controlPlaneBinaries } from './binaries.ts';
import { ControlPlane } from './control-plane.ts';

const stateDir = join(
  process.env.LEASEHOLD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'leasehold'),
  'run',
);
const stateFile = join(stateDir, 'cluster.json');

const nodeCluster = fileURLToPath(new URL('node/node-cluster.sh', import.meta.url));
const registry = fileURLToPath(new URL('registry/registry.sh', import.meta.url));
const registryDown = () => promisify(execFile)('bash', [registry, 'down']).catch(() => {});

function untilSignal(): Promise<string> {
  return new Promise<string>((resolve) => {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, () => resolve(s));
  });
}

async function upWithNode(): Promise<void> {
  const child = spawn('bash', [nodeCluster, 'up'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const interrupted = untilSignal();
  const code = await Promise.race([
    new Promise<number | null>((resolve) => child.once('exit', resolve)),
    interrupted,
  ]);
  if (code !== 0) {
    process.stderr.write(
      typeof code === 'string' ? `${code}: tearing down\n` : `node-cluster.sh up failed (${code})\n`,
    );
    child.kill('SIGTERM');
    await promisify(execFile)('bash', [nodeCluster, 'down']).catch(() => {});
    await registryDown();
    process.exitCode = 1;
    return;
  }
  process.stdout.write(output);
  process.stderr.write('node Ready; Ctrl-C tears it down\n');
  const signal = await interrupted;
  process.stderr.write(`${signal}: tearing the node cluster down\n`);
  await promisify(execFile)('bash', [nodeCluster, 'down']);
  await registryDown();
}

async function up(): Promise<void> {
  const { stdout: registryLine } = await promisify(execFile)('bash', [registry, 'up']);
  const controlPlane = await ControlPlane.start();
  await mkdir(stateDir, { recursive: true });
  await writeFile(stateFile, JSON.stringify({ pid: process.pid, ...controlPlane.info }));
  process.stdout.write(`KUBECONFIG=${controlPlane.info.kubeconfigPath}\n${registryLine}`);
  process.stderr.write(
    `kube-apiserver ${controlPlane.info.binaries.kubernetesVersion} at ${controlPlane.info.server}; Ctrl-C stops it\n`,
  );
  const signal = await untilSignal();
  process.stderr.write(`${signal}: stopping the control plane\n`);
  await controlPlane.stop();
  await registryDown();
  await rm(stateFile, { force: true });
}

async function down(): Promise<void> {
  await promisify(execFile)('bash', [nodeCluster, 'down']).catch((err: { stderr?: string }) => {
    process.stderr.write(`node cluster: ${err.stderr ?? err}\n`);
  });
  await registryDown();
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
if (command === 'up' && process.argv.includes('--with-node')) await upWithNode();
else if (command === 'up') await up();
else if (command === 'down') await down();
else if (command === 'binaries')
  process.stdout.write(`${JSON.stringify(await controlPlaneBinaries(), null, 2)}\n`);
else {
  process.stderr.write('usage: npm run cluster -- up [--with-node] | down | binaries\n');
  process.exitCode = 2;
}
