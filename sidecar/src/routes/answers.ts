import type { Clock } from '../clock.ts';
import type { LeaderSource } from '../leader-source.ts';
import type { PromiseLedger } from '../promise-ledger.ts';
import { type LeaderBody, leaderBody } from './leader-body.ts';

/** What every route that answers "who leads" needs. */
export interface Answering {
  source: LeaderSource;
  ledger: PromiseLedger;
  clock: Clock;
  /** `namespace/name` of the Lease, echoed in answers. */
  lease: string;
  /** The longest promise a client without a gate session gets (SESSIONLESS_VALIDITY_SECONDS). */
  sessionlessValidityMs: number;
}

/**
 * The answer for one client, entered in the promise ledger in the same instant it is computed: a
 * "leader" answer lets the client act until (when it sent the request) + validForMs, and the sidecar
 * keeps the Lease until then. Clients without a gate session get a shorter promise, so a graceful
 * hand-over never waits long for them.
 */
export function answer(context: Answering, session?: string): { body: LeaderBody; deadline: number } {
  const snapshot = context.source.snapshot();
  // Only a session the ledger knows can give its promises back: anyone else gets the session-less cap.
  const inSession = session !== undefined && context.ledger.has(session);
  const cap = inSession ? Number.POSITIVE_INFINITY : context.sessionlessValidityMs;
  const validForMs = snapshot.isLeader ? Math.min(snapshot.validForMs, cap) : 0;
  const deadline = context.clock.now() + validForMs;
  context.ledger.promise(deadline, inSession ? session : undefined); // a deadline of now promises nothing
  return { body: leaderBody({ ...snapshot, validForMs }, context.lease), deadline };
}
