import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { load } from 'js-yaml';
import { LeaseholdError } from '../errors.ts';

/**
 * Where the sidecar's API credentials come from, read afresh on demand: the ServiceAccount files of a pod,
 * or a kubeconfig that uses a bearer token (inline or from a file), a client certificate or basic auth.
 * Anything else (exec plugins, auth providers, proxies, impersonation) is "delegated" to
 * @kubernetes/client-node, loaded only then.
 */
export interface Credentials {
  server: string;
  /** PEM contents. */
  ca?: string;
  cert?: string;
  key?: string;
  /** The bearer token as of this read. */
  token?: string;
  basicAuth?: string;
  insecureSkipTlsVerify?: boolean;
  servername?: string;
  /** Changes whenever the TLS material (CA, certificate, key) changes: the connection must be rebuilt. */
  tlsFingerprint: string;
}

export type CredentialSource =
  | { kind: 'files'; describe: string; read(): Credentials }
  | { kind: 'delegated'; describe: string; kubeconfig: string };

export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A pod's ServiceAccount: token and CA files (the kubelet rotates the token), server from the env. */
export function inClusterSource(
  env: Record<string, string | undefined>,
  dir = serviceAccountDir,
): CredentialSource {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) {
    throw new LeaseholdError(
      'LEASEHOLD_KUBECONFIG',
      'not in a cluster (KUBERNETES_SERVICE_HOST is not set) and no KUBECONFIG given',
    );
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    kind: 'files',
    describe: 'in-cluster',
    read: () => {
      const ca = readText(join(dir, 'ca.crt'), 'the ServiceAccount CA');
      return {
        server,
        ca,
        token: readText(join(dir, 'token'), 'the ServiceAccount token').trim(),
        tlsFingerprint: fingerprint(ca),
      };
    },
  };
}

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

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LeaseholdError('LEASEHOLD_KUBECONFIG', `cannot read ${what} (${path})`, { cause: err });
  }
}

function fingerprint(...parts: (string | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => p ?? '').join('\0'))
    .digest('hex');
}
