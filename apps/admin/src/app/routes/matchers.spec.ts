import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore } from '../api-keys';
import { buildAdmin } from '../app';

/** `POST /api/v1/matchers/parse`, the console's way to Alertmanager's matcher parser, on a real PostgreSQL (API keys). */
describe('POST /api/v1/matchers/parse', () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let viewer = '';
  const parse = (text: unknown, key: string | null = viewer) =>
    app.inject({ method: 'POST', url: '/api/v1/matchers/parse', payload: { text }, headers: key === null ? {} : { authorization: `Bearer ${key}` } });

  beforeAll(async () => {
    database = await createTestDatabase('matchers-parse');
    const keys = apiKeyStore(database.db);
    await keys.ensureBootstrap('matchers-parse-bootstrap-key-0123456789');
    viewer = (await keys.create('reader', 'viewer')).key;
    app = await buildAdmin({
      logger: createLogger('matchers-parse', 'silent'),
      db: database.db,
      keys,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('matchers-parse'),
      defaultChannel: '#general',
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('parses a braced list and a bare matcher as Alertmanager does (a viewer key is enough)', async () => {
    const list = await parse('{alertname="X",instance=~"h.*", path="/a,b"}');
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({
      matchers: [
        { name: 'alertname', value: 'X', isEqual: true, isRegex: false },
        { name: 'instance', value: 'h.*', isEqual: true, isRegex: true },
        { name: 'path', value: '/a,b', isEqual: true, isRegex: false },
      ],
    });
    expect((await parse(' a=b ')).json()).toEqual({ matchers: [{ name: 'a', value: 'b', isEqual: true, isRegex: false }] });
    expect((await parse('team!~"web|api"')).json()).toEqual({ matchers: [{ name: 'team', value: 'web|api', isEqual: false, isRegex: true }] });
  });

  it('answers 400 naming the problem: a bad regex, a bad matcher, no matcher at all', async () => {
    const badRegex = await parse('instance=~"h.("');
    expect(badRegex.statusCode).toBe(400);
    expect(badRegex.json().error).toMatch(/invalid regular expression "h\.\(" in matcher/);
    expect(badRegex.json().issues).toEqual([{ path: 'text', message: badRegex.json().error }]);
    const badName = await parse('{0abc="x"}');
    expect(badName.statusCode).toBe(400);
    expect(badName.json().error).toMatch(/bad matcher format "0abc=\\"x\\""/);
    const none = await parse('{}');
    expect(none.statusCode).toBe(400);
    expect(none.json().error).toMatch(/no matcher in the text/);
    expect((await parse(42)).statusCode).toBe(400);
    expect((await parse('a=b'.repeat(4_000))).statusCode).toBe(400);
  });

  it('answers 401 without a key', async () => {
    expect((await parse('a=b', null)).statusCode).toBe(401);
  });
});
