import { externalIntakeSchema, PostableAlert, PostableAlerts } from '@sentryhub/contracts';
import type { IntakeBody } from '@sentryhub/rules';
import { z } from 'zod';

export type ParseResult = { success: true; data: IntakeBody } | { success: false; error: z.ZodError };

const SHAPES = 'an Alertmanager webhook payload (version "4"), one postable alert {labels, ...} or an array of them';

function describe(json: unknown): string {
  return json === null ? 'null' : Array.isArray(json) ? 'an array' : typeof json;
}

/**
 * Judges a decoded message body by `externalIntakeSchema` (SPEC section 3). When neither
 * "one alert" nor "an array" fits, zod reports only "Invalid input" for the union: the body's
 * own shape then picks the schema whose first issue says what is actually wrong, so that the
 * dead letter's `x-error` and `x-error-path` point at the problem.
 */
export function parseExternalMessage(json: unknown): ParseResult {
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
