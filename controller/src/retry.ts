/** The wait before retrying the sidecar after `failures` failures in a row: 50 ms doubling, at most 2 s. */
export function retryDelayMs(failures: number): number {
  return Math.min(2_000, 50 * 2 ** failures);
}
