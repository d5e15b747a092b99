/**
 * The gate's rules for trusting the sidecar's answers, as pure functions (tested row by row in
 * test/answer-rules.test.ts). Times are this process's monotonic milliseconds (performance.now()).
 */

export interface AnswerOrder {
  /** Send time of the newest answer applied: an answer to an older request changes nothing. */
  lastAppliedSentAt: number;
  /**
   * Answers to requests sent before this cannot grant leadership: they may have been computed before a
   * loss that was pushed since, or before the sidecar processed our idle acknowledgement (which gave
   * their promises back). Infinity while an acknowledgement is on its way.
   */
  voidBefore: number;
}

export const initialOrder: AnswerOrder = {
  lastAppliedSentAt: Number.NEGATIVE_INFINITY,
  voidBefore: Number.NEGATIVE_INFINITY,
};

export interface TimedAnswer {
  isLeader: boolean;
  validForMs: number;
}

/**
 * What a polled answer means: `undefined` when it must be ignored (older than one already applied, or
 * sent before a loss or an idle acknowledgement — what it says is older than what we know), else the
 * new order and the deadline it grants (0 = not leader).
 */
export function admit(
  order: AnswerOrder,
  sentAt: number,
  answer: TimedAnswer,
): { order: AnswerOrder; deadline: number } | undefined {
  if (sentAt < order.lastAppliedSentAt || sentAt <= order.voidBefore) return undefined;
  const grants = answer.isLeader && answer.validForMs > 0;
  return {
    order: { ...order, lastAppliedSentAt: sentAt },
    deadline: grants ? sentAt + answer.validForMs : 0,
  };
}

/** A pushed loss is applied at once: nothing sent before it may promote again. */
export function pushedLoss(order: AnswerOrder, receivedAt: number): AnswerOrder {
  return { ...order, voidBefore: Math.max(order.voidBefore, receivedAt) };
}

/** The gate gives its promises back (idle): until the sidecar confirms, no answer may promote. */
export function acknowledging(order: AnswerOrder): AnswerOrder {
  return { ...order, voidBefore: Number.POSITIVE_INFINITY };
}

/** The sidecar confirmed the acknowledgement at `confirmedAt`: requests sent after it count again. */
export function acknowledged(order: AnswerOrder, confirmedAt: number): AnswerOrder {
  return { ...order, voidBefore: confirmedAt };
}

export interface TermView {
  closed: boolean;
  stopped: boolean;
  isLeader: boolean;
  epoch: number | null;
}

/** Why a running term must end now, or undefined while it may go on. */
export function termEnd(view: TermView, termEpoch: number): string | undefined {
  if (view.closed) return 'gate closed';
  if (view.stopped) return 'stopped';
  if (!view.isLeader) return 'lost';
  if (view.epoch !== termEpoch) return 'new epoch';
  return undefined;
}
