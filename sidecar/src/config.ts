import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { type OptionSpec, optionSpecs } from './config-schema.ts';
import { LeaseholdError } from './errors.ts';

export interface Config {
  readonly leaseName: string;
  readonly namespace: string;
  readonly podName: string;
  readonly identity: string;
  readonly leaseDurationSeconds: number;
  readonly renewDeadlineSeconds: number;
  readonly retryPeriodSeconds: number;
  readonly safetyMarginSeconds: number;
  readonly shards: number;
  readonly listenAddress: string;
  readonly port: number;
  readonly allowNonLoopbackListen: boolean;
  readonly probeListenAddress: string;
  readonly probePort: number;
  readonly kubeconfig: string | undefined;
  readonly enableLeaderElection: boolean;
  readonly sessionlessValiditySeconds: number;
  readonly maxStreams: number;
  readonly resignPauseSeconds: number;
  readonly emitEvents: boolean;
  readonly podRoleLabel: boolean;
  readonly appHealthUrl: string | undefined;
  readonly appUnhealthySeconds: number;
  readonly logLevel: string;
  readonly logFormat: 'json' | 'pretty' | 'auto';
}

export interface ConfigSources {
  env: Record<string, string | undefined>;
  argv: string[];
  /** Where the in-cluster namespace is read from; injectable for tests. */
  serviceAccountNamespaceFile?: string;
  hostname?: string;
  randomSuffix?: string;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const logLevels: readonly string[] = optionSpecs.find((s) => s.key === 'logLevel')?.values ?? [];
const logFormats: readonly string[] = optionSpecs.find((s) => s.key === 'logFormat')?.values ?? [];
const defaultNamespaceFile = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * Reads env vars and CLI flags (flags win), validates everything once and returns a frozen Config.
 * Throws one LEASEHOLD_CONFIG_INVALID error whose `details` list every invalid field.
 */
export function loadConfig(sources: ConfigSources): Config {
  const problems: string[] = [];
  const raw = new Map<string, string>();
  for (const spec of optionSpecs) {
    const value = sources.env[spec.env];
    if (value !== undefined && value !== '') raw.set(spec.key, value);
  }
  readFlags(sources.argv, raw, problems);

  const values: Record<string, string | number | boolean | undefined> = {};
  for (const spec of optionSpecs as readonly OptionSpec[]) {
    values[spec.key] = convert(spec, raw.get(spec.key), problems);
  }

  const leaseName = values.leaseName as string | undefined;
  if (leaseName === undefined) problems.push('LEASE_NAME (--lease-name) is required');
  else if (leaseName.length > 253 || !dnsSubdomain.test(leaseName)) {
    problems.push(
      `LEASE_NAME must be a DNS subdomain (lowercase letters, digits, '-', '.'), got "${leaseName}"`,
    );
  }

  const shards = values.shards as number;
  if (shards > 0 && leaseName !== undefined && `${leaseName}-${shards - 1}`.length > 253) {
    problems.push(`LEASE_NAME "${leaseName}" is too long for shard Leases named "<LEASE_NAME>-<i>"`);
  }
  if (shards > 0 && values.enableLeaderElection === false) {
    problems.push('SHARDS needs leader election: unset it or ENABLE_LEADER_ELECTION=false, not both');
  }

  let namespace = values.namespace as string | undefined;
  if (namespace === undefined) {
    namespace = readNamespaceFile(sources.serviceAccountNamespaceFile ?? defaultNamespaceFile);
    if (namespace === undefined) {
      problems.push(
        'POD_NAMESPACE (--namespace) is required outside a cluster (no ServiceAccount namespace file)',
      );
    }
  }
  if (namespace !== undefined && (namespace.length > 63 || !dnsLabel.test(namespace))) {
    problems.push(`POD_NAMESPACE must be a DNS label, got "${namespace}"`);
  }

  const podName = (values.podName as string | undefined) ?? sources.hostname ?? hostname();
  const ld = values.leaseDurationSeconds as number;
  const rd = values.renewDeadlineSeconds as number;
  const rp = values.retryPeriodSeconds as number;
  const margin = values.safetyMarginSeconds as number;
  if (!Number.isNaN(ld + rd + rp + margin)) {
    if (!(ld > rd))
      problems.push(
        `LEASE_DURATION_SECONDS (${ld}) must be greater than LEASE_RENEW_DEADLINE_SECONDS (${rd})`,
      );
    if (!(rd > 1.2 * rp)) {
      problems.push(
        `LEASE_RENEW_DEADLINE_SECONDS (${rd}) must be greater than 1.2 x LEASE_RETRY_PERIOD_SECONDS (${rp})`,
      );
    }
    // The leader renews every RP but at most once a wall second (client-go compares records at second
    // resolution), so its validity must outlast max(RP, 1 s) with room for the request.
    const validity = Math.min(rd, ld - margin);
    if (!(validity > 1.2 * Math.max(rp, 1))) {
      problems.push(
        `the leader's validity min(LEASE_RENEW_DEADLINE_SECONDS, LEASE_DURATION_SECONDS - LEASE_SAFETY_MARGIN_SECONDS) = ${validity} s must exceed 1.2 x max(LEASE_RETRY_PERIOD_SECONDS, 1 s) = ${1.2 * Math.max(rp, 1)} s: renewals come at most once a second`,
      );
    }
  }

  const listenAddress = values.listenAddress as string;
  if (isIP(listenAddress) === 0 && listenAddress !== 'localhost') {
    problems.push(`LISTEN_ADDRESS must be an IP address, got "${listenAddress}"`);
  } else if (!isLoopback(listenAddress) && values.allowNonLoopbackListen !== true) {
    problems.push(
      `LISTEN_ADDRESS "${listenAddress}" is not loopback; the API can resign the leader, so set ALLOW_NON_LOOPBACK_LISTEN=true to serve it there`,
    );
  }
  if (isIP(values.probeListenAddress as string) === 0) {
    problems.push(`PROBE_LISTEN_ADDRESS must be an IP address, got "${values.probeListenAddress}"`);
  }
  if (values.probePort !== 0 && values.probePort === values.port)
    problems.push('PROBE_PORT must differ from PORT');
  if (!logLevels.includes(values.logLevel as string)) {
    problems.push(`LOG_LEVEL must be one of ${logLevels.join(', ')}, got "${values.logLevel}"`);
  }
  if (!logFormats.includes(values.logFormat as string)) {
    problems.push(`LOG_FORMAT must be json, pretty or auto, got "${values.logFormat}"`);
  }
  const appHealthUrl = values.appHealthUrl as string | undefined;
  if (appHealthUrl !== undefined && !URL.canParse(appHealthUrl)) {
    problems.push(`APP_HEALTH_URL must be an absolute URL, got "${appHealthUrl}"`);
  }

  if (problems.length > 0) {
    throw new LeaseholdError('LEASEHOLD_CONFIG_INVALID', `${problems.length} problem(s)`, {
      details: problems,
    });
  }
  const suffix = sources.randomSuffix ?? Math.random().toString(36).slice(2, 10);
  return Object.freeze({
    ...(values as Omit<Config, 'namespace' | 'podName' | 'identity'>),
    namespace: namespace as string,
    podName,
    identity: `${podName}_${suffix}`,
  }) as Config;
}

function readFlags(argv: string[], raw: Map<string, string>, problems: string[]): void {
  const byFlag = new Map<string, OptionSpec>(optionSpecs.map((spec) => [spec.flag, spec]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = byFlag.get(name);
    if (!spec) {
      problems.push(`unknown flag "${name}"`);
      continue;
    }
    let value = eq === -1 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      const next = argv[i + 1];
      if (spec.type === 'boolean' && (next === undefined || next.startsWith('--'))) value = 'true';
      else if (next === undefined) {
        problems.push(`flag ${name} needs a value`);
        continue;
      } else {
        value = next;
        i++;
      }
    }
    raw.set(spec.key, value);
  }
}

function convert(
  spec: OptionSpec,
  value: string | undefined,
  problems: string[],
): string | number | boolean | undefined {
  if (value === undefined) return spec.default;
  const where = `${spec.env} (${spec.flag})`;
  switch (spec.type) {
    case 'string':
      return value;
    case 'boolean':
      if (/^(true|1|yes)$/i.test(value)) return true;
      if (/^(false|0|no)$/i.test(value)) return false;
      problems.push(`${where} must be true or false, got "${value}"`);
      return Number.NaN;
    default: {
      const number = /^-?\d+(\.\d+)?$/.test(value.trim()) ? Number(value) : Number.NaN;
      if (Number.isNaN(number) || (spec.type === 'integer' && !Number.isInteger(number))) {
        problems.push(
          `${where} must be ${spec.type === 'integer' ? 'a whole number' : 'a number'}, got "${value}"`,
        );
        return Number.NaN;
      }
      if ((spec.min !== undefined && number < spec.min) || (spec.max !== undefined && number > spec.max)) {
        problems.push(`${where} must be between ${spec.min} and ${spec.max}, got ${number}`);
        return Number.NaN;
      }
      return number;
    }
  }
}

function readNamespaceFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || address.startsWith('127.');
}
