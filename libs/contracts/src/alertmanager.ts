import { z } from 'zod';

/** RFC 3339 timestamps as Alertmanager and Prometheus write them (any fraction, Z or offset). */
/**
 * An RFC 3339 timestamp that PostgreSQL can store. ISO 8601 has a year 0000; PostgreSQL
 * refuses it ("date/time field value out of range"), so accepting it would make a message
 * that fails the processor's transaction on every retry.
 */
export const Rfc3339 = z.iso.datetime({ offset: true }).refine((value) => !value.startsWith('0000-'), 'year 0000 cannot be stored: the first year is 0001');

/** At most this many alerts in one request or external message (a webhook, an array of postable alerts). */
export const MAX_ALERTS_PER_REQUEST = 10_000;
/** JSON nested deeper than this (in kept unknown fields too) is refused: it serves no alert and costs stack. */
export const MAX_JSON_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** One scan that nearly every string passes: the precise checks run only when it matches. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what it looks for
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

/**
 * Why a string cannot be stored verbatim, or null: PostgreSQL text and jsonb refuse NUL
 * (`\u0000`) and lone UTF-16 surrogates, so such an alert would fail in the processor on every
 * retry; it is refused at intake instead. Other control characters are kept verbatim.
 */
export function unstorableText(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'must not contain a lone UTF-16 surrogate';
  return null;
}

const StoredText = z.string().superRefine((text, ctx) => {
  const error = unstorableText(text);
  if (error) ctx.addIssue({ code: 'custom', message: error });
});

/** A node still to check: its value, depth, and how to rebuild its path should it fail. */
interface Pending {
  value: unknown;
  depth: number;
  parent: Pending | null;
  key: string | number;
}

const pathOf = (node: Pending | null): (string | number)[] => {
  const path: (string | number)[] = [];
  for (let at = node; at?.parent; at = at.parent) path.push(at.key);
  return path.reverse();
};

/**
 * The first problem of a parsed JSON value as a whole (depth over MAX_JSON_DEPTH, or an
 * unstorable string in any key or value, unknown fields included), or null. Iterative: a
 * hostile depth cannot overflow the stack here. Paths are built only for the problem found.
 */
export function jsonValueProblem(value: unknown): { path: (string | number)[]; message: string } | null {
  const todo: Pending[] = [{ value, depth: 0, parent: null, key: '' }];
  for (let item = todo.pop(); item !== undefined; item = todo.pop()) {
    if (item.depth > MAX_JSON_DEPTH) return { path: pathOf(item).slice(0, MAX_JSON_DEPTH), message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
    const current = item.value;
    if (typeof current === 'string') {
      const error = unstorableText(current);
      if (error) return { path: pathOf(item), message: error };
    } else if (Array.isArray(current)) {
      for (let index = 0; index < current.length; index++) todo.push({ value: current[index] as unknown, depth: item.depth + 1, parent: item, key: index });
    } else if (current !== null && typeof current === 'object') {
      for (const key in current) {
        if (!Object.hasOwn(current, key)) continue;
        const error = unstorableText(key);
        if (error) return { path: [...pathOf(item), key], message: `key ${error}` };
        todo.push({ value: (current as Record<string, unknown>)[key], depth: item.depth + 1, parent: item, key });
      }
    }
  }
  return null;
}

/** A refinement refusing what jsonValueProblem finds. */
function storable(value: unknown, ctx: z.RefinementCtx): void {
  const problem = jsonValueProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
}

export const LabelSet = z.record(StoredText.min(1), StoredText);
export type LabelSet = z.infer<typeof LabelSet>;

/** Alertmanager's "not ended" value of endsAt. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** One alert of an Alertmanager webhook (version 4). Unknown fields are kept. */
export const WebhookAlert = z.looseObject({
  status: z.enum(['firing', 'resolved']),
  labels: LabelSet.refine((l) => Object.keys(l).length > 0, 'labels must not be empty'),
  annotations: LabelSet.default({}),
  startsAt: Rfc3339,
  endsAt: Rfc3339.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z
    .string()
    .regex(/^[0-9a-f]{16}$/, 'fingerprint must be 16 lower-case hex digits')
    .optional(),
});
export type WebhookAlert = z.infer<typeof WebhookAlert>;

/** The Alertmanager webhook payload, version 4 (webhook_configs). Unknown fields are kept. */
export const AlertmanagerWebhook = z.looseObject({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: LabelSet.default({}),
  commonLabels: LabelSet.default({}),
  commonAnnotations: LabelSet.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(WebhookAlert).min(1, 'alerts must not be empty').max(MAX_ALERTS_PER_REQUEST, `at most ${MAX_ALERTS_PER_REQUEST} alerts per request`),
}).superRefine(storable);
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

/** An Alertmanager API v2 "postable alert", as Prometheus sends it to POST /api/v2/alerts. */
export const PostableAlert = z.looseObject({
  labels: LabelSet.refine((l) => Object.keys(l).length > 0, 'labels must not be empty'),
  annotations: LabelSet.default({}),
  startsAt: Rfc3339.optional(),
  endsAt: Rfc3339.optional(),
  generatorURL: z.string().optional(),
}).superRefine(storable);
export type PostableAlert = z.infer<typeof PostableAlert>;

export const PostableAlerts = z
  .array(PostableAlert)
  .min(1, 'alerts must not be empty')
  .max(MAX_ALERTS_PER_REQUEST, `at most ${MAX_ALERTS_PER_REQUEST} alerts per request`);
export type PostableAlerts = z.infer<typeof PostableAlerts>;

/** POST /api/v1/alerts: one postable alert or an array of them. */
export const PostableAlertOrAlerts = z.union([PostableAlert, PostableAlerts]);

/**
 * What the external intake queue accepts (seed 000): a webhook payload, one postable alert,
 * or an array of them. A body with `version` is judged as a webhook, so that its errors are
 * the webhook's errors and not a confusing union of every shape.
 */
export function externalIntakeSchema(body: unknown) {
  const looksLikeWebhook = body !== null && typeof body === 'object' && !Array.isArray(body) && 'version' in body;
  return looksLikeWebhook ? AlertmanagerWebhook : PostableAlertOrAlerts;
}
