import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { LeaderSource } from './leader-source.ts';

/**
 * Ties leadership to the app's health: while leading, polls `url` every second; after
 * `unhealthySeconds` without a 2xx answer the leader resigns, so a dead app cannot hold the Lease.
 */
export function watchAppHealth(options: {
  url: string;
  unhealthySeconds: number;
  resignPauseMs: number;
  /** The elector, or the shard set (resigning gives every owned shard away). */
  source: Pick<LeaderSource, 'isLeader' | 'resign'>;
  clock: Clock;
  logger: Logger;
}): { stop(): void } {
  const { source, clock, logger } = options;
  // Counted from the first failed check, so the app has failed for at least unhealthySeconds.
  let failingSince: number | undefined;
  let stopped = false;
  const timer = setInterval(async () => {
    if (stopped || !source.isLeader()) {
      failingSince = undefined;
      return;
    }
    const ok = await fetch(options.url, { signal: AbortSignal.timeout(900) })
      .then((response) => response.ok)
      .catch(() => false);
    const now = clock.now();
    if (ok) {
      failingSince = undefined;
      return;
    }
    failingSince ??= now;
    if (now - failingSince >= options.unhealthySeconds * 1000 && source.isLeader()) {
      logger.warn(
        { url: options.url, unhealthyForMs: Math.round(now - failingSince) },
        'app unhealthy; resigning',
      );
      failingSince = undefined;
      await source.resign(options.resignPauseMs).catch((err) => logger.warn({ err }, 'resign failed'));
    }
  }, 1_000);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
