// A kubebuilder-style project on disk, for the docs' kustomize steps: not our fixture's shape, the one
// `kubebuilder init` gives.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A project laid out as `kubebuilder init` + `create api` lays out its config/ (the parts that matter):
 * namePrefix `<project>-`, namespace `<project>-system`.
 */
export async function kubebuilderLayout(root: string, project = 'billing'): Promise<void> {
  const files: Record<string, string> = {
    'config/default/kustomization.yaml': `namespace: ${project}-system\nnamePrefix: ${project}-\nresources:\n- ../rbac\n- ../manager\n`,
    'config/manager/kustomization.yaml':
      'resources:\n- manager.yaml\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nimages:\n- name: controller\n  newName: controller\n  newTag: latest\n',
    'config/manager/manager.yaml': `apiVersion: v1
kind: Namespace
metadata:
  labels:
    control-plane: controller-manager
    app.kubernetes.io/name: ${project}
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
  name: system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: controller-manager
  namespace: system
  labels:
    control-plane: controller-manager
    app.kubernetes.io/name: ${project}
spec:
  selector:
    matchLabels:
      control-plane: controller-manager
      app.kubernetes.io/name: ${project}
  replicas: 2
  template:
    metadata:
      annotations:
        kubectl.kubernetes.io/default-container: manager
      labels:
        control-plane: controller-manager
        app.kubernetes.io/name: ${project}
    spec:
      securityContext:
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
      - command:
        - /manager
        args:
          - --leader-elect=false
          - --health-probe-bind-address=:8081
        image: controller:latest
        name: manager
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop:
            - "ALL"
      serviceAccountName: controller-manager
      terminationGracePeriodSeconds: 10
`,
    'config/rbac/kustomization.yaml':
      'resources:\n- service_account.yaml\n- role.yaml\n- role_binding.yaml\n',
    'config/rbac/service_account.yaml':
      'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: controller-manager\n  namespace: system\n',
    'config/rbac/role.yaml': `apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: manager-role\nrules:\n- apiGroups: [${project}.example.com]\n  resources: [invoices]\n  verbs: [get, list, watch]\n`,
    'config/rbac/role_binding.yaml':
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: manager-rolebinding\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: manager-role\nsubjects:\n- kind: ServiceAccount\n  name: controller-manager\n  namespace: system\n',
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), text);
  }
}
