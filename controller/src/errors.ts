/** Errors from the gate, each with a stable code (documented in docs/errors.md). */
export const gateErrorMessages = {
  LEASEHOLD_GATE_CLOSED: 'the leader gate is closed',
  LEASEHOLD_GATE_ABORTED: 'waiting was aborted by the caller',
  LEASEHOLD_GATE_SIDECAR_UNREACHABLE: 'the Leasehold sidecar did not answer',
  LEASEHOLD_GATE_BAD_RESPONSE: 'the Leasehold sidecar answered something unexpected',
  LEASEHOLD_GATE_INVALID_OPTION: 'invalid gate option',
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
