import { notifierEnv, portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const WebhookNotifierConfig = z.object({
  ...sharedEnv,
  ...notifierEnv,
  HEALTH_PORT: portEnv(9105),
  /**
   * The receivers (YAML or JSON): name -> url, headers and params from environment variables,
   * optional HMAC key variable, resolvedPath, timeoutMs. Unset: no receivers, and every webhook
   * rule's notifications fail naming the missing receiver.
   */
  WEBHOOK_RECEIVERS_FILE: z.string().trim().min(1).optional(),
  /** Alertmanager's `externalURL` in bodies (`external_url`): where a receiver's user can look at the alert. */
  WEBHOOK_EXTERNAL_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).default('http://localhost:8081'),
  /** How long the active rules are reused before they are read again. */
  WEBHOOK_RULES_CACHE_MS: z.coerce.number().int().min(0).default(5_000),
  /** Unacked messages at once. */
  NOTIFIER_PREFETCH: z.coerce.number().int().positive().default(20),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(5),
});
export type WebhookNotifierConfig = z.infer<typeof WebhookNotifierConfig>;
