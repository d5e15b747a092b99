// Graceful hand-over as a session-less client sees it (docs/gating.md: curl, Go, Python): three sidecars on
// a private control plane, each polled every 10 ms by clients that act from receipt until send + validForMs.
// A sample is SIGTERM to the leader's sidecar → the first acting window of another replica.
import { setTimeout as sleep } from 'node:timers/promises';
import { ms, nextActing, nowNs, overlaps } from '../support/acting-windows.ts';
import { Fleet, type Timings } from '../support/fleet.ts';

export interface SessionlessResults {
  samples: number[];
  overlaps: number;
}

export async function sessionlessHandovers(timings: Timings, count: number): Promise<SessionlessResults> {
  const fleet = await Fleet.start({ timings, pollIntervalMs: 10, leaseName: 'bench-sessionless' });
  const ldMs = timings.leaseDurationSeconds * 1000;
  const samples: number[] = [];
  try {
    const names = ['s0', 's1', 's2'];
    await Promise.all(names.map((name) => fleet.startSidecar(name)));
    for (let i = 0; i < count; i++) {
      const victim = await fleet.waitForHolder(ldMs * 3);
      await sleep(1_000); // its answers are out and being acted on
      const sidecar = fleet.sidecars.get(victim);
      const at = nowNs();
      sidecar?.signal('SIGTERM');
      const deadline = performance.now() + ldMs * 3;
      let next = nextActing(fleet.windows(), at, victim);
      while (!next && performance.now() < deadline) {
        await sleep(5);
        next = nextActing(fleet.windows(), at, victim);
      }
      if (!next) throw new Error(`session-less hand-over ${i + 1}: nobody acted within ${ldMs * 3} ms`);
      samples.push(ms(next.start - at));
      await sidecar?.exited;
      await fleet.startSidecar(victim);
    }
    return { samples, overlaps: overlaps(fleet.windows()).length };
  } finally {
    await fleet.close();
  }
}
