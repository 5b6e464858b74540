import { DEFAULT_INTAKE_MAX_FUTURE, parseDuration, parseIntakeAlerts, type IntakeAlerts, type IntakeLimits, type RejectedAlert } from '@sentryhub/contracts';
import { z } from 'zod';

/** A message judged alert by alert: the alerts that passed, those refused on their own, and when it was received. */
export interface ExternalIntake {
  alerts: IntakeAlerts;
  rejected: RejectedAlert[];
  receivedAt: Date;
}

export type ParseResult = { success: true; data: ExternalIntake } | { success: false; error: z.ZodError; rejected: RejectedAlert[] };

const DEFAULT_MAX_FUTURE_MS = parseDuration(DEFAULT_INTAKE_MAX_FUTURE) as number;

/**
 * Alerts are shallow (a webhook's labels sit 4 levels down), but the shapes keep unknown fields,
 * and a value nested thousands of levels deep would overflow the stack of JSON.stringify when
 * republished, turning a bad message into one retried for minutes.
 */
export const MAX_DEPTH = 32;

interface Frame {
  value: unknown;
  depth: number;
  key: string | number | null;
  parent: Frame | null;
}

/** The path of the first object or array nested deeper than `limit`, found without recursion; null when there is none. */
export function tooDeep(json: unknown, limit = MAX_DEPTH): (string | number)[] | null {
  const stack: Frame[] = [{ value: json, depth: 1, key: null, parent: null }];
  for (let frame = stack.pop(); frame; frame = stack.pop()) {
    const { value } = frame;
    if (value === null || typeof value !== 'object') continue;
    if (frame.depth > limit) {
      const path: (string | number)[] = [];
      for (let at: Frame | null = frame; at && at.key !== null; at = at.parent) path.unshift(at.key);
      return path;
    }
    const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
    for (const [key, item] of entries) stack.push({ value: item, depth: frame.depth + 1, key, parent: frame });
  }
  return null;
}

/**
 * Judges a decoded message body, once it is known to be no deeper than MAX_DEPTH: as a whole
 * first (a webhook payload, one postable alert or an array of them; a failure here dead-letters
 * the message), then alert by alert against the intake bounds. The alerts that pass are returned
 * with the refused ones; when every alert is refused, the message fails with their issues, the
 * first of which becomes the dead letter's `x-error` and `x-error-path`.
 */
export function parseExternalMessage(json: unknown, limits: IntakeLimits = { receivedAt: new Date(), maxFutureMs: DEFAULT_MAX_FUTURE_MS }): ParseResult {
  const deepPath = tooDeep(json);
  if (deepPath) {
    return {
      success: false,
      error: new z.ZodError([{ code: 'custom', path: deepPath, message: `nested deeper than ${MAX_DEPTH} levels`, input: undefined }]),
      rejected: [],
    };
  }
  const result = parseIntakeAlerts('any', json, limits);
  if (!result.success) return result;
  return { success: true, data: { alerts: result.data, rejected: result.rejected, receivedAt: limits.receivedAt } };
}
