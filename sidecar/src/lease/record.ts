/**
 * The election record read from a Lease, tolerant of garbage: a Lease may be written by anyone with
 * RBAC, so every field is checked and anything unusable is reported rather than trusted.
 */
export interface RawLease {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface LeaseRecord {
  /** '' when the Lease is free. */
  holderIdentity: string;
  /** Whole seconds as written; undefined when missing or unusable (not a positive integer). */
  leaseDurationSeconds: number | undefined;
  acquireTime: string | undefined;
  renewTime: string | undefined;
  leaseTransitions: number;
  strategy: string | undefined;
  preferredHolder: string | undefined;
}

export function readRecord(lease: RawLease): LeaseRecord {
  const spec = lease.spec ?? {};
  const duration = spec.leaseDurationSeconds;
  const transitions = spec.leaseTransitions;
  return {
    holderIdentity: typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '',
    leaseDurationSeconds:
      typeof duration === 'number' && Number.isInteger(duration) && duration > 0 ? duration : undefined,
    acquireTime: typeof spec.acquireTime === 'string' ? spec.acquireTime : undefined,
    renewTime: typeof spec.renewTime === 'string' ? spec.renewTime : undefined,
    leaseTransitions:
      typeof transitions === 'number' && Number.isInteger(transitions) && transitions >= 0 ? transitions : 0,
    strategy: typeof spec.strategy === 'string' && spec.strategy !== '' ? spec.strategy : undefined,
    preferredHolder:
      typeof spec.preferredHolder === 'string' && spec.preferredHolder !== ''
        ? spec.preferredHolder
        : undefined,
  };
}

/** Any difference in these fields is a change: the record's holder proved it is alive (or gone). */
export function sameRecord(a: LeaseRecord, b: LeaseRecord): boolean {
  return (
    a.holderIdentity === b.holderIdentity &&
    a.leaseDurationSeconds === b.leaseDurationSeconds &&
    a.acquireTime === b.acquireTime &&
    a.renewTime === b.renewTime &&
    a.leaseTransitions === b.leaseTransitions &&
    a.strategy === b.strategy &&
    a.preferredHolder === b.preferredHolder
  );
}

/** The pod name inside an identity `<pod>_<suffix>`; foreign identities are returned whole. */
export function podNameOf(identity: string): string {
  const cut = identity.lastIndexOf('_');
  return cut > 0 ? identity.slice(0, cut) : identity;
}

/** A copy of `lease` with the given spec fields set; unknown fields everywhere are kept. */
export function withSpec(lease: RawLease, fields: Record<string, unknown>): RawLease {
  const spec: Record<string, unknown> = { ...(lease.spec ?? {}) };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) delete spec[key];
    else spec[key] = value;
  }
  return { ...lease, spec };
}

/** Compares two resourceVersions when both are numbers (etcd's are); undefined when they are not. */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x === y ? 0 : x < y ? -1 : 1;
}
