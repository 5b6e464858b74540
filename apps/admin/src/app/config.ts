import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const AdminConfig = z.object({
  ...sharedEnv,
  PORT: portEnv(8081),
  HOST: z.string().default('0.0.0.0'),
  /** Creates the first admin key at start-up when no key with this secret exists yet. */
  ADMIN_BOOTSTRAP_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  SLACK_INTERNAL_ENDPOINT: z.url().optional(),
  SLACK_DEFAULT_CHANNEL: z.string().min(1).default('#general'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  PUBLISH_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
});
export type AdminConfig = z.infer<typeof AdminConfig>;
