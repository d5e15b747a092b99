import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import {
  createLeaderGate,
  createShardGate,
  type LeaderContext,
  maxShards,
  shardOf,
  TermEndedError,
} from '@leasehold/controller';
import pino from 'pino';
import { reconcileWhileLeader } from './reconciler.ts';
import { ActivityRecorder, monotonicNs, performanceToMonotonicNs } from './recorder.ts';
import { Slots } from './slots.ts';

/**
 * The example controller: no election code at all. It asks the sidecar (LEASEHOLD_URL) whether it
 * leads, and runs its informers and workers only inside runWhileLeader's term. With SHARDS=N (the
 * sidecar's count) it runs one term per shard it owns, each reconciling only the keys of its shard.
 */
/** `stop` aborts on SIGTERM/SIGINT; the bin listens from its first line (PID 1 drops unhandled signals). */
export async function main(env: NodeJS.ProcessEnv, stop: AbortSignal): Promise<number> {
  const logger = pino({ level: env.LOG_LEVEL ?? 'info', base: { component: 'example-controller' } });
  const namespace = env.POD_NAMESPACE;
  if (!namespace) {
    logger.error({ code: 'LEASEHOLD_EXAMPLE_CONFIG' }, 'POD_NAMESPACE is required');
    return 2;
  }
  const workers = Number(env.WORKERS ?? '2');
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    logger.error(
      { code: 'LEASEHOLD_EXAMPLE_CONFIG' },
      `WORKERS must be a whole number from 1 to 64, got "${env.WORKERS}"`,
    );
    return 2;
  }
  // Work each reconcile does before it writes and that cannot be cancelled (an external call, say).
  const syncDelayMs = Number(env.SYNC_DELAY_MS ?? '0');
  if (!Number.isInteger(syncDelayMs) || syncDelayMs < 0 || syncDelayMs > 60_000) {
    logger.error(
      { code: 'LEASEHOLD_EXAMPLE_CONFIG' },
      `SYNC_DELAY_MS must be 0 to 60000, got "${env.SYNC_DELAY_MS}"`,
    );
    return 2;
  }
  const shards = Number(env.SHARDS ?? '0');
  if (!Number.isInteger(shards) || shards < 0 || shards > maxShards) {
    logger.error(
      { code: 'LEASEHOLD_EXAMPLE_CONFIG' },
      `SHARDS must be a whole number from 0 to ${maxShards} (the sidecar's), got "${env.SHARDS}"`,
    );
    return 2;
  }
  if (stop.aborted) {
    logger.info('stopped before starting');
    return 0;
  }
  const kubeConfig = new KubeConfig();
  if (env.KUBECONFIG) kubeConfig.loadFromFile(env.KUBECONFIG);
  else kubeConfig.loadFromCluster();
  const replica = env.POD_NAME ?? hostname();
  const recorder = new ActivityRecorder(env.RECORD_FILE, replica);
  const onError = (err: unknown) => logger.debug({ err }, 'gate');

  /** One term: reconcile the sources in scope until the term's signal aborts, recording it all. */
  const term = async (
    context: LeaderContext,
    identity: string,
    scope: { inScope?: (name: string) => boolean; recordAs?: Record<string, unknown>; slots?: Slots } = {},
  ): Promise<void> => {
    const startedAtNs = monotonicNs();
    // Still valid now, so valid at the instant stamped (deadlines do not move back): a process paused
    // between the gate's start of the term and this line (SIGSTOP, a long GC) wakes past the deadline,
    // and must neither work nor claim it did from its wake-up on.
    if (context.validForMs() === 0) {
      logger.info({ epoch: context.epoch, ...scope.recordAs }, 'the term ended before its work began');
      return;
    }
    const recorded = recorder.openTerm({
      epoch: context.epoch,
      atNs: String(startedAtNs),
      ...scope.recordAs,
    });
    const endedAtNs = (): bigint => {
      const reason = context.signal.reason;
      return reason instanceof TermEndedError ? performanceToMonotonicNs(reason.endedAt) : monotonicNs();
    };
    // When this process saw the end (a late timer or a busy event loop shows here, not in the drain).
    let abortSeenAtNs: bigint | undefined;
    context.signal.addEventListener(
      'abort',
      () => {
        abortSeenAtNs = monotonicNs();
        recorded.ended(endedAtNs());
      },
      { once: true },
    );
    const log = logger.child({ epoch: context.epoch, ...scope.recordAs });
    log.info('leading: starting reconciliation');
    try {
      await reconcileWhileLeader(context, {
        kubeConfig,
        namespace,
        identity,
        workers,
        syncDelayMs,
        // The term's own deadline: 0 once it has ended, whatever the gate has learnt since.
        stillHolds: () => context.validForMs() > 0,
        validForMs: context.validForMs,
        recorder,
        logger: log,
        ...scope,
      });
      if (!context.signal.aborted) {
        await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }));
      }
    } finally {
      const reason = context.signal.reason;
      recorded.close({
        epoch: context.epoch,
        atNs: String(endedAtNs()),
        abortSeenAtNs: abortSeenAtNs === undefined ? undefined : String(abortSeenAtNs),
        stoppedAtNs: String(monotonicNs()),
        ...scope.recordAs,
      });
      log.info({ why: reason instanceof Error ? reason.message : undefined }, 'not leading: stopped');
    }
  };

  if (shards > 0) {
    const gate = createShardGate({ url: env.LEASEHOLD_URL, shards, onError });
    const slots = new Slots(workers); // WORKERS is per replica, shared by its shards' terms
    await Promise.all(
      Array.from({ length: shards }, (_, shard) =>
        gate.runWhileOwning(
          shard,
          (context) =>
            term(context, gate.current()[shard]?.holder ?? replica, {
              inScope: (name) => shardOf(`${namespace}/${name}`, shards) === shard,
              recordAs: { shard },
              slots,
            }),
          { signal: stop },
        ),
      ),
    );
    await gate.close();
    return 0;
  }
  const gate = createLeaderGate({ url: env.LEASEHOLD_URL, onError });
  await gate.runWhileLeader((context) => term(context, gate.current().holder), { signal: stop });
  await gate.close();
  return 0;
}
