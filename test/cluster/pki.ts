import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** An RSA key for signing and verifying ServiceAccount tokens, PKCS#8 PEM. */
export function serviceAccountSigningKey(): string {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A random bearer token for the static admin user. */
export function randomToken(): string {
  return randomBytes(24).toString('base64url');
}
