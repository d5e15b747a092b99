/**
 * Every error Leasehold reports has a stable code, documented in docs/errors.md with its cause and fix.
 * Codes are part of the public surface: HTTP error bodies, logs and exit messages carry them.
 */
export const errorCatalogue = {
  LEASEHOLD_CONFIG_INVALID: { status: 0, message: 'invalid configuration' },
  LEASEHOLD_KUBECONFIG: { status: 0, message: 'cannot load Kubernetes client configuration' },
  LEASEHOLD_API_FORBIDDEN: { status: 0, message: 'the ServiceAccount may not use the Lease (RBAC)' },
  LEASEHOLD_API_UNAVAILABLE: { status: 0, message: 'the Kubernetes API did not answer' },
  LEASEHOLD_API_ERROR: { status: 0, message: 'the Kubernetes API returned an error' },
  LEASEHOLD_ROUTE_NOT_FOUND: { status: 404, message: 'no such route' },
  LEASEHOLD_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this route' },
  LEASEHOLD_BAD_REQUEST: { status: 400, message: 'bad request' },
  LEASEHOLD_PAYLOAD_TOO_LARGE: { status: 413, message: 'request body too large' },
  LEASEHOLD_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    message: 'unsupported content type; send application/json',
  },
  LEASEHOLD_SESSION_NOT_FOUND: { status: 404, message: 'no such gate session' },
  LEASEHOLD_TOO_MANY_WATCHERS: {
    status: 503,
    message:
      'too many open watch streams (MAX_STREAMS): close the streams you no longer read, and retry after Retry-After',
  },
  LEASEHOLD_NOT_LEADER: { status: 409, message: 'this replica is not the leader' },
  LEASEHOLD_INTERNAL: { status: 500, message: 'internal error' },
  LEASEHOLD_ELECTION_DISABLED: { status: 409, message: 'leader election is disabled (single-replica mode)' },
  LEASEHOLD_SHARDED: { status: 409, message: 'this sidecar shares shard Leases (SHARDS): ask GET /shards' },
  LEASEHOLD_NOT_SHARDED: {
    status: 409,
    message: 'this sidecar holds one Lease (SHARDS unset): ask GET /leader',
  },
  LEASEHOLD_NO_SUCH_SHARD: { status: 404, message: 'no such shard' },
  LEASEHOLD_SHARD_COUNT_MISMATCH: { status: 0, message: 'shard Leases of another shard count are held' },
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

export class LeaseholdError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: string[];

  constructor(code: ErrorCode, detail?: string, options: { cause?: unknown; details?: string[] } = {}) {
    const base = errorCatalogue[code].message;
    super(detail ? `${base}: ${detail}` : base, { cause: options.cause });
    this.name = 'LeaseholdError';
    this.code = code;
    this.statusCode = errorCatalogue[code].status;
    this.details = options.details ?? [];
  }
}

/** A failed call to the Kubernetes API, with the HTTP status (0 when no answer came back). */
export class KubernetesApiError extends LeaseholdError {
  readonly httpStatus: number;
  readonly reason: string;
  /** The server's Retry-After (a 429 from API Priority and Fairness, a 503), in ms; undefined without one. */
  readonly retryAfterMs: number | undefined;

  constructor(httpStatus: number, reason: string, detail: string, cause?: unknown, retryAfterMs?: number) {
    const code: ErrorCode =
      httpStatus === 0
        ? 'LEASEHOLD_API_UNAVAILABLE'
        : httpStatus === 403
          ? 'LEASEHOLD_API_FORBIDDEN'
          : 'LEASEHOLD_API_ERROR';
    super(code, detail, { cause });
    this.name = 'KubernetesApiError';
    this.httpStatus = httpStatus;
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }

  /** A label for metrics: the HTTP status, or the kind of transport failure. */
  get metricCode(): string {
    return this.httpStatus === 0 ? this.reason : String(this.httpStatus);
  }
}
