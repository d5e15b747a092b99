import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** A file's text, or LEASEHOLD_KUBECONFIG naming `what` and the path. */
export function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new LeaseholdError('LEASEHOLD_KUBECONFIG', `cannot read ${what} (${path})`, { cause: err });
  }
}

/** A digest of the TLS material: when it changes, the connection must be rebuilt. */
export function fingerprint(...parts: (string | undefined)[]): string {
  return createHash('sha256')
    .update(parts.map((p) => p ?? '').join('\0'))
    .digest('hex');
}
