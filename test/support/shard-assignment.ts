import type { Replica } from './replica.ts';
import { waitUntil } from './sidecar.ts';

/** The shards a replica's sidecar says it holds, or undefined when it does not answer (frozen, gone). */
export async function shardsHeld(replica: Replica): Promise<number[] | undefined> {
  try {
    const response = await fetch(`${replica.sidecar.url}/shards`, { signal: AbortSignal.timeout(500) });
    return ((await response.json()) as { mine: number[] }).mine;
  } catch {
    return undefined;
  }
}

/** Shards held per answering replica among `replicas`, once each of `count` shards has exactly one holder. */
export async function assignment(
  replicas: Replica[],
  count: number,
): Promise<Map<string, number[]> | undefined> {
  const held = new Map<string, number[]>();
  const holders = new Map<number, number>();
  for (const replica of replicas) {
    const shards = await shardsHeld(replica);
    if (!shards) continue;
    held.set(replica.name, shards);
    for (const shard of shards) holders.set(shard, (holders.get(shard) ?? 0) + 1);
  }
  const complete = Array.from({ length: count }, (_, i) => holders.get(i) === 1).every(Boolean);
  return complete ? held : undefined;
}

/**
 * Waits until `replicas` share every one of `count` shards, each holding ⌊count / n⌋ or ⌈count / n⌉;
 * returns the assignment and how long it took.
 */
export async function waitBalanced(replicas: Replica[], count: number, boundMs: number, what: string) {
  const from = performance.now();
  const fair = count / replicas.length;
  const held = await waitUntil(
    `${what}: ${replicas.map((r) => r.name).join(', ')} balanced`,
    async () => {
      const now = await assignment(replicas, count);
      const ok =
        now?.size === replicas.length && [...now.values()].every((mine) => Math.abs(mine.length - fair) < 1);
      return ok ? now : undefined;
    },
    boundMs,
    50,
  );
  return { held, ms: performance.now() - from };
}
