// node test/bench/overload.ts [--seconds 20]
// Renewals under apiserver overload, with and without the chart's FlowSchema, in one run: another identity
// floods the ordinary priority level (support/apiserver-overload.ts: how, and why the level is made
// small) while two sidecars of one release renew at the default timings (LD 15 s, RD 10 s, RP 2 s).
// docs/performance.md has the figures.
import { parseArgs } from 'node:util';
import { OverloadedCluster, type OverloadRound } from '../support/apiserver-overload.ts';

export interface OverloadResults {
  floodSeconds: number;
  withoutFlowSchema: OverloadRound;
  withFlowSchema: OverloadRound;
}

export async function apiserverOverload(floodSeconds: number): Promise<OverloadResults> {
  const cluster = await OverloadedCluster.start({
    LEASE_DURATION_SECONDS: '15',
    LEASE_RENEW_DEADLINE_SECONDS: '10',
    LEASE_RETRY_PERIOD_SECONDS: '2',
  });
  try {
    const withoutFlowSchema = await cluster.round(floodSeconds);
    await cluster.applyFlowSchema();
    const withFlowSchema = await cluster.round(floodSeconds);
    return { floodSeconds, withoutFlowSchema, withFlowSchema };
  } finally {
    await cluster.stop();
  }
}

/** One line for the report. */
export function overloadLine(r: OverloadResults): string {
  const side = (name: string, round: OverloadRound) =>
    `${name}: renewals ${round.renewalsSucceeded} succeeded, ${round.renewalsFailed} failed ` +
    `(${round.throttled} throttled with 429), holder changes ${round.holderChanges}`;
  const flood = r.withFlowSchema.flood;
  return (
    `Apiserver overload (${r.floodSeconds} s flood of the ordinary priority level, ${flood.rejected} of ` +
    `${flood.rejected + flood.served} flood requests refused): ${side('without the FlowSchema', r.withoutFlowSchema)}; ` +
    `${side('with it', r.withFlowSchema)}.\n`
  );
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '20' } } });
  const results = await apiserverOverload(Number(values.seconds));
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n${overloadLine(results)}`);
}
