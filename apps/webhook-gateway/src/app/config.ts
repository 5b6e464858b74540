import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const GatewayConfig = z.object({
  ...sharedEnv,
  PORT: portEnv(8080),
  HOST: z.string().default('0.0.0.0'),
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** Group commit: at most this many alerts per coalesced `AlertReceived` (a bigger request travels alone). */
  GATEWAY_COALESCE_MAX_ALERTS: z.coerce.number().int().positive().default(2_000),
  /** How long a group waits for more requests while a publish slot is free; 0: to the end of the event-loop turn. */
  GATEWAY_COALESCE_MAX_WAIT_MS: z.coerce.number().min(0).default(0),
  /** Unconfirmed coalesced publishes per source; while all are in flight, requests gather. */
  GATEWAY_COALESCE_MAX_IN_FLIGHT: z.coerce.number().int().positive().default(16),
  /** Comma-separated; when set, every intake request must carry one of them. */
  WEBHOOK_TOKENS: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(',').map((token) => token.trim()).filter(Boolean)),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;
