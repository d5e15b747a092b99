import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** Paths of the pinned control-plane binaries (see build-control-plane.sh). */
export interface ControlPlaneBinaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  helm: string;
  kubernetesVersion: string;
}

const script = fileURLToPath(new URL('./build-control-plane.sh', import.meta.url));
let cached: Promise<ControlPlaneBinaries> | undefined;

/** Locates the binaries, building them into the cache first when missing (progress goes to stderr). */
export function controlPlaneBinaries(): Promise<ControlPlaneBinaries> {
  cached ??= (async () => {
    const child = promisify(execFile)('bash', [script], { maxBuffer: 1 << 20, timeout: 60 * 60_000 });
    child.child.stderr?.pipe(process.stderr);
    const { stdout } = await child;
    const last = stdout.trim().split('\n').at(-1) ?? '';
    return JSON.parse(last) as ControlPlaneBinaries;
  })();
  return cached;
}
