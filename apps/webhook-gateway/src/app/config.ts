import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const GatewayConfig = z.object({
  ...sharedEnv,
  PORT: portEnv(8080),
  HOST: z.string().default('0.0.0.0'),
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  /** Comma-separated; when set, every intake request must carry one of them. */
  WEBHOOK_TOKENS: z
    .string()
    .optional()
    .transform((value) => (value ?? '').split(',').map((token) => token.trim()).filter(Boolean)),
});
export type GatewayConfig = z.infer<typeof GatewayConfig>;
