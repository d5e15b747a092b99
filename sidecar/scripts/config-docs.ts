// Renders docs/configuration.md from the option table in src/config-schema.ts, so the docs cannot
// drift from the code: `node sidecar/scripts/config-docs.ts > docs/configuration.md`; a unit test
// fails when the committed file differs.
import { optionSpecs } from '../src/config-schema.ts';

export function renderConfigurationDoc(): string {
  const rows = optionSpecs.map((spec) => {
    const def = 'default' in spec ? `\`${spec.default}\`` : '—';
    const bounds = 'min' in spec ? `${spec.min} … ${spec.max}` : '';
    return `| \`${spec.env}\` | \`${spec.flag}\` | ${spec.type} | ${def} | ${bounds} | ${spec.description} |`;
  });
  return `# Configuration

Every option is an environment variable with an equivalent command-line flag; a flag wins over its
variable (\`--name=value\` or \`--name value\`). Names follow 5-Spot and client-go so that existing
manifests carry over. The configuration is validated once at start-up: **every** invalid field is
listed in one message, the process exits with code 2 and prints no stack trace. \`leasehold-sidecar
--help\` prints this table.

| env var | flag | type | default | bounds | meaning |
|---|---|---|---|---|---|
${rows.join('\n')}

## Rules checked across fields

- \`LEASE_DURATION_SECONDS\` > \`LEASE_RENEW_DEADLINE_SECONDS\` > 1.2 × \`LEASE_RETRY_PERIOD_SECONDS\`
  (client-go's own rule). The lease duration is whole seconds because the Lease stores it so.
- \`LEASE_DURATION_SECONDS\` − \`LEASE_SAFETY_MARGIN_SECONDS\` > 1.2 × \`LEASE_RETRY_PERIOD_SECONDS\`, so that
  renewals can keep the leader's validity alive.
- The leader may act for min(\`LEASE_RENEW_DEADLINE_SECONDS\`, \`LEASE_DURATION_SECONDS\` −
  \`LEASE_SAFETY_MARGIN_SECONDS\`) after it *sent* its last successful renewal: this is \`validForMs\`.
  Followers take over only \`LEASE_DURATION_SECONDS\` after they last saw the Lease change, so the two
  never overlap while clocks run at the same rate (the margin absorbs latency and rate drift).
- \`LISTEN_ADDRESS\` must be loopback unless \`ALLOW_NON_LOOPBACK_LISTEN=true\`: the API can resign the
  leader. Probes and Prometheus use the separate read-only \`PROBE_PORT\` listener instead.
- \`PROBE_PORT\` must differ from \`PORT\`.
- \`SHARDS\` needs leader election (not with \`ENABLE_LEADER_ELECTION=false\`), and \`<LEASE_NAME>-<N-1>\` must
  still be a valid Lease name.

## Promises and hand-overs

Every "leader" answer may be acted on for its \`validForMs\` (see api.md, *The promise*). A client without
a gate session gets at most \`SESSIONLESS_VALIDITY_SECONDS\`; a gate session gets the leader's full validity
and gives it back when its app reports idle. On SIGTERM or resign the sidecar waits until every promise has
run out or been given back before it releases the Lease, so the graceful hand-over takes about
\`SESSIONLESS_VALIDITY_SECONDS\` when session-less clients asked just before, and tens of ms otherwise.

## Identity

The holder identity written to the Lease is \`<POD_NAME>_<random suffix>\`, new for every process start:
two processes never share one, so a restarted sidecar never mistakes its predecessor's Lease for its own.
\`GET /leader\` answers \`name\` (the pod name part) for clients of the classic leader-elector.

## Single-replica mode

\`ENABLE_LEADER_ELECTION=false\` skips the Lease entirely: the sidecar always answers \`isLeader: true\`
with epoch 0 and logs a warning at start. Use it for one-replica development setups only.
`;
}

if (import.meta.main) process.stdout.write(renderConfigurationDoc());
