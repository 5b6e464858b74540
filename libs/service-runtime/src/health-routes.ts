import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness';

/**
 * The least role an HTTP route needs, declared in its options as `config: { role }`. The admin
 * service enforces it on every route (and refuses to start with a route that lacks one); the
 * other services' routes carry it too, so that the same routes are declared alike everywhere.
 */
export type RouteRole = 'public' | 'viewer' | 'editor' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    role?: RouteRole;
  }
}

export interface HealthRoutesOptions {
  readiness: Readiness;
  registry: Registry;
}

/**
 * `/healthz` (alive), `/readyz` (200 only when every component is ready) and `/metrics`, all
 * public. `/readyz` names the components that are not ready (`starting` or `down`), never the
 * error behind it: that is logged (once per change) for the operator, not shown to whoever can
 * reach the port.
 */
export const healthRoutes = fp<HealthRoutesOptions>(
  async (app: FastifyInstance, { readiness, registry }) => {
    const config = { role: 'public' as const };
    let lastLogged = '';
    app.get('/healthz', { logLevel: 'silent', config }, async () => ({ status: 'ok' }));
    app.get('/readyz', { logLevel: 'silent', config }, async (_request, reply) => {
      const { ready, notReady } = readiness.status();
      const logged = JSON.stringify(notReady);
      if (logged !== lastLogged) {
        lastLogged = logged;
        if (!ready) app.log.warn({ notReady }, 'not ready');
      }
      return reply.code(ready ? 200 : 503).send(ready ? { status: 'ready' } : { status: 'not ready', reasons: readiness.publicStatus().notReady });
    });
    app.get('/metrics', { logLevel: 'silent', config }, async (_request, reply) => {
      return reply.type(registry.contentType).send(await registry.metrics());
    });
  },
  { name: 'health-routes' },
);
