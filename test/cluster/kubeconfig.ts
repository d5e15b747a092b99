/** Renders a kubeconfig for one cluster and one user: a bearer token (inline or a file) or a client certificate (files). */
export function renderKubeconfig(options: {
  server: string;
  caPem: string;
  user: string;
  token?: string;
  tokenFile?: string;
  clientCertificate?: string;
  clientKey?: string;
  namespace?: string;
}): string {
  const ca = Buffer.from(options.caPem).toString('base64');
  const credentials = [
    ...(options.token ? [`    token: ${options.token}`] : []),
    ...(options.tokenFile ? [`    tokenFile: ${options.tokenFile}`] : []),
    ...(options.clientCertificate ? [`    client-certificate: ${options.clientCertificate}`] : []),
    ...(options.clientKey ? [`    client-key: ${options.clientKey}`] : []),
  ];
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
    ...credentials,
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
