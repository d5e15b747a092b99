import {
  ApiException,
  type ConfigurationOptions,
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  Observable,
  type V1ConfigMap,
} from '@kubernetes/client-node';
import type { LeaderContext } from '@leasehold/controller';
import type { Logger } from 'pino';
import {
  deriveData,
  derivedFromLabel,
  derivedName,
  epochAnnotation,
  sameData,
  sourceLabel,
  stampedEpoch,
  writerAnnotation,
} from './derive.ts';
import { type ActivityRecorder, monotonicNs } from './recorder.ts';
import type { Slots } from './slots.ts';
import { WorkQueue } from './work-queue.ts';

export interface ReconcilerOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  identity: string;
  workers: number;
  /** Uncancellable work per reconcile before its write (0: none). */
  syncDelayMs: number;
  /** Whether the term still holds (its gate still leads, or still owns its shard, with the term's epoch). */
  stillHolds: () => boolean;
  /** Milliseconds the term is still promised (the gate's validForMs for it). */
  validForMs: () => number;
  /** Which sources this term reconciles (sharded: the ones whose key is in its shard). Default: all. */
  inScope?: (sourceName: string) => boolean;
  /** Added to every record (sharded: the shard). */
  recordAs?: Record<string, unknown>;
  /** Sharded: the replica-wide limit every shard's workers share. */
  slots?: Slots;
  recorder: ActivityRecorder;
  logger: Logger;
}

class NotLeader extends Error {}

/**
 * Request options that bind each API call to the term: when the term ends, a call still in flight (an
 * apiserver cut off by a partition, say) is aborted instead of keeping the term's work alive past its
 * deadline. A write that was aborted is fenced at the resource: its resourceVersion precondition fails
 * if anything was written after it.
 */
export function boundTo(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** Resolves when `signal` aborts. */
function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * One leadership term of the example controller: for every ConfigMap labelled leasehold.io/source=true
 * keep `<name>-derived` in step. Informers, queue and workers live exactly as long as the term.
 */
export async function reconcileWhileLeader(
  context: LeaderContext,
  options: ReconcilerOptions,
): Promise<void> {
  const { kubeConfig, namespace, identity } = options;
  const inScope = options.inScope ?? (() => true);
  const record = (entry: Record<string, unknown>): void =>
    options.recorder.record({ ...entry, ...options.recordAs });
  const { signal, epoch } = context;
  const log = options.logger.child({ epoch });
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  const sourceSelector = `${sourceLabel}=true`;
  const sources = makeInformer<V1ConfigMap>(
    kubeConfig,
    path,
    () => core.listNamespacedConfigMap({ namespace, labelSelector: sourceSelector }),
    sourceSelector,
  );
  const derived = makeInformer<V1ConfigMap>(
    kubeConfig,
    path,
    () => core.listNamespacedConfigMap({ namespace, labelSelector: derivedFromLabel }),
    derivedFromLabel,
  );
  const queue = new WorkQueue();
  const enqueue = (name: string | undefined): void => {
    if (name && inScope(name)) queue.add(name);
  };
  const inTerm = boundTo(signal);

  for (const verb of ['add', 'update', 'delete'] as const) {
    sources.on(verb, (cm) => enqueue(cm.metadata?.name));
    derived.on(verb, (cm) => enqueue(cm.metadata?.labels?.[derivedFromLabel]));
  }
  for (const informer of [sources, derived]) {
    informer.on('error', (err) => {
      if (signal.aborted) return;
      log.warn({ err }, 'informer failed; restarting');
      setTimeout(() => {
        if (!signal.aborted) informer.start().catch(() => {});
      }, 1_000);
    });
  }

  const stop = (): void => {
    queue.shutDown();
    void sources.stop();
    void derived.stop();
  };
  signal.addEventListener('abort', stop);
  try {
    // A list that hangs (no route to the apiserver) must not outlive the term.
    await Promise.race([Promise.all([sources.start(), derived.start()]), aborted(signal)]);
    if (signal.aborted) return;
    log.info({ sources: sources.list().length }, 'caches synced; reconciling');
    for (const cm of sources.list()) enqueue(cm.metadata?.name);
    for (const cm of derived.list()) enqueue(cm.metadata?.labels?.[derivedFromLabel]);

    /** The last thing before any write: are we still leading this term? */
    const fence = (): bigint => {
      if (signal.aborted || !options.stillHolds()) throw new NotLeader();
      return monotonicNs();
    };

    const sync = async (name: string): Promise<void> => {
      if (options.syncDelayMs > 0) {
        // Work that cannot be cancelled starts only if it ends within the term's promise (a client without
        // a gate session, as the shard gate is, must be done by its deadline); else wait for a renewal.
        while (options.validForMs() < options.syncDelayMs + 50) {
          if (signal.aborted || !options.stillHolds()) throw new NotLeader();
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await new Promise((resolve) => setTimeout(resolve, options.syncDelayMs));
      }
      const source = sources.get(name, namespace);
      const target = derivedName(name);
      const current = await core.readNamespacedConfigMap({ name: target, namespace }, inTerm).catch((err) => {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw err;
      });
      if (current && stampedEpoch(current.metadata?.annotations) > epoch) {
        // Fencing at the resource: a newer leader has written this; never overwrite it.
        log.warn(
          { object: target, stamped: stampedEpoch(current.metadata?.annotations) },
          'refusing to overwrite a newer epoch',
        );
        record({ type: 'refused', object: target, epoch, atNs: String(monotonicNs()) });
        return;
      }
      if (!source) {
        if (!current) return;
        const checkedAtNs = fence();
        await core.deleteNamespacedConfigMap(
          {
            name: target,
            namespace,
            body: { preconditions: { resourceVersion: current.metadata?.resourceVersion } },
          },
          inTerm,
        );
        record({
          type: 'write',
          verb: 'delete',
          object: target,
          epoch,
          checkedAtNs: String(checkedAtNs),
          doneAtNs: String(monotonicNs()),
        });
        return;
      }
      const data = deriveData(source.data);
      if (current && sameData(current.data, data)) return;
      const body: V1ConfigMap = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: target,
          namespace,
          labels: { [derivedFromLabel]: name },
          annotations: { [writerAnnotation]: identity, [epochAnnotation]: String(epoch) },
          ...(current ? { resourceVersion: current.metadata?.resourceVersion } : {}),
        },
        data,
      };
      const checkedAtNs = fence();
      const written = current
        ? await core.replaceNamespacedConfigMap({ name: target, namespace, body }, inTerm)
        : await core.createNamespacedConfigMap({ namespace, body }, inTerm);
      record({
        type: 'write',
        verb: current ? 'update' : 'create',
        object: target,
        epoch,
        resourceVersion: written.metadata?.resourceVersion,
        checkedAtNs: String(checkedAtNs),
        doneAtNs: String(monotonicNs()),
      });
    };

    const worker = async (): Promise<void> => {
      for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
        const release = options.slots ? await options.slots.acquire(signal) : () => {};
        if (!release) return queue.done(key); // the term ended while waiting for a slot
        try {
          await sync(key);
          queue.forget(key);
        } catch (err) {
          if (err instanceof NotLeader || signal.aborted) return queue.done(key);
          log.debug({ err, key }, 'sync failed; retrying with backoff');
          queue.addRateLimited(key);
        } finally {
          release();
        }
        queue.done(key);
      }
    };
    await Promise.all(Array.from({ length: options.workers }, worker));
  } finally {
    signal.removeEventListener('abort', stop);
    stop();
  }
}
