import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlPlane } from './control-plane.ts';

// One control plane per `node --test` run; test files reach it through LEASEHOLD_TEST_CLUSTER and
// isolate themselves by namespace.
let controlPlane: ControlPlane | undefined;

export async function globalSetup(): Promise<void> {
  const started = performance.now();
  controlPlane = await ControlPlane.start();
  const file = join(controlPlane.info.dir, 'cluster.json');
  await writeFile(file, JSON.stringify(controlPlane.info));
  process.env.LEASEHOLD_TEST_CLUSTER = file;
  process.stderr.write(
    `[cluster] kube-apiserver ${controlPlane.info.binaries.kubernetesVersion} ready at ${controlPlane.info.server} ` +
      `in ${Math.round(performance.now() - started)} ms (KUBECONFIG=${controlPlane.info.kubeconfigPath})\n`,
  );
}

export async function globalTeardown(): Promise<void> {
  if (!controlPlane) return;
  const failed = Boolean(process.exitCode);
  await controlPlane.stop({ keepLogs: failed });
  if (failed)
    process.stderr.write(`[cluster] tests failed; control-plane logs kept in ${controlPlane.info.dir}\n`);
}
