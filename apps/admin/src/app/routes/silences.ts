import { AlertGroupView, ErrorResponse, IdParams, SilenceBody, SilenceQuery, SilenceView, pageOf } from '@sentryhub/contracts';
import { activeSilences, type AlertGroup, type Database } from '@sentryhub/db';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { pageWithTotal } from '../paging';
import { regexMatchersHold, scanGroups, silenceSql } from '../silence-sql';
import { createSilence, silenceStateAt, silenceView, updateSilence } from '../silences';
import { groupView } from '../views';

export interface SilenceRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
}

const errors = { 400: ErrorResponse, 404: ErrorResponse };

/** The groups a silence mutes now: at most `limit`, newest first; `more` when there are others. */
const SilenceMatchesQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(200) });
const SilenceMatches = z.object({ items: z.array(AlertGroupView), more: z.boolean() });

/** Silences CRUD in Alertmanager's shape, and the groups a silence mutes now (docs/contracts.md §3.4). */
export async function silenceRoutes(app: FastifyInstance, { db, audit }: SilenceRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const notFound = (id: number) => ({ error: `silence ${id} not found` });

  routes.get('/silences', { config: { role: 'viewer' }, schema: { querystring: SilenceQuery, response: { 200: pageOf(SilenceView) } } }, async (request) => {
    const { page, pageSize, state } = request.query;
    const now = new Date();
    let base = db.selectFrom('silences');
    if (state === 'active') base = base.where('starts_at', '<=', now).where('ends_at', '>', now);
    if (state === 'pending') base = base.where('starts_at', '>', now);
    if (state === 'expired') base = base.where('ends_at', '<=', now);
    const { rows, total } = await pageWithTotal(base, base.selectAll().orderBy('ends_at', 'desc').orderBy('id', 'desc'), request.query);
    return { items: rows.map((row) => silenceView(row, now)), total, page, pageSize };
  });

  routes.get(
    '/silences/:id',
    { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: SilenceView, ...errors } } },
    async (request, reply) => {
      const row = await db.selectFrom('silences').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      return row ? silenceView(row, new Date()) : reply.code(404).send(notFound(request.params.id));
    },
  );

  routes.post('/silences', { config: { role: 'editor' }, schema: { body: SilenceBody, response: { 201: SilenceView, ...errors } } }, async (request, reply) => {
    const row = await createSilence({ db, audit, actor: actorOf(request), correlationId: request.id }, request.body);
    return reply.code(201).send(silenceView(row, new Date()));
  });

  routes.put(
    '/silences/:id',
    { config: { role: 'editor' }, schema: { params: IdParams, body: SilenceBody, response: { 200: SilenceView, ...errors } } },
    async (request, reply) => {
      const row = await updateSilence({ db, audit, actor: actorOf(request), correlationId: request.id }, request.params.id, request.body);
      if (!row) return reply.code(404).send(notFound(request.params.id));
      return silenceView(row, new Date());
    },
  );

  routes.delete(
    '/silences/:id',
    { config: { role: 'editor' }, schema: { params: IdParams, response: { 204: z.null(), ...errors } } },
    async (request, reply) => {
      const event = await db.transaction().execute(async (trx) => {
        const row = await trx.deleteFrom('silences').where('id', '=', request.params.id).returningAll().executeTakeFirst();
        return row
          ? audit.record(trx, {
              actor: actorOf(request),
              entity: 'silence',
              entityId: row.id,
              action: 'delete',
              changes: { matchers: row.matchers, comment: row.comment },
            })
          : null;
      });
      if (!event) return reply.code(404).send(notFound(request.params.id));
      await audit.publish(event, request.id);
      return reply.code(204).send(null);
    },
  );

  routes.get(
    '/silences/:id/matches',
    { config: { role: 'viewer' }, schema: { params: IdParams, querystring: SilenceMatchesQuery, response: { 200: SilenceMatches, ...errors } } },
    async (request, reply) => {
      const row = await db.selectFrom('silences').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      if (!row) return reply.code(404).send(notFound(request.params.id));
      const { limit } = request.query;
      const now = new Date();
      const silence = { id: row.id, matchers: row.matchers, startsAt: row.starts_at, endsAt: row.ends_at };
      const silences = await activeSilences(db, now);
      // Only firing groups can be silenced "now"; resolved ones have nothing to mute. Equality
      // matchers are SQL (exact); regex ones (RE2) are checked on one batch of candidates at a time.
      const matching = silenceSql(silence);
      const candidates = db.selectFrom('alert_groups').where('current_status', '=', 'firing').where(matching.where);
      const items: AlertGroup[] = [];
      let more = false;
      if (silenceStateAt(row, now) !== 'active') {
        // A pending or expired silence mutes nothing now.
      } else if (matching.exact) {
        const rows = await candidates
          .selectAll()
          .orderBy('last_occurrence', 'desc')
          .orderBy('id', 'desc')
          .limit(limit + 1)
          .execute();
        more = rows.length > limit;
        items.push(...rows.slice(0, limit));
      } else {
        scan: for await (const batch of scanGroups(candidates)) {
          for (const group of batch) {
            if (!regexMatchersHold(silence, group.labels)) continue;
            if (items.length === limit) {
              more = true;
              break scan;
            }
            items.push(group);
          }
        }
      }
      return { items: items.map((group) => groupView(group, silences, now)), more };
    },
  );
}
