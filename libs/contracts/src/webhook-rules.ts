import { z } from 'zod';
import { RuleCommon, RuleTimestamps } from './admin-api';

/**
 * Outgoing webhook rules in the admin API (`/api/v1/webhook-rules`) and the receivers they
 * may name (`/api/v1/receivers`). A rule names a receiver configured in WEBHOOK_RECEIVERS_FILE,
 * never a URL, and has a Liquid body template that must render JSON, or a preset.
 */

/** A receiver's name as WEBHOOK_RECEIVERS_FILE spells it. */
const ReceiverName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'receiver must be the name of a receiver in WEBHOOK_RECEIVERS_FILE (1-64 letters, digits, ".", "_" or "-")');

export const WebhookRuleBody = RuleCommon.extend({
  receiver: ReceiverName,
  /** A Liquid template that renders the JSON body; null: the preset's. */
  bodyTemplate: z.string().min(1, 'a template must not be empty').max(20_000).nullable().default(null),
  /** A body shipped with SentryHub (`pagerduty`, `teams`, `opsgenie`, `alertmanager`), used when bodyTemplate is null. */
  preset: z.string().trim().min(1).max(64).nullable().default(null),
});
export type WebhookRuleBody = z.infer<typeof WebhookRuleBody>;
export const WebhookRuleView = WebhookRuleBody.extend(RuleTimestamps.shape);
export type WebhookRuleView = z.infer<typeof WebhookRuleView>;

/** A rule's test send: what the receiver answered. */
export const WebhookTestView = z.object({ receiver: z.string(), status: z.number().int(), body: z.string() });

/** A receiver as the admin shows it: names only, never a header value, parameter value or secret. */
export const ReceiverView = z.object({
  name: z.string(),
  /** The URL without its query, or null when the URL comes from the environment (`urlEnv`). */
  url: z.string().nullable(),
  urlEnv: z.string().nullable(),
  /** Header names; their values come from the environment and are never shown. */
  headers: z.array(z.string()),
  /** Template parameter names (`receiver.params.<name>`). */
  params: z.array(z.string()),
  signed: z.boolean(),
  signatureHeader: z.string().nullable(),
  resolvedPath: z.string().nullable(),
  timeoutMs: z.number().int(),
  /** The presets this receiver has the parameters for. */
  presets: z.array(z.string()),
});
export type ReceiverView = z.infer<typeof ReceiverView>;

/** A body preset: what it is for, what its receiver needs, and its template (the console fills the form with it). */
export const WebhookPresetView = z.object({
  id: z.string(),
  title: z.string(),
  docs: z.string(),
  requiredParams: z.array(z.string()),
  receiverHint: z.string(),
  template: z.string(),
});
export type WebhookPresetView = z.infer<typeof WebhookPresetView>;

export const ReceiversView = z.object({ items: z.array(ReceiverView), presets: z.array(WebhookPresetView) });
