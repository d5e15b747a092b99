/** Errors from the gate, each with a stable code (documented in docs/errors.md). */
export const gateErrorMessages = {
  LEASEHOLD_GATE_CLOSED: 'the leader gate is closed',
  LEASEHOLD_GATE_ABORTED: 'waiting was aborted by the caller',
  LEASEHOLD_GATE_SIDECAR_UNREACHABLE: 'the Leasehold sidecar did not answer',
  LEASEHOLD_GATE_BAD_RESPONSE: 'the Leasehold sidecar answered something unexpected',
  LEASEHOLD_GATE_SESSION_UNKNOWN:
    'the sidecar does not know this gate session (it restarted, or the stream is not open yet)',
  LEASEHOLD_GATE_INVALID_OPTION: 'invalid gate option',
  LEASEHOLD_GATE_TERM_ENDED: 'the term ended',
  LEASEHOLD_GATE_SHARD_COUNT_MISMATCH:
    "the sidecar runs another shard count than this gate was given (its SHARDS differs from the app's)",
} as const;

export type GateErrorCode = keyof typeof gateErrorMessages;

export class GateError extends Error {
  readonly code: GateErrorCode;

  constructor(code: GateErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ? `${gateErrorMessages[code]}: ${detail}` : gateErrorMessages[code], options);
    this.name = 'GateError';
    this.code = code;
  }
}

/**
 * The abort reason of a term's signal (a leader term, or a shard's): when it ended, on the gate's
 * monotonic clock, and which shard's term it was.
 */
export class TermEndedError extends GateError {
  /** The gate clock's now() at which the term ended: the loss, or its deadline if that came first. */
  readonly endedAt: number;
  /** The shard whose term ended; undefined for a leader term. */
  readonly shard: number | undefined;

  constructor(endedAt: number, detail: string, shard?: number) {
    super('LEASEHOLD_GATE_TERM_ENDED', shard === undefined ? detail : `shard ${shard}: ${detail}`);
    this.name = 'TermEndedError';
    this.endedAt = endedAt;
    this.shard = shard;
  }
}
