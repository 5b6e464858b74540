import { z } from 'zod';

/** RFC 3339 timestamps as Alertmanager and Prometheus write them (any fraction, Z or offset). */
export const Rfc3339 = z.iso.datetime({ offset: true });

export const LabelSet = z.record(z.string().min(1), z.string());
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
  alerts: z.array(WebhookAlert).min(1, 'alerts must not be empty'),
});
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

/** An Alertmanager API v2 "postable alert", as Prometheus sends it to POST /api/v2/alerts. */
export const PostableAlert = z.looseObject({
  labels: LabelSet.refine((l) => Object.keys(l).length > 0, 'labels must not be empty'),
  annotations: LabelSet.default({}),
  startsAt: Rfc3339.optional(),
  endsAt: Rfc3339.optional(),
  generatorURL: z.string().optional(),
});
export type PostableAlert = z.infer<typeof PostableAlert>;

export const PostableAlerts = z.array(PostableAlert).min(1, 'alerts must not be empty');
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
