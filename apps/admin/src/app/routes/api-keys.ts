import { ApiKeyBody, ApiKeyView, CreatedApiKey, ErrorResponse, IdParams, Role } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { ApiKeyStore } from '../api-keys';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';

export interface ApiKeyRoutesOptions {
  db: Kysely<Database>;
  keys: ApiKeyStore;
  audit: AuditTrail;
}

/** `/me` (who this key is), and API keys (admin role): the secret is shown once, at creation; only its hash is stored. */
export async function apiKeyRoutes(app: FastifyInstance, { db, keys, audit }: ApiKeyRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get('/me', { config: { role: 'viewer' }, schema: { response: { 200: z.object({ name: z.string(), role: Role }) } } }, async (request) => ({
    name: request.principal?.name ?? '',
    role: request.principal?.role ?? 'viewer',
  }));

  routes.get('/api-keys', { config: { role: 'admin' }, schema: { response: { 200: z.object({ items: z.array(ApiKeyView) }) } } }, async () => {
    const rows = await db.selectFrom('api_keys').select(['id', 'name', 'role', 'created_at', 'revoked_at', 'last_used_at']).orderBy('id').execute();
    return {
      items: rows.map((row) => ({
        id: row.id,
        name: row.name,
        role: row.role,
        createdAt: row.created_at.toISOString(),
        revokedAt: row.revoked_at?.toISOString() ?? null,
        lastUsedAt: row.last_used_at?.toISOString() ?? null,
      })),
    };
  });

  routes.post(
    '/api-keys',
    { config: { role: 'admin' }, schema: { body: ApiKeyBody, response: { 201: CreatedApiKey, 400: ErrorResponse } } },
    async (request, reply) => {
      const created = await keys.create(request.body.name, request.body.role);
      const event = await audit.record(db, {
        actor: actorOf(request),
        entity: 'api_key',
        entityId: created.id,
        action: 'create',
        changes: { name: request.body.name, role: request.body.role },
      });
      await audit.publish(event, request.id);
      return reply.code(201).send({ id: created.id, key: created.key, name: request.body.name, role: request.body.role });
    },
  );

  routes.delete(
    '/api-keys/:id',
    { config: { role: 'admin' }, schema: { params: IdParams, response: { 204: z.null(), 404: ErrorResponse } } },
    async (request, reply) => {
      const event = await db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('api_keys')
          .set({ revoked_at: new Date() })
          .where('id', '=', request.params.id)
          .where('revoked_at', 'is', null)
          .returning(['id', 'name'])
          .executeTakeFirst();
        return row ? audit.record(trx, { actor: actorOf(request), entity: 'api_key', entityId: row.id, action: 'revoke', changes: { name: row.name } }) : null;
      });
      if (!event) return reply.code(404).send({ error: `no active API key ${request.params.id}` });
      keys.forget();
      await audit.publish(event, request.id);
      return reply.code(204).send(null);
    },
  );
}
