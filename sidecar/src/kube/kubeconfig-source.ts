// A kubeconfig file as a credential source. Its own module, loaded only when KUBECONFIG is set: a pod
// reads its ServiceAccount files (credentials.ts) and never needs the YAML parser.
import { dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';
import { LeaseholdError } from '../errors.ts';
import { type CredentialSource, type Credentials, fingerprint, readText } from './credentials.ts';

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string } }[];
  clusters?: { name: string; cluster?: Record<string, unknown> }[];
  users?: { name: string; user?: Record<string, unknown> }[];
}

const delegatedUserFields = ['exec', 'auth-provider', 'as', 'as-groups', 'as-uid', 'as-user-extra'];

/** A kubeconfig file; re-read (with the files it names) on every read(). */
export function kubeconfigSource(path: string): CredentialSource {
  const first = parseKubeconfig(path);
  if (delegatedUserFields.some((field) => first.user[field] !== undefined) || first.cluster['proxy-url']) {
    return { kind: 'delegated', describe: path, kubeconfig: path };
  }
  return { kind: 'files', describe: path, read: () => credentialsFrom(path, parseKubeconfig(path)) };
}

function parseKubeconfig(path: string): { cluster: Record<string, unknown>; user: Record<string, unknown> } {
  let config: KubeconfigFile;
  try {
    config = (load(readText(path, 'the kubeconfig')) ?? {}) as KubeconfigFile;
  } catch (err) {
    if (err instanceof LeaseholdError) throw err;
    throw new LeaseholdError('LEASEHOLD_KUBECONFIG', `${path} is not valid YAML`, { cause: err });
  }
  const context = config.contexts?.find((c) => c.name === config['current-context'])?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  if (!context || !cluster || typeof cluster.server !== 'string')
    throw new LeaseholdError('LEASEHOLD_KUBECONFIG', `${path} names no current cluster`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  return { cluster, user };
}

function credentialsFrom(
  path: string,
  { cluster, user }: { cluster: Record<string, unknown>; user: Record<string, unknown> },
): Credentials {
  const base = dirname(path);
  const material = (data: unknown, file: unknown, what: string): string | undefined => {
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64').toString('utf8');
    if (typeof file === 'string' && file !== '')
      return readText(isAbsolute(file) ? file : join(base, file), what);
    return undefined;
  };
  const ca = material(
    cluster['certificate-authority-data'],
    cluster['certificate-authority'],
    'the cluster CA',
  );
  const cert = material(
    user['client-certificate-data'],
    user['client-certificate'],
    'the client certificate',
  );
  const key = material(user['client-key-data'], user['client-key'], 'the client key');
  const tokenFile = user.tokenFile ?? user['token-file'];
  const token =
    typeof user.token === 'string' && user.token !== ''
      ? user.token
      : typeof tokenFile === 'string' && tokenFile !== ''
        ? readText(isAbsolute(tokenFile) ? tokenFile : join(base, tokenFile), 'the token file').trim()
        : undefined;
  const basicAuth =
    typeof user.username === 'string' && user.username !== ''
      ? Buffer.from(`${user.username}:${String(user.password ?? '')}`).toString('base64')
      : undefined;
  return {
    server: (cluster.server as string).replace(/\/$/, ''),
    ca,
    cert,
    key,
    token,
    basicAuth,
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    servername: typeof cluster['tls-server-name'] === 'string' ? cluster['tls-server-name'] : undefined,
    tlsFingerprint: fingerprint(ca, cert, key, String(cluster['insecure-skip-tls-verify'] ?? '')),
  };
}
