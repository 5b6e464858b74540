import {
  AuditLogQuery,
  AuditLogView,
  EmailQueueQuery,
  EmailQueueView,
  ErrorResponse,
  IdParams,
  NotificationQuery,
  NotificationView,
  pageOf,
} from '@sentryhub/contracts';
import { anyId, type Database } from '@sentryhub/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { pageWithTotal } from '../paging';
import { notificationView } from '../views';

export interface LogRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
}

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/** What was sent and what was done: notifications, the email queue (with requeue), the audit log. */
export async function logRoutes(app: FastifyInstance, { db, audit }: LogRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/notifications',
    { config: { role: 'viewer' }, schema: { querystring: NotificationQuery, response: { 200: pageOf(NotificationView) } } },
    async (request) => {
      const { page, pageSize, status, channel, groupId, deliveredVia } = request.query;
      let base = db.selectFrom('notifications');
      if (deliveredVia) base = base.where('delivered_via', '=', deliveredVia);
      if (status) base = base.where('status', '=', status);
      if (channel) base = base.where('channel', '=', channel);
      if (groupId) base = base.where('group_id', '=', groupId);
      const { rows, total } = await pageWithTotal(base, base.selectAll().orderBy('id', 'desc'), request.query);
      return { items: rows.map(notificationView), total, page, pageSize };
    },
  );

  routes.get(
    '/email-queue',
    { config: { role: 'viewer' }, schema: { querystring: EmailQueueQuery, response: { 200: pageOf(EmailQueueView) } } },
    async (request) => {
      const { page, pageSize, status } = request.query;
      let base = db.selectFrom('email_queue');
      if (status) base = base.where('status', '=', status);
      const { rows, total } = await pageWithTotal(base, base.selectAll().orderBy('id', 'desc'), request.query);
      return {
        items: rows.map((row) => ({
          id: row.id,
          ruleId: row.rule_id,
          groupId: row.group_id,
          kind: row.kind,
          recipients: row.recipients,
          subject: row.subject,
          status: row.status,
          attempts: row.attempts,
          lastError: row.last_error,
          inhibitedByGroupId: row.inhibited_by_group_id,
          createdAt: row.created_at.toISOString(),
          updatedAt: row.updated_at.toISOString(),
          sentAt: iso(row.sent_at),
        })),
        total,
        page,
        pageSize,
      };
    },
  );

  routes.post(
    '/email-queue/:id/requeue',
    {
      config: { role: 'editor' },
      schema: { params: IdParams, response: { 202: EmailQueueView.pick({ id: true, status: true }), 404: ErrorResponse, 409: ErrorResponse } },
    },
    async (request, reply) => {
      const { id } = request.params;
      const outcome = await db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('email_queue').select(['id', 'status']).where('id', '=', id).forUpdate().executeTakeFirst();
        if (!row) return { status: 404 as const, error: `email ${id} not found` };
        if (row.status !== 'failed') return { status: 409 as const, error: `only failed emails can be requeued; this one is ${row.status}` };
        // A requeued email gets its attempts back and is due at once; the sender picks it up.
        await trx
          .updateTable('email_queue')
          .set({ status: 'pending', attempts: 0, last_error: null, next_attempt_at: new Date(), updated_at: new Date() })
          .where('id', '=', id)
          .execute();
        return { status: 202 as const, event: await audit.record(trx, { actor: actorOf(request), entity: 'email_queue', entityId: id, action: 'requeue' }) };
      });
      if (outcome.status !== 202) return reply.code(outcome.status).send({ error: outcome.error });
      await audit.publish(outcome.event, request.id);
      return reply.code(202).send({ id, status: 'pending' as const });
    },
  );

  routes.post(
    '/email-queue/requeue',
    {
      config: { role: 'editor' },
      schema: {
        body: z.object({ ids: z.array(z.number().int().positive()).min(1, 'name at least one email').max(1_000) }),
        response: { 202: z.object({ requeued: z.array(z.number().int()) }), 400: ErrorResponse },
      },
    },
    async (request, reply) => {
      const { requeued, event } = await db.transaction().execute(async (trx) => {
        const rows = await trx
          .updateTable('email_queue')
          .set({ status: 'pending', attempts: 0, last_error: null, next_attempt_at: new Date(), updated_at: new Date() })
          .where('id', '=', anyId(request.body.ids))
          .where('status', '=', 'failed')
          .returning('id')
          .execute();
        const ids = rows.map((row) => row.id);
        return {
          requeued: ids,
          event: await audit.record(trx, { actor: actorOf(request), entity: 'email_queue', entityId: null, action: 'requeue', changes: { ids } }),
        };
      });
      await audit.publish(event, request.id);
      return reply.code(202).send({ requeued });
    },
  );

  routes.get(
    '/audit-log',
    { config: { role: 'viewer' }, schema: { querystring: AuditLogQuery, response: { 200: pageOf(AuditLogView), 400: ErrorResponse } } },
    async (request) => {
      const { page, pageSize, entity, actor, entityId } = request.query;
      let base = db.selectFrom('audit_log');
      if (entity) base = base.where('entity', '=', entity);
      if (actor) base = base.where('actor', '=', actor);
      if (entityId) base = base.where('entity_id', '=', entityId);
      const { rows, total } = await pageWithTotal(base, base.selectAll().orderBy('id', 'desc'), request.query);
      return {
        items: rows.map((row) => ({
          id: row.id,
          eventId: row.event_id,
          actor: row.actor,
          entity: row.entity,
          entityId: row.entity_id,
          action: row.action,
          changes: row.changes,
          at: row.at.toISOString(),
        })),
        total,
        page,
        pageSize,
      };
    },
  );
}
