import type { RouteRole } from '@sentryhub/service-runtime';
import type { FastifyInstance, FastifyPluginAsync, FastifyPluginOptions, FastifyRequest, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { roleAllows, type ApiKeyStore, type Principal } from './api-keys';

export type { RouteRole };
/** The least role a route needs; `public` routes need no key at all. */
export const ROUTE_ROLES: readonly RouteRole[] = ['public', 'viewer', 'editor', 'admin'];

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface DeclaredRoute {
  method: string;
  url: string;
  role: RouteRole;
}

const isRouteRole = (value: unknown): value is RouteRole => typeof value === 'string' && (ROUTE_ROLES as readonly string[]).includes(value);

/** Instances whose routes are public without declaring it one by one (a third-party plugin's routes, such as the console's static files). */
const publicScopes = new WeakSet<FastifyInstance>();
/** The route table as the authorization plugin saw it, per root instance. */
const routeTables = new WeakMap<FastifyInstance, DeclaredRoute[]>();

const methodsOf = (route: RouteOptions) => (Array.isArray(route.method) ? route.method : [route.method]).map(String);

/**
 * Authorization is a property of the matched route, not of the URL text:
 * - `onRoute`: every route must declare `config: { role }` (viewer, editor, admin or public), or
 *   registering it throws, naming the route: the app refuses to start.
 * - `onRequest` (root, so it runs for every route of every plugin): the router has already
 *   decoded and matched the path, so `/%61pi/v1/...` and `/api/v1/...` reach the same route and
 *   the same check. A non-public route needs `Authorization: Bearer <api key>` (401 otherwise)
 *   of at least the declared role (403 otherwise). Runs before the body is parsed or validated.
 * - No route matched: the not-found handler answers, with nothing but "no route".
 */
export const adminAuthorization = fp<{ keys: ApiKeyStore }>(
  async (app: FastifyInstance, { keys }) => {
    app.decorateRequest('principal', null);
    const table: DeclaredRoute[] = [];
    routeTables.set(app, table);

    app.addHook('onRoute', function (this: FastifyInstance, route) {
      const declared: unknown = route.config?.role ?? (publicScopes.has(this) ? 'public' : undefined);
      if (!isRouteRole(declared)) {
        const what = `${methodsOf(route).join(',')} ${route.url}`;
        throw new Error(
          declared === undefined
            ? `route ${what} declares no role: add config: { role: 'viewer' | 'editor' | 'admin' | 'public' } to its options`
            : `route ${what} declares an unknown role ${JSON.stringify(declared)}: use 'viewer', 'editor', 'admin' or 'public'`,
        );
      }
      route.config = { ...route.config, role: declared };
      for (const method of methodsOf(route)) table.push({ method, url: route.url, role: declared });
    });

    app.addHook('onRequest', async (request, reply) => {
      if (request.is404) return; // the not-found handler answers, whatever the path
      const role = request.routeOptions.config.role;
      if (role === 'public') return;
      if (!isRouteRole(role)) {
        // Only possible for a route registered before this plugin: fail closed.
        request.log.error({ route: request.routeOptions.url }, 'route without a declared role refused');
        return reply.code(403).send({ error: 'this route declares no role' });
      }
      const principal = await authenticate(keys, request);
      if (!principal) return reply.code(401).header('www-authenticate', 'Bearer realm="sentryhub-admin"').send({ error: 'missing or invalid API key' });
      request.principal = principal;
      if (!roleAllows(principal.role, role)) return reply.code(403).send({ error: `this needs the ${role} role; your key has ${principal.role}` });
    });
  },
  { name: 'admin-authorization' },
);

async function authenticate(keys: ApiKeyStore, request: FastifyRequest): Promise<Principal | null> {
  const header = request.headers.authorization ?? '';
  const [scheme, token] = header.split(' ', 2);
  return scheme?.toLowerCase() === 'bearer' && token ? keys.authenticate(token.trim()) : null;
}

/**
 * Registers a plugin whose routes are all public (it cannot be given route config itself, as
 * @fastify/static's routes): the scope is marked, and its routes get `config.role = 'public'`.
 */
export async function registerPublic<Options extends FastifyPluginOptions>(
  app: FastifyInstance,
  plugin: FastifyPluginAsync<Options>,
  options: Options,
): Promise<void> {
  await app.register(async (scope) => {
    publicScopes.add(scope);
    await scope.register(plugin, options);
  });
}

/** Every route registered since `adminAuthorization` (one row per method), with its declared role. */
export function declaredRoutes(app: FastifyInstance): readonly DeclaredRoute[] {
  const table = routeTables.get(app);
  if (!table) throw new Error('adminAuthorization is not registered on this instance');
  return table;
}

/** Who did it, for audit rows and comments. */
export const actorOf = (request: FastifyRequest) => (request.principal ? `key:${request.principal.name}` : 'anonymous');
