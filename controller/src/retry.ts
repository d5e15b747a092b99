/**
 * The wait before retrying the sidecar after `failures` failures in a row: a ceiling of 50 ms doubling,
 * at most 2 s, and a random point in its upper half — so that the gates of many pods that lost their
 * sidecars at once (a node under pressure, a rollout) do not reconnect in lockstep.
 */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(2_000, 50 * 2 ** failures);
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}
