/** Errors from the gate, each with a stable code (documented in docs/errors.md). */
export const gateErrorMessages = {
  LEASEHOLD_GATE_CLOSED: 'the leader gate is closed',
  LEASEHOLD_GATE_ABORTED: 'waiting was aborted by the caller',
  LEASEHOLD_GATE_SIDECAR_UNREACHABLE: 'the Leasehold sidecar did not answer',
  LEASEHOLD_GATE_BAD_RESPONSE: 'the Leasehold sidecar answered something unexpected',
  LEASEHOLD_GATE_SESSION_UNKNOWN:
    'the sidecar does not know this gate session (it restarted, or the stream is not open yet)',
  LEASEHOLD_GATE_INVALID_OPTION: 'invalid gate option',
  LEASEHOLD_GATE_LEADERSHIP_ENDED: 'leadership ended',
  LEASEHOLD_GATE_SHARD_COUNT_MISMATCH:
    "the sidecar runs another shard count than this gate was given (its SHARDS differs from the app's)",
} as const;

export type GateErrorCode = keyof typeof gateErrorMessages;

export class LeaderGateError extends Error {
  readonly code: GateErrorCode;

  constructor(code: GateErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${gateErrorMessages[code]}: ${detail}` : gateErrorMessages[code], options);
    this.name = 'LeaderGateError';
    this.code = code;
  }
}

/** The abort reason of a term's signal: when leadership ended, on this process's monotonic clock. */
export class LeadershipEndedError extends LeaderGateError {
  /** performance.now() at which leadership ended: the demotion, or the deadline if that came first. */
  readonly endedAt: number;

  constructor(endedAt: number, detail: string) {
    super('LEASEHOLD_GATE_LEADERSHIP_ENDED', detail);
    this.name = 'LeadershipEndedError';
    this.endedAt = endedAt;
  }
}
