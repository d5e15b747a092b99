// The chart's fencing policy (fencing.enabled), rendered by helm and created on an apiserver as a user's
// release would have it, for the tests and the bench that run a control plane of their own.
import { parseManifest, renderTemplate } from './helm.ts';
import { rawApi } from './raw-api.ts';
import type { ApiTarget } from './watch-stream.ts';

export interface FencingRelease {
  release: string;
  namespace: string;
  /** fencing.resources. */
  resources: { apiGroups: string[]; resources: string[]; operations: string[] }[];
  /** More `--set` values (serviceAccount.name, leaseName). */
  values?: string[];
}

const collections: Record<string, string> = {
  ValidatingAdmissionPolicy: 'validatingadmissionpolicies',
  ValidatingAdmissionPolicyBinding: 'validatingadmissionpolicybindings',
};

/** Renders templates/fencing.yaml of the app chart (its dependency built) and creates its objects. */
export async function applyFencing(target: ApiTarget, options: FencingRelease): Promise<void> {
  const manifest = await renderTemplate(options.release, options.namespace, 'templates/fencing.yaml', [
    '--kube-version',
    '1.36.3',
    '--set',
    'fencing.enabled=true',
    '--set-json',
    `fencing.resources=${JSON.stringify(options.resources)}`,
    ...(options.values ?? []).flatMap((value) => ['--set', value]),
  ]);
  for (const object of parseManifest(manifest)) {
    const path = `/apis/admissionregistration.k8s.io/v1/${collections[object.kind]}`;
    const { status, body } = await rawApi('POST', path, { body: object, target });
    if (status !== 201) throw new Error(`creating ${object.kind}: ${status} ${JSON.stringify(body)}`);
  }
}
