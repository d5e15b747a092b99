import type { ElectionSnapshot } from './elector.ts';

/** What the elector tells the rest of the sidecar (metrics, Events, pod labels) and asks of it. */
export interface ElectorHooks {
  stateChanged(snapshot: ElectionSnapshot): void;
  acquired(epoch: number): void;
  demoted(reason: string, epoch: number): void;
  released(): void;
  renewed(durationSeconds: number): void;
  apiError(err: unknown): void;
  conflict(): void;
  /** Resolves when the gated app has stopped its leader work (bounded by the caller's timeout). */
  waitForAppIdle(): Promise<void>;
}

export const noHooks: ElectorHooks = {
  stateChanged() {},
  acquired() {},
  demoted() {},
  released() {},
  renewed() {},
  apiError() {},
  conflict() {},
  waitForAppIdle: async () => {},
};

/** Calls every hook set in order; the first waitForAppIdle that is not the default wins. */
export function combineHooks(...parts: Partial<ElectorHooks>[]): ElectorHooks {
  const each =
    <K extends Exclude<keyof ElectorHooks, 'waitForAppIdle'>>(key: K) =>
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
    waitForAppIdle: async () => {
      await Promise.all(parts.map((part) => part.waitForAppIdle?.()));
    },
  };
}
