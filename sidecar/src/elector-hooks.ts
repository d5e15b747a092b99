import type { ElectionSnapshot } from './election-state.ts';
import type { DemotionReason } from './lease/protocol.ts';

/** What the elector tells the rest of the sidecar (metrics, Events, pod labels) and asks of it. */
export interface ElectorHooks {
  stateChanged(snapshot: ElectionSnapshot): void;
  acquired(epoch: number): void;
  demoted(reason: DemotionReason, epoch: number): void;
  released(): void;
  renewed(durationSeconds: number): void;
  apiError(err: unknown): void;
  conflict(): void;
  /** The apiserver answered 429 (API Priority and Fairness); the next call waits `delaySeconds`. */
  throttled(delaySeconds: number): void;
  /** A hand-over waited this long for the promises already made before releasing. */
  promisesWaited(seconds: number): void;
  /** Resolves once every "leader" answer given so far has run out or been given back (the ledger). */
  promisesKept(): Promise<void>;
}

export const noHooks: ElectorHooks = {
  stateChanged() {},
  acquired() {},
  demoted() {},
  released() {},
  renewed() {},
  apiError() {},
  conflict() {},
  throttled() {},
  promisesWaited() {},
  promisesKept: async () => {},
};

type Notification = Exclude<keyof ElectorHooks, 'promisesKept'>;

/** Calls every hook set, in order; promisesKept resolves when all parts' have. */
export function combineHooks(...parts: Partial<ElectorHooks>[]): ElectorHooks {
  const each =
    <K extends Notification>(key: K) =>
    (...args: Parameters<ElectorHooks[K]>): void => {
      for (const part of parts)
        (part[key] as ((...a: Parameters<ElectorHooks[K]>) => void) | undefined)?.(...args);
    };
  return {
    stateChanged: each('stateChanged'),
    acquired: each('acquired'),
    demoted: each('demoted'),
    released: each('released'),
    renewed: each('renewed'),
    apiError: each('apiError'),
    conflict: each('conflict'),
    throttled: each('throttled'),
    promisesWaited: each('promisesWaited'),
    promisesKept: async () => {
      await Promise.all(parts.map((part) => part.promisesKept?.()));
    },
  };
}
