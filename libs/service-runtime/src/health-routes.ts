import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness';

export interface HealthRoutesOptions {
  readiness: Readiness;
  registry: Registry;
}

/** `/healthz` (alive), `/readyz` (200 only when every component is ready) and `/metrics`. */
export const healthRoutes = fp<HealthRoutesOptions>(
  async (app: FastifyInstance, { readiness, registry }) => {
    app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }));
    app.get('/readyz', { logLevel: 'silent' }, async (_request, reply) => {
      const { ready, notReady } = readiness.status();
      return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', reasons: notReady });
    });
    app.get('/metrics', { logLevel: 'silent' }, async (_request, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  },
  { name: 'health-routes' },
);
