/** Renders a kubeconfig for one cluster and one bearer-token user. */
export function renderKubeconfig(options: {
  server: string;
  caPem: string;
  token: string;
  user: string;
  namespace?: string;
}): string {
  const ca = Buffer.from(options.caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: leasehold-local',
    '  cluster:',
    `    server: ${options.server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${options.user}`,
    '  user:',
    `    token: ${options.token}`,
    'contexts:',
    '- name: leasehold-local',
    '  context:',
    '    cluster: leasehold-local',
    `    user: ${options.user}`,
    `    namespace: ${options.namespace ?? 'default'}`,
    'current-context: leasehold-local',
    '',
  ].join('\n');
}
