import { portEnv, sharedEnv } from '@sentryhub/service-runtime';
import { z } from 'zod';

export const ProcessorConfig = z.object({
  ...sharedEnv,
  HEALTH_PORT: portEnv(9102),
  PROCESSOR_PREFETCH: z.coerce.number().int().positive().default(50),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
});
export type ProcessorConfig = z.infer<typeof ProcessorConfig>;
