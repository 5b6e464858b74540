import { externalIntakeSchema, PostableAlert, PostableAlerts } from '@sentryhub/contracts';
import type { IntakeBody } from '@sentryhub/rules';
import { z } from 'zod';

export type ParseResult = { success: true; data: IntakeBody } | { success: false; error: z.ZodError };

const SHAPES = 'an Alertmanager webhook payload (version "4"), one postable alert {labels, ...} or an array of them';

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

function describe(json: unknown): string {
  return json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json;
}

/**
 * Judges a decoded message body by `externalIntakeSchema` (SPEC section 3), once it is known to
 * be no deeper than MAX_DEPTH. When neither "one alert" nor "an array" fits, zod reports only
 * "Invalid input" for the union: the body's own shape then picks the schema whose first issue
 * says what is actually wrong, so that the dead letter's `x-error` and `x-error-path` point at
 * the problem.
 */
export function parseExternalMessage(json: unknown): ParseResult {
  const deepPath = tooDeep(json);
  if (deepPath) {
    return { success: false, error: new z.ZodError([{ code: 'custom', path: deepPath, message: `nested deeper than ${MAX_DEPTH} levels`, input: undefined }]) };
  }
  const result = externalIntakeSchema(json).safeParse(json);
  if (result.success) return result;
  const [issue, ...others] = result.error.issues;
  if (others.length > 0 || issue?.code !== 'invalid_union' || issue.path.length > 0) return result;
  if (Array.isArray(json)) return PostableAlerts.safeParse(json);
  if (json !== null && typeof json === 'object') return PostableAlert.safeParse(json);
  return {
    success: false,
    error: new z.ZodError([{ code: 'custom', path: [], message: `expected ${SHAPES}, got ${describe(json)}`, input: json }]),
  };
}
