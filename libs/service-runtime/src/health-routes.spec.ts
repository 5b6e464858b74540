import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { healthRoutes } from './health-routes';
import { createLogger } from './logger';
import { createMetricsRegistry } from './metrics';
import { Readiness } from './readiness';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('health-test', 'info', destination), lines };
}

describe('health routes', () => {
  it('/readyz names the components that are not ready, never their error text, which goes to the log once per change', async () => {
    const { logger, lines } = capturingLogger();
    const readiness = new Readiness(['database', 'broker']);
    const app = Fastify({ loggerInstance: logger as FastifyBaseLogger });
    await app.register(healthRoutes, { readiness, registry: createMetricsRegistry('health-test') });

    const starting = await app.inject({ method: 'GET', url: '/readyz' });
    expect(starting.statusCode).toBe(503);
    expect(starting.json()).toEqual({ status: 'not ready', reasons: { database: 'starting', broker: 'starting' } });

    readiness.ready('database');
    const secret = 'cannot reach PostgreSQL: connect ECONNREFUSED 10.20.30.40:5432 (user sentryhub_admin)';
    readiness.notReady('database', secret);
    readiness.ready('broker');
    for (let probe = 0; probe < 3; probe++) {
      const down = await app.inject({ method: 'GET', url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json()).toEqual({ status: 'not ready', reasons: { database: 'down' } });
      expect(down.body).not.toMatch(/ECONNREFUSED|10\.20\.30\.40|PostgreSQL|sentryhub_admin/);
    }
    // The operator still learns why: the reason is logged, once for the three probes.
    const logged = lines.filter((line) => line['msg'] === 'not ready');
    expect(logged.map((line) => line['notReady'])).toEqual([{ database: 'starting', broker: 'starting' }, { database: secret }]);
    // The internal status keeps the text for the service's own use.
    expect(readiness.status().notReady).toEqual({ database: secret });

    readiness.ready('database');
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
    await app.close();
  });

  it('declares /healthz, /readyz and /metrics public', async () => {
    const roles = new Map<string, unknown>();
    const app = Fastify();
    app.addHook('onRoute', (route) => {
      roles.set(`${String(route.method)} ${route.url}`, route.config?.role);
    });
    await app.register(healthRoutes, { readiness: new Readiness([]), registry: createMetricsRegistry('health-test-2') });
    await app.ready();
    expect(Object.fromEntries(roles)).toEqual({
      'GET /healthz': 'public',
      'HEAD /healthz': 'public',
      'GET /readyz': 'public',
      'HEAD /readyz': 'public',
      'GET /metrics': 'public',
      'HEAD /metrics': 'public',
    });
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    await app.close();
  });
});
