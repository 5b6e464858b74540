import { ErrorResponse, IdParams, InhibitRuleBody, InhibitRuleView } from '@sentryhub/contracts';
import { storedInhibitRule, type Database, type InhibitRuleRow } from '@sentryhub/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';

export interface InhibitRuleRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
}

const UNIQUE_VIOLATION = '23505';
const errors = { 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

/** A stored row in the API's shape; a row whose matchers were broken by hand shows them as stored. */
export function inhibitRuleView(row: InhibitRuleRow): InhibitRuleView {
  const rule = storedInhibitRule(row);
  const matchers =
    'problem' in rule
      ? { sourceMatchers: row.source_matchers, targetMatchers: row.target_matchers }
      : { sourceMatchers: rule.sourceMatchers, targetMatchers: rule.targetMatchers };
  return {
    id: row.id,
    name: row.name,
    ...matchers,
    equal: row.equal,
    comment: row.comment,
    createdBy: row.created_by,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

const rowOf = (body: InhibitRuleBody) => ({
  name: body.name,
  source_matchers: JSON.stringify(body.sourceMatchers),
  target_matchers: JSON.stringify(body.targetMatchers),
  equal: body.equal,
  comment: body.comment,
});

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === UNIQUE_VIOLATION;

/**
 * `/inhibit-rules`: Alertmanager's `inhibit_rules` as rows. While a firing group matches the
 * source matchers, groups that match the target matchers and share the values of the `equal`
 * labels are not notified (the notifiers record them `inhibited`). Every change is audited.
 */
export async function inhibitRuleRoutes(app: FastifyInstance, { db, audit }: InhibitRuleRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const notFound = (id: number) => ({ error: `inhibit rule ${id} not found` });
  const duplicate = (name: string | null) => ({ error: `an inhibit rule named "${name ?? ''}" already exists` });

  routes.get('/inhibit-rules', { config: { role: 'viewer' }, schema: { response: { 200: z.object({ items: z.array(InhibitRuleView) }) } } }, async () => ({
    items: (await db.selectFrom('inhibit_rules').selectAll().orderBy('id').execute()).map(inhibitRuleView),
  }));

  routes.get(
    '/inhibit-rules/:id',
    { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: InhibitRuleView, ...errors } } },
    async (request, reply) => {
      const row = await db.selectFrom('inhibit_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      return row ? inhibitRuleView(row) : reply.code(404).send(notFound(request.params.id));
    },
  );

  routes.post(
    '/inhibit-rules',
    { config: { role: 'editor' }, schema: { body: InhibitRuleBody, response: { 201: InhibitRuleView, ...errors } } },
    async (request, reply) => {
      try {
        const { row, event } = await db.transaction().execute(async (trx) => {
          const row = await trx
            .insertInto('inhibit_rules')
            .values({ ...rowOf(request.body), created_by: actorOf(request) })
            .returningAll()
            .executeTakeFirstOrThrow();
          return {
            row,
            event: await audit.record(trx, { actor: actorOf(request), entity: 'inhibit_rule', entityId: row.id, action: 'create', changes: request.body }),
          };
        });
        await audit.publish(event, request.id);
        return reply.code(201).send(inhibitRuleView(row));
      } catch (error) {
        if (isUniqueViolation(error)) return reply.code(409).send(duplicate(request.body.name));
        throw error;
      }
    },
  );

  routes.put(
    '/inhibit-rules/:id',
    { config: { role: 'editor' }, schema: { params: IdParams, body: InhibitRuleBody, response: { 200: InhibitRuleView, ...errors } } },
    async (request, reply) => {
      try {
        const result = await db.transaction().execute(async (trx) => {
          const row = await trx
            .updateTable('inhibit_rules')
            .set({ ...rowOf(request.body), updated_at: new Date() })
            .where('id', '=', request.params.id)
            .returningAll()
            .executeTakeFirst();
          return row
            ? {
                row,
                event: await audit.record(trx, { actor: actorOf(request), entity: 'inhibit_rule', entityId: row.id, action: 'update', changes: request.body }),
              }
            : null;
        });
        if (!result) return reply.code(404).send(notFound(request.params.id));
        await audit.publish(result.event, request.id);
        return inhibitRuleView(result.row);
      } catch (error) {
        if (isUniqueViolation(error)) return reply.code(409).send(duplicate(request.body.name));
        throw error;
      }
    },
  );

  routes.delete(
    '/inhibit-rules/:id',
    { config: { role: 'editor' }, schema: { params: IdParams, response: { 204: z.null(), ...errors } } },
    async (request, reply) => {
      const event = await db.transaction().execute(async (trx) => {
        const row = await trx.deleteFrom('inhibit_rules').where('id', '=', request.params.id).returningAll().executeTakeFirst();
        return row
          ? audit.record(trx, { actor: actorOf(request), entity: 'inhibit_rule', entityId: row.id, action: 'delete', changes: inhibitRuleView(row) })
          : null;
      });
      if (!event) return reply.code(404).send(notFound(request.params.id));
      await audit.publish(event, request.id);
      return reply.code(204).send(null);
    },
  );
}
