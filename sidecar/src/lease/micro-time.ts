/**
 * Kubernetes MicroTime: RFC 3339 in UTC with exactly six fractional digits. Date#toISOString gives
 * three, which the apiserver rejects for Lease times.
 */
export function formatMicroTime(wallMs: number): string {
  const whole = Math.floor(wallMs);
  const micros = Math.floor((wallMs - whole) * 1000);
  const date = new Date(whole);
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const fraction = pad(date.getUTCMilliseconds(), 3) + pad(micros, 3);
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}.${fraction}Z`
  );
}

/** Wall-clock milliseconds of a MicroTime or Time string; NaN when it cannot be read. */
export function parseMicroTime(value: unknown): number {
  return typeof value === 'string' ? Date.parse(value) : Number.NaN;
}
