import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyStore, type ApiKeyStore } from './api-keys';
import { buildAdmin, type AdminDeps } from './app';
import { declaredRoutes, type DeclaredRoute, type RouteRole } from './auth';

/**
 * Authorization of every route of the admin's route table, as the router sees it: the table is
 * enumerated from the app itself (every route registered, one row per method, with the role it
 * declares), never listed by hand, so a route added later is tested here without a change.
 * Requests go over a real socket with the path bytes exactly as written (no client-side
 * normalisation), under many spellings of the same path.
 */

const logger = createLogger('authorization-test', 'silent');
const BOOTSTRAP = 'bootstrap-admin-key-authorization-0123';
const KEYED_ROLES = ['viewer', 'editor', 'admin'] as const;
type KeyedRole = (typeof KEYED_ROLES)[number];
const RANK: Record<KeyedRole, number> = { viewer: 0, editor: 1, admin: 2 };

interface Answer {
  status: number;
  body: string;
}

/** A raw HTTP request: the path is sent byte for byte (`%61`, `//`, `..`, `;` and all). */
function send(port: number, method: string, path: string, key: string | null): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = http.request({ host: '127.0.0.1', port, method, path, headers: key ? { authorization: `Bearer ${key}` } : {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('error', reject);
    request.end();
  });
}

/** A plausible value for each path parameter; ids that exist nowhere, so that no handler changes anything. */
function fill(url: string): string {
  return url
    .replace(/:id\b/g, '987654')
    .replace(/:name\b/g, 'alerts')
    .replace(/:queue\b/g, 'alerts')
    .replace(/:[A-Za-z_]+/g, 'placeholder')
    .replace(/\*$/, 'index.html');
}

const encodeFirstLetter = (segment: string) => (/^[A-Za-z]/.test(segment) ? `%${segment.charCodeAt(0).toString(16)}${segment.slice(1)}` : segment);

/** The same path, spelled as an attacker would try it. `reaches` is what must route to the same handler. */
function spellings(path: string): { name: string; path: string }[] {
  const segments = path.split('/').slice(1);
  const last = segments.length - 1;
  return [
    { name: 'as registered', path },
    { name: 'first letter percent-encoded', path: path.replace(/^\/a/, '/%61') },
    { name: 'upper-case percent-encoding', path: path.replace(/^\/a/, '/%41') },
    { name: 'every segment starts percent-encoded', path: `/${segments.map(encodeFirstLetter).join('/')}` },
    { name: 'slashes percent-encoded', path: `/${segments.join('%2F')}` },
    { name: 'slashes percent-encoded (lower case)', path: `/${segments.join('%2f')}` },
    { name: 'doubled leading slash', path: `/${path}` },
    { name: 'doubled inner slashes', path: path.replaceAll('/', '//') },
    { name: 'trailing slash', path: `${path}/` },
    { name: 'dot segment', path: `/${segments.slice(0, last).join('/')}/./${segments[last]}` },
    { name: 'dot-dot segment', path: `/${segments.slice(0, last).join('/')}/x/../${segments[last]}` },
    { name: 'encoded dot-dot segment', path: `/${segments.slice(0, last).join('/')}/x/%2e%2e/${segments[last]}` },
    { name: 'semicolon parameter on a segment', path: `/${segments[0]};x=1/${segments.slice(1).join('/')}` },
    { name: 'semicolon parameter at the end', path: `${path};jsessionid=1` },
    { name: 'query string', path: `${path}?x=1&role=admin` },
    { name: 'empty query string', path: `${path}?` },
    { name: 'fragment', path: `${path}#x` },
    { name: 'upper-case prefix', path: path.replace(/^\/api/, '/API') },
  ];
}

describe('admin authorization: every route, every spelling', () => {
  let database: TestDatabase;
  let store: ApiKeyStore;
  let app: FastifyInstance;
  let port: number;
  let routes: readonly DeclaredRoute[];
  const keys: Record<KeyedRole, string> = { viewer: '', editor: '', admin: BOOTSTRAP };

  const deps = (): AdminDeps => ({
    logger,
    db: database.db,
    keys: store,
    messaging: () => null,
    readiness: new Readiness([]),
    registry: createMetricsRegistry('authorization-test'),
    defaultChannel: '#general',
  });

  beforeAll(async () => {
    database = await createTestDatabase('authorization');
    store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    keys.viewer = (await store.create('viewer-key', 'viewer')).key;
    keys.editor = (await store.create('editor-key', 'editor')).key;
    app = await buildAdmin(deps());
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
    routes = declaredRoutes(app);
  });

  afterAll(async () => {
    await app?.close();
    await database?.destroy();
  });

  it('enumerates the route table from the app itself', () => {
    // Every row is a route the router really has, and the table is the whole API (not a hand-written list).
    for (const route of routes) expect(app.hasRoute({ method: route.method as 'GET', url: route.url }), `${route.method} ${route.url}`).toBe(true);
    const printed = app.printRoutes({ commonPrefix: false });
    const printedMethods = [...printed.matchAll(/\(([A-Z, ]+)\)/g)].flatMap((match) => (match[1] ?? '').split(', '));
    expect(routes.length).toBe(printedMethods.length);
    const urls = new Set(routes.map((route) => route.url));
    for (const expected of [
      '/healthz',
      '/readyz',
      '/metrics',
      '/openapi.json',
      '/api/v1/alert-groups',
      '/api/v1/slack-rules',
      '/api/v1/api-keys/:id',
      '/api/v1/queues',
    ])
      expect(urls).toContain(expected);
    expect(routes.filter((route) => route.role !== 'public').length).toBeGreaterThan(30);
  });

  it('declares the public routes, and only those, public: console files, health, metrics and OpenAPI', async () => {
    const publicUrls = [...new Set(routes.filter((route) => route.role === 'public').map((route) => route.url))].sort();
    expect(publicUrls.filter((url) => !['/healthz', '/readyz', '/metrics', '/openapi.json'].includes(url)).every((url) => !url.startsWith('/api/'))).toBe(true);
    expect(publicUrls).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/openapi.json', '/*']));
    for (const path of ['/healthz', '/metrics', '/openapi.json', '/', '/index.html', '/readyz']) {
      const answer = await send(port, 'GET', path, null);
      expect(answer.status, path).toBe(200);
    }
  });

  it('answers 401 without a key, 403 to every weaker key, and lets the declared role through, under every spelling of every path', async () => {
    const failures: string[] = [];
    let reachedSpellings = 0;
    for (const route of routes) {
      if (route.role === 'public') continue;
      const role = route.role as KeyedRole;
      const weaker = KEYED_ROLES.filter((candidate) => RANK[candidate] < RANK[role]);
      for (const spelling of spellings(fill(route.url))) {
        const where = `${route.method} ${route.url} (${spelling.name}: ${spelling.path})`;
        const anonymous = await send(port, route.method, spelling.path, null);
        const allowed = await send(port, route.method, spelling.path, keys[role]);
        if (anonymous.status === 401) {
          // The route was reached: the key decides, by role.
          reachedSpellings++;
          if (route.method !== 'HEAD' && JSON.parse(anonymous.body).error !== 'missing or invalid API key')
            failures.push(`${where}: 401 body ${anonymous.body}`);
          if (allowed.status === 401 || allowed.status === 403) failures.push(`${where}: ${role} key got ${allowed.status}`);
          for (const weak of weaker) {
            const refused = await send(port, route.method, spelling.path, keys[weak]);
            if (refused.status !== 403) failures.push(`${where}: ${weak} key got ${refused.status}, expected 403`);
            else if (route.method !== 'HEAD' && !JSON.parse(refused.body).error.includes(`needs the ${role} role`))
              failures.push(`${where}: 403 body ${refused.body}`);
          }
          const wrong = await send(port, route.method, spelling.path, 'shk_not-a-key-at-all');
          if (wrong.status !== 401) failures.push(`${where}: a wrong key got ${wrong.status}`);
        } else {
          // Not reached: an error answer that no key changes, so no route's data or action was behind it.
          if (anonymous.status < 400 || anonymous.status >= 500) failures.push(`${where}: without a key ${anonymous.status} ${anonymous.body.slice(0, 200)}`);
          if (allowed.status !== anonymous.status || allowed.body !== anonymous.body)
            failures.push(
              `${where}: the ${role} key changed the answer (${anonymous.status} -> ${allowed.status}): the route was reached without authentication`,
            );
        }
        if (
          spelling.name === 'as registered' ||
          spelling.name === 'first letter percent-encoded' ||
          spelling.name === 'every segment starts percent-encoded' ||
          spelling.name === 'query string'
        ) {
          // These spellings route to the handler, so they must be the authenticated ones.
          if (anonymous.status !== 401) failures.push(`${where}: expected 401 without a key, got ${anonymous.status}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect(reachedSpellings).toBeGreaterThan(100);
  });

  it('gives an unmatched path nothing but "no route", with or without a key', async () => {
    for (const path of ['/api/v1/nope', '/%61pi/v1/nope', '/api/v2/nothing-here', '/api/v1/alert-groups/1/unknown-action']) {
      const anonymous = await send(port, 'GET', path, null);
      const admin = await send(port, 'GET', path, keys.admin);
      expect(anonymous.status, path).toBe(404);
      expect(JSON.parse(anonymous.body)).toEqual({ error: expect.stringMatching(/^no route GET /) });
      expect(admin).toEqual(anonymous);
    }
  });

  // Lowering a declaration is a change of behaviour: this table is the one place that says, by
  // hand, which writes need which role; the enumerated test above checks each route against its
  // own declaration, this one checks the declarations themselves.
  const WRITE_ROUTES: Record<string, KeyedRole> = {
    'POST /api/v1/slack-rules': 'editor',
    'PUT /api/v1/slack-rules/:id': 'editor',
    'DELETE /api/v1/slack-rules/:id': 'editor',
    'POST /api/v1/slack-rules/preview': 'editor',
    'POST /api/v1/slack-rules/:id/preview': 'editor',
    'POST /api/v1/slack-rules/:id/test': 'editor',
    'POST /api/v1/email-rules': 'editor',
    'PUT /api/v1/email-rules/:id': 'editor',
    'DELETE /api/v1/email-rules/:id': 'editor',
    'POST /api/v1/email-rules/preview': 'editor',
    'POST /api/v1/email-rules/:id/preview': 'editor',
    'POST /api/v1/email-rules/:id/test': 'editor',
    'POST /api/v1/explain': 'editor',
    'POST /api/v1/silences': 'editor',
    'PUT /api/v1/silences/:id': 'editor',
    'DELETE /api/v1/silences/:id': 'editor',
    'POST /api/v1/alert-groups/:id/acknowledge': 'editor',
    'POST /api/v1/alert-groups/:id/unacknowledge': 'editor',
    'POST /api/v1/alert-groups/:id/comments': 'editor',
    'POST /api/v1/alert-groups/:id/resolve': 'editor',
    'POST /api/v1/email-queue/:id/requeue': 'editor',
    'POST /api/v1/email-queue/requeue': 'editor',
    'GET /api/v1/api-keys': 'admin',
    'POST /api/v1/api-keys': 'admin',
    'DELETE /api/v1/api-keys/:id': 'admin',
    'GET /api/v1/queues': 'admin',
    'POST /api/v1/queues/:name/publish': 'admin',
    'POST /api/v1/queues/:name/purge': 'admin',
    'GET /api/v1/dead-letters/:queue': 'admin',
    'POST /api/v1/dead-letters/:queue/replay': 'admin',
  };

  it('keeps the write routes of rules, silences, groups, the email queue, API keys and queues at their roles: a viewer gets 403', async () => {
    const declared = new Map(routes.map((route) => [`${route.method} ${route.url}`, route.role]));
    for (const [route, role] of Object.entries(WRITE_ROUTES)) {
      expect(declared.get(route), route).toBe(role);
      const [method = 'GET', url = '/'] = route.split(' ');
      const path = fill(url);
      const viewer = await send(port, method, path, keys.viewer);
      expect(viewer.status, `${route} as viewer`).toBe(403);
      expect(JSON.parse(viewer.body).error).toBe(`this needs the ${role} role; your key has viewer`);
      const editor = await send(port, method, path, keys.editor);
      if (role === 'admin') expect(editor.status, `${route} as editor`).toBe(403);
      else expect([401, 403], `${route} as editor`).not.toContain(editor.status);
      expect([401, 403], `${route} as admin`).not.toContain((await send(port, method, path, keys.admin)).status);
    }
  });

  it('refuses a viewer that tries to create, change or delete a Slack rule, and nothing is written', async () => {
    const rule = { name: 'sneaky', messageTemplate: 'x' };
    const created = await app.inject({ method: 'POST', url: '/api/v1/slack-rules', headers: { authorization: `Bearer ${keys.viewer}` }, payload: rule });
    expect(created.statusCode).toBe(403);
    const real = await app.inject({
      method: 'POST',
      url: '/api/v1/slack-rules',
      headers: { authorization: `Bearer ${keys.editor}` },
      payload: { name: 'real', messageTemplate: 'x' },
    });
    expect(real.statusCode).toBe(201);
    const id = real.json().id as number;
    const changed = await app.inject({
      method: 'PUT',
      url: `/%61pi/v1/slack-rules/${id}`,
      headers: { authorization: `Bearer ${keys.viewer}` },
      payload: { name: 'renamed', messageTemplate: 'y' },
    });
    expect(changed.statusCode).toBe(403);
    const deleted = await app.inject({ method: 'DELETE', url: `/api/v1/slack-rules/${id}`, headers: { authorization: `Bearer ${keys.viewer}` } });
    expect(deleted.statusCode).toBe(403);
    const rows = await database.db.selectFrom('slack_rules').select(['name', 'message_template']).execute();
    expect(rows).toEqual([{ name: 'real', message_template: 'x' }]);
  });

  it('refuses to start with a route that declares no role (or an unknown one), naming the route', async () => {
    await expect(
      (async () => {
        const extra = await buildAdmin(deps());
        try {
          extra.get('/api/v9/unguarded', async () => ({ secret: true }));
        } finally {
          await extra.close();
        }
      })(),
    ).rejects.toThrow("route GET /api/v9/unguarded declares no role: add config: { role: 'viewer' | 'editor' | 'admin' | 'public' } to its options");

    const inPlugin = await buildAdmin(deps());
    inPlugin.register(async (scope) => scope.post('/unguarded-rules', async () => ({})), { prefix: '/api/v9' });
    await expect(inPlugin.ready()).rejects.toThrow(/route POST \/api\/v9\/unguarded-rules declares no role/);

    const unknown = await buildAdmin(deps());
    try {
      expect(() => unknown.get('/api/v9/odd', { config: { role: 'superuser' as RouteRole } }, async () => ({}))).toThrow(
        /route GET \/api\/v9\/odd declares an unknown role "superuser"/,
      );
    } finally {
      await unknown.close();
    }
  });

  it('enforces a route added later just by its declaration, whatever the spelling', async () => {
    const later = await buildAdmin(deps());
    try {
      later.register(
        async (scope) => {
          scope.post('/later-probe', { config: { role: 'editor' } }, async () => ({ created: true }));
          scope.get('/later-status', { config: { role: 'viewer' } }, async () => ({ cluster: 'ok' }));
        },
        { prefix: '/api/v9' },
      );
      await later.ready();
      const as = (key: string | null) => (key ? { authorization: `Bearer ${key}` } : {});
      for (const url of ['/api/v9/later-probe', '/%61pi/v9/later-probe', '/api/v9/%6Cater-probe?x=1']) {
        expect((await later.inject({ method: 'POST', url, headers: as(null) })).statusCode, url).toBe(401);
        expect((await later.inject({ method: 'POST', url, headers: as(keys.viewer) })).statusCode, url).toBe(403);
        expect((await later.inject({ method: 'POST', url, headers: as(keys.editor) })).json(), url).toEqual({ created: true });
      }
      expect((await later.inject({ method: 'GET', url: '/%61pi/v9/later-status' })).statusCode).toBe(401);
      expect((await later.inject({ method: 'GET', url: '/%61pi/v9/later-status', headers: as(keys.viewer) })).json()).toEqual({ cluster: 'ok' });
    } finally {
      await later.close();
    }
  });
});
