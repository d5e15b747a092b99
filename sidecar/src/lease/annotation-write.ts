import type { LeaseApi } from '../kube/lease-api.ts';

/**
 * Sets (or, with `value` undefined, removes) one annotation of the Lease, only if it reads `expected`
 * now (undefined: absent): a read, then an update over what was read, so a write in between fails with
 * 409 instead of being overwritten. Returns whether it wrote; a missing Lease is left alone.
 */
export async function writeAnnotationIf(
  api: LeaseApi,
  key: string,
  change: { expected: string | undefined; value: string | undefined },
  timeoutMs: number,
): Promise<boolean> {
  const lease = await api.get(timeoutMs);
  if (!lease) return false;
  const { [key]: current, ...others } = (lease.metadata?.annotations ?? {}) as Record<string, string>;
  if (current !== change.expected) return false;
  const annotations = change.value === undefined ? others : { ...others, [key]: change.value };
  await api.replace({ ...lease, metadata: { ...lease.metadata, annotations } }, timeoutMs);
  return true;
}
