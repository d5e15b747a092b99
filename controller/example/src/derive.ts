import { createHash } from 'node:crypto';

export const sourceLabel = 'leasehold.io/source';
export const derivedFromLabel = 'leasehold.io/derived-from';
export const writerAnnotation = 'leasehold.io/writer';
export const epochAnnotation = 'leasehold.io/epoch';

export function derivedName(source: string): string {
  return `${source}-derived`;
}

/** The derived data for a source: each value upper-cased, plus a checksum of the source data. */
export function deriveData(data: Record<string, string> | undefined): Record<string, string> {
  const entries = Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const derived: Record<string, string> = {};
  for (const [key, value] of entries) derived[key] = value.toUpperCase();
  derived['source.sha256'] = createHash('sha256').update(JSON.stringify(entries)).digest('hex');
  return derived;
}

export function sameData(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const left = a ?? {};
  const keys = Object.keys(b);
  return keys.length === Object.keys(left).length && keys.every((key) => left[key] === b[key]);
}

/** The fencing epoch stamped on an object, or -1 when it carries none. */
export function stampedEpoch(annotations: Record<string, string> | undefined): number {
  const value = Number(annotations?.[epochAnnotation]);
  return Number.isInteger(value) ? value : -1;
}
