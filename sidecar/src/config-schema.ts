/** One configuration option: its env var, its equivalent CLI flag, its type, default and bounds. */
export interface OptionSpec {
  key: string;
  env: string;
  flag: string;
  type: 'string' | 'integer' | 'number' | 'boolean';
  default?: string | number | boolean;
  min?: number;
  max?: number;
  description: string;
}

// The single source of truth for configuration; docs/configuration.md mirrors this table.
export const optionSpecs = [
  { key: 'leaseName', env: 'LEASE_NAME', flag: '--lease-name', type: 'string', description: 'Name of the coordination.k8s.io/v1 Lease to hold (required).' },
  { key: 'namespace', env: 'POD_NAMESPACE', flag: '--namespace', type: 'string', description: 'Namespace of the Lease. Default: the in-cluster ServiceAccount namespace.' },
  { key: 'podName', env: 'POD_NAME', flag: '--pod-name', type: 'string', description: 'Pod name; the identity is `<podName>_<random suffix>`. Default: the hostname.' },
  { key: 'leaseDurationSeconds', env: 'LEASE_DURATION_SECONDS', flag: '--lease-duration-seconds', type: 'integer', default: 15, min: 1, max: 3600, description: 'How long followers wait, after last seeing the Lease change, before taking it over.' },
  { key: 'renewDeadlineSeconds', env: 'LEASE_RENEW_DEADLINE_SECONDS', flag: '--renew-deadline-seconds', type: 'number', default: 10, min: 0.1, max: 3600, description: 'The leader demotes itself when it has not renewed for this long.' },
  { key: 'retryPeriodSeconds', env: 'LEASE_RETRY_PERIOD_SECONDS', flag: '--retry-period-seconds', type: 'number', default: 2, min: 0.05, max: 600, description: 'Interval between renewals, and between retries after API errors.' },
  { key: 'safetyMarginSeconds', env: 'LEASE_SAFETY_MARGIN_SECONDS', flag: '--safety-margin-seconds', type: 'number', default: 2, min: 0, max: 3600, description: 'The leader stops acting this long before followers may take over (validForMs).' },
  { key: 'listenAddress', env: 'LISTEN_ADDRESS', flag: '--listen-address', type: 'string', default: '127.0.0.1', description: 'Address of the HTTP API. Non-loopback needs ALLOW_NON_LOOPBACK_LISTEN=true.' },
  { key: 'port', env: 'PORT', flag: '--port', type: 'integer', default: 4040, min: 0, max: 65535, description: 'Port of the HTTP API (0 picks a free port and logs it).' },
  { key: 'allowNonLoopbackListen', env: 'ALLOW_NON_LOOPBACK_LISTEN', flag: '--allow-non-loopback-listen', type: 'boolean', default: false, description: 'Opt-in to serve the HTTP API (including POST /leader/resign) beyond loopback.' },
  { key: 'probeListenAddress', env: 'PROBE_LISTEN_ADDRESS', flag: '--probe-listen-address', type: 'string', default: '0.0.0.0', description: 'Address of the read-only probe listener (/healthz, /readyz, /metrics) for kubelet and Prometheus.' },
  { key: 'probePort', env: 'PROBE_PORT', flag: '--probe-port', type: 'integer', default: 0, min: 0, max: 65535, description: 'Port of the probe listener; 0 disables it (the routes stay on the main port).' },
  { key: 'kubeconfig', env: 'KUBECONFIG', flag: '--kubeconfig', type: 'string', description: 'Path of a kubeconfig. Default: in-cluster configuration.' },
  { key: 'enableLeaderElection', env: 'ENABLE_LEADER_ELECTION', flag: '--enable-leader-election', type: 'boolean', default: true, description: 'false = single-replica mode: always leader, no Lease, said loudly in the log.' },
  { key: 'shutdownAppTimeoutSeconds', env: 'SHUTDOWN_APP_TIMEOUT_SECONDS', flag: '--shutdown-app-timeout-seconds', type: 'number', default: 5, min: 0, max: 600, description: 'On SIGTERM or resign: how long to wait for gated apps to report idle before releasing.' },
  { key: 'resignPauseSeconds', env: 'RESIGN_PAUSE_SECONDS', flag: '--resign-pause-seconds', type: 'number', default: 3, min: 0, max: 3600, description: 'After POST /leader/resign, stay out of the election this long (overridable per request).' },
  { key: 'emitEvents', env: 'EMIT_EVENTS', flag: '--emit-events', type: 'boolean', default: true, description: 'Record Kubernetes Events on acquire, loss and release.' },
  { key: 'podRoleLabel', env: 'POD_ROLE_LABEL', flag: '--pod-role-label', type: 'boolean', default: false, description: 'Label the pod leasehold.io/role=leader|follower (needs RBAC to patch its own pod).' },
  { key: 'appHealthUrl', env: 'APP_HEALTH_URL', flag: '--app-health-url', type: 'string', description: 'If set, a leader whose app answers non-2xx here for APP_UNHEALTHY_SECONDS resigns.' },
  { key: 'appUnhealthySeconds', env: 'APP_UNHEALTHY_SECONDS', flag: '--app-unhealthy-seconds', type: 'number', default: 10, min: 1, max: 3600, description: 'How long the app may fail its health URL before its leader resigns.' },
  { key: 'logLevel', env: 'LOG_LEVEL', flag: '--log-level', type: 'string', default: 'info', description: 'trace, debug, info, warn, error or fatal.' },
  { key: 'logFormat', env: 'LOG_FORMAT', flag: '--log-format', type: 'string', default: 'auto', description: 'json, pretty, or auto (pretty on a TTY, JSON otherwise).' },
] as const satisfies readonly OptionSpec[];
