import { resolveGroupManually } from '@sentryhub/alert-state';
import {
  AcknowledgeBody,
  AlertGroupDetail,
  AlertGroupQuery,
  AlertGroupView,
  CommentBody,
  CommentView,
  ErrorResponse,
  IdParams,
  ResolveBody,
  pageOf,
} from '@sentryhub/contracts';
import { activeSilences, type AlertGroup, type Database } from '@sentryhub/db';
import { silenceState } from '@sentryhub/rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { sql, type Kysely, type SqlBool } from 'kysely';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { pageWithTotal } from '../paging';
import { scanGroups, silencedSql } from '../silence-sql';
import { alertNotifications } from '../alert-notifications';
import { groupView, instanceView } from '../views';

export interface AlertGroupRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
}

/** Filtering by a silence with regex matchers scans the candidates (a batch at a time); beyond this many we refuse. */
const SILENCE_FILTER_LIMIT = 20_000;

const errors = { 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

/** Why a manual resolve was refused, as an HTTP status. */
const RESOLVE_REFUSED = { 'not-found': 404, 'nothing-open': 409, 'before-start': 400 } as const;

/** Alert groups: list with filters, detail with history, acknowledge, comment, resolve (docs/contracts.md §3.4). */
export async function alertGroupRoutes(app: FastifyInstance, { db, audit }: AlertGroupRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/alert-groups',
    { config: { role: 'viewer' }, schema: { querystring: AlertGroupQuery, response: { 200: pageOf(AlertGroupView), 400: ErrorResponse } } },
    async (request, reply) => {
      const query = request.query;
      const now = new Date();
      let base = db.selectFrom('alert_groups');
      if (query.status) base = base.where('current_status', '=', query.status);
      if (query.severity) base = base.where('severity', '=', query.severity);
      if (query.acknowledged !== undefined) base = base.where('acknowledged', '=', query.acknowledged);
      for (const label of query.label) base = base.where(sql<boolean>`labels @> ${JSON.stringify({ [label.name]: label.value })}::jsonb`);
      if (query.q) {
        const like = `%${query.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        base = base.where((eb) => eb.or([eb('name', 'ilike', like), eb('fingerprint', '=', query.q ?? ''), eb(sql<string>`labels::text`, 'ilike', like)]));
      }
      const silences = await activeSilences(db, now);
      const page = ({ rows, total }: { rows: AlertGroup[]; total: number }) => ({
        items: rows.map((row) => groupView(row, silences, now)),
        total,
        page: query.page,
        pageSize: query.pageSize,
      });
      const listed = (filtered: typeof base) => pageWithTotal(filtered, filtered.selectAll().orderBy('last_occurrence', 'desc').orderBy('id', 'desc'), query);
      if (query.silenced === undefined) return page(await listed(base));
      // Silence state is evaluated now, not stored: in SQL when every active silence is made of
      // equality matchers (exact), else SQL narrows and the regexes are checked batch by batch.
      const silenced = silencedSql(silences);
      if (silenced.exact) {
        return page(await listed(base.where(query.silenced ? silenced.where : sql<SqlBool>`not ${silenced.where}`)));
      }
      const candidates = query.silenced ? base.where(silenced.where) : base;
      const { n } = await candidates.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      if (Number(n) > SILENCE_FILTER_LIMIT)
        return reply.code(400).send({ error: `too many groups to filter by a regex silence (over ${SILENCE_FILTER_LIMIT}): add another filter` });
      const offset = (query.page - 1) * query.pageSize;
      const items: AlertGroup[] = [];
      let total = 0;
      for await (const batch of scanGroups(candidates)) {
        for (const row of batch) {
          if (silenceState(silences, row.labels, now).silenced !== query.silenced) continue;
          if (total >= offset && items.length < query.pageSize) items.push(row);
          total++;
        }
      }
      return page({ rows: items, total });
    },
  );

  routes.get(
    '/alert-groups/:id',
    { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: AlertGroupDetail, ...errors } } },
    async (request, reply) => {
      const { id } = request.params;
      const group = await db.selectFrom('alert_groups').selectAll().where('id', '=', id).executeTakeFirst();
      if (!group) return reply.code(404).send({ error: `alert group ${id} not found` });
      const now = new Date();
      const [instances, comments, acknowledgements, notifications, silences] = await Promise.all([
        db.selectFrom('alert_instances').selectAll().where('group_id', '=', id).orderBy('starts_at', 'desc').limit(200).execute(),
        db.selectFrom('alert_comments').selectAll().where('group_id', '=', id).orderBy('created_at', 'desc').limit(200).execute(),
        db.selectFrom('alert_acknowledgements').selectAll().where('group_id', '=', id).orderBy('created_at', 'desc').limit(200).execute(),
        alertNotifications(db, id),
        activeSilences(db, now),
      ]);
      return {
        ...groupView(group, silences, now),
        instances: instances.map(instanceView),
        comments: comments.map((c) => ({ id: c.id, author: c.author, body: c.body, createdAt: c.created_at.toISOString() })),
        acknowledgements: acknowledgements.map((a) => ({
          id: a.id,
          action: a.action,
          actor: a.actor,
          comment: a.comment,
          createdAt: a.created_at.toISOString(),
        })),
        notifications,
      };
    },
  );

  for (const action of ['acknowledge', 'unacknowledge'] as const) {
    routes.post(
      `/alert-groups/:id/${action}`,
      { config: { role: 'editor' }, schema: { params: IdParams, body: AcknowledgeBody.optional(), response: { 200: AlertGroupView, ...errors } } },
      async (request, reply) => {
        const { id } = request.params;
        const actor = actorOf(request);
        const comment = request.body?.comment ?? null;
        const result = await db.transaction().execute(async (trx) => {
          const row = await trx
            .updateTable('alert_groups')
            .set(
              action === 'acknowledge'
                ? { acknowledged: true, acknowledged_by: actor, acknowledged_at: new Date() }
                : { acknowledged: false, acknowledged_by: null, acknowledged_at: null },
            )
            .where('id', '=', id)
            .returningAll()
            .executeTakeFirst();
          if (!row) return null;
          await trx.insertInto('alert_acknowledgements').values({ group_id: id, action, actor, comment }).execute();
          const event = await audit.record(trx, { actor, entity: 'alert_group', entityId: id, action, changes: { comment } });
          return { row, event };
        });
        if (!result) return reply.code(404).send({ error: `alert group ${id} not found` });
        await audit.publish(result.event, request.id);
        const now = new Date();
        return groupView(result.row, await activeSilences(db, now), now);
      },
    );
  }

  routes.post(
    '/alert-groups/:id/comments',
    { config: { role: 'editor' }, schema: { params: IdParams, body: CommentBody, response: { 201: CommentView, ...errors } } },
    async (request, reply) => {
      const { id } = request.params;
      const actor = actorOf(request);
      const result = await db.transaction().execute(async (trx) => {
        const exists = await trx.selectFrom('alert_groups').select('id').where('id', '=', id).executeTakeFirst();
        if (!exists) return null;
        const row = await trx
          .insertInto('alert_comments')
          .values({ group_id: id, author: actor, body: request.body.body })
          .returningAll()
          .executeTakeFirstOrThrow();
        const event = await audit.record(trx, { actor, entity: 'alert_group', entityId: id, action: 'comment', changes: { commentId: row.id } });
        return { row, event };
      });
      if (!result) return reply.code(404).send({ error: `alert group ${id} not found` });
      await audit.publish(result.event, request.id);
      return reply.code(201).send({ id: result.row.id, author: result.row.author, body: result.row.body, createdAt: result.row.created_at.toISOString() });
    },
  );

  routes.post(
    '/alert-groups/:id/resolve',
    { config: { role: 'editor' }, schema: { params: IdParams, body: ResolveBody.optional(), response: { 200: AlertGroupView, ...errors } } },
    async (request, reply) => {
      const { id } = request.params;
      const actor = actorOf(request);
      const at = request.body?.at ? new Date(request.body.at) : new Date();
      const now = new Date();
      const silences = await activeSilences(db, now);
      const outcome = await db.transaction().execute(async (trx) => {
        // The processor's own state writing (libs/alert-state): the same lock as a batch, the
        // state machine, and the outbox through which the notifiers learn of it.
        const resolved = await resolveGroupManually(trx, { groupId: id, at, correlationId: request.id, silences, now });
        if (resolved.status !== 'resolved') return { status: RESOLVE_REFUSED[resolved.status], error: resolved.error };
        if (request.body?.comment) await trx.insertInto('alert_comments').values({ group_id: id, author: actor, body: request.body.comment }).execute();
        const event = await audit.record(trx, {
          actor,
          entity: 'alert_group',
          entityId: id,
          action: 'resolve',
          changes: { at: at.toISOString(), instances: resolved.closed },
        });
        return { status: 200 as const, view: groupView(resolved.group, silences, now), event };
      });
      if (outcome.status !== 200) return reply.code(outcome.status).send({ error: outcome.error });
      await audit.publish(outcome.event, request.id);
      return outcome.view;
    },
  );
}
