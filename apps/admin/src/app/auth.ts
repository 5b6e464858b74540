import type { Role } from '@sentryhub/contracts';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { roleAllows, type ApiKeyStore, type Principal } from './api-keys';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** Every `/api/` request needs `Authorization: Bearer <api key>`; 401 otherwise. */
export const apiKeyAuth = fp<{ keys: ApiKeyStore }>(
  async (app: FastifyInstance, { keys }) => {
    app.decorateRequest('principal', null);
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/api/')) return;
      const header = request.headers.authorization ?? '';
      const [scheme, token] = header.split(' ', 2);
      const principal = scheme?.toLowerCase() === 'bearer' && token ? await keys.authenticate(token.trim()) : null;
      if (!principal) return reply.code(401).header('www-authenticate', 'Bearer realm="sentryhub-admin"').send({ error: 'missing or invalid API key' });
      request.principal = principal;
    });
  },
  { name: 'api-key-auth' },
);

/** A route's onRequest hook (before validation, so a refused role never learns more): 403 unless the key's role is at least `role`. */
export function requireRole(role: Role) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.principal || !roleAllows(request.principal.role, role)) {
      return reply.code(403).send({ error: `this needs the ${role} role; your key has ${request.principal?.role ?? 'none'}` });
    }
  };
}

/** Who did it, for audit rows and comments. */
export const actorOf = (request: FastifyRequest) => (request.principal ? `key:${request.principal.name}` : 'anonymous');
