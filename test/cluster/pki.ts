import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** An RSA key for signing and verifying ServiceAccount tokens, PKCS#8 PEM. */
export function serviceAccountSigningKey(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A random bearer token for the static admin user. */
export function randomToken(): string {
  return randomBytes(24).toString('base64url');
}

const openssl = (args: string[], cwd: string) => promisify(execFile)('openssl', args, { cwd });

/**
 * A certificate authority in `dir` (openssl): it signs client certificates the apiserver accepts
 * (--client-ca-file) and serving certificates for the local node's components.
 */
export class CertificateAuthority {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  #serial = 1;

  private constructor(dir: string) {
    this.dir = dir;
    this.certFile = join(dir, 'ca.crt');
    this.keyFile = join(dir, 'ca.key');
  }

  /** The CA already in `dir`. */
  static open(dir: string): CertificateAuthority {
    const ca = new CertificateAuthority(dir);
    ca.#serial = Date.now();
    return ca;
  }

  static async create(dir: string, name = 'leasehold-test-ca'): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true });
    const ca = new CertificateAuthority(dir);
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca.keyFile], dir);
    await openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        ca.keyFile,
        '-days',
        '30',
        '-subj',
        `/CN=${name}`,
        '-out',
        ca.certFile,
      ],
      dir,
    );
    return ca;
  }

  async pem(): Promise<string> {
    return readFile(this.certFile, 'utf8');
  }

  /**
   * Issues a certificate: CN = user, O = each group; `altNames` (DNS:…, IP:…) for a serving certificate.
   * Returns the PEM certificate and key.
   */
  async issue(
    user: string,
    options: { groups?: string[]; altNames?: string[]; days?: number } = {},
  ): Promise<{ cert: string; key: string }> {
    const base = join(this.dir, `${user.replace(/[^a-zA-Z0-9.-]/g, '_')}-${this.#serial++}`);
    const subject = `/CN=${user}${(options.groups ?? []).map((g) => `/O=${g}`).join('')}`;
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`], this.dir);
    await openssl(['req', '-new', '-key', `${base}.key`, '-subj', subject, '-out', `${base}.csr`], this.dir);
    const extensions = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${options.altNames ? 'serverAuth,clientAuth' : 'clientAuth'}`,
      ...(options.altNames ? [`subjectAltName=${options.altNames.join(',')}`] : []),
    ];
    await writeFile(`${base}.ext`, `${extensions.join('\n')}\n`);
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${base}.csr`,
        '-CA',
        this.certFile,
        '-CAkey',
        this.keyFile,
        '-CAcreateserial',
        '-days',
        String(options.days ?? 30),
        '-extfile',
        `${base}.ext`,
        '-out',
        `${base}.crt`,
      ],
      this.dir,
    );
    return { cert: await readFile(`${base}.crt`, 'utf8'), key: await readFile(`${base}.key`, 'utf8') };
  }
}
