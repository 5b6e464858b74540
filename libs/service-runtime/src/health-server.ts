import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { healthRoutes, type HealthRoutesOptions } from './health-routes';

/** The small HTTP server of a worker service: only health and metrics. */
export async function startHealthServer(port: number, logger: Logger, options: HealthRoutesOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: logger.child({ component: 'health-server' }) as FastifyBaseLogger });
  await app.register(healthRoutes, options);
  await app.listen({ port, host: '0.0.0.0' });
  return app;
}
