import {
  ErrorResponse,
  escalationProblem,
  GroupPreviewBody,
  GroupPreviewView,
  IdParams,
  PreviewBody,
  PreviewView,
  type AuditEvent,
  type GroupSnapshot,
  type InstanceSnapshot,
  type MatchCriteria,
} from '@sentryhub/contracts';
import { activeSilences, type Database } from '@sentryhub/db';
import { silenceState } from '@sentryhub/rules';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely, Transaction } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { snapshotOf } from '../rule-previews';

/**
 * One module for the routes of every rule kind (Slack, email, webhook): CRUD with the kind's
 * checks, audit rows, a preview against a real alert group (and, where the kind has it, of a
 * rule not saved yet), and a test send. A kind says what differs: its schemas, table and
 * columns, its save-time checks, its preview renderer and its test sender.
 */

export type RuleTable = 'slack_rules' | 'email_rules' | 'webhook_rules';

/** The columns every rule table has. */
export interface RuleRowCommon {
  id: number;
  name: string;
  match_criteria: unknown;
  group_by: string[] | null;
  created_at: Date;
  updated_at: Date;
}

/** What every rule body has. */
export interface RuleBodyCommon {
  name: string;
  matchCriteria: MatchCriteria;
  escalateTo: number | null;
  escalateAfter: string | null;
}

export type Snapshot = { group: GroupSnapshot; instance: InstanceSnapshot };
export type AlertKind = 'firing' | 'resolved';

/** A rule's preview, without the group and kind the module adds. */
export type RenderedPreview = Omit<z.infer<typeof PreviewView>, 'groupId' | 'kind'>;

/** Why a body cannot be saved: the 400 answer (`error` names the field and the problem). */
export interface Refusal {
  error: string;
  issues?: { path: string; message: string }[];
}

export interface TestContext<Row> {
  rule: Row;
  /** The group the request named, or null when it named none. */
  snapshot: Snapshot | null;
  kind: AlertKind | undefined;
  request: FastifyRequest;
  reply: FastifyReply;
  log: FastifyBaseLogger;
  /** The test's audit row (`<entity>.test`), in `trx` when given; publish it after commit. */
  record: (changes: Record<string, unknown>, trx?: Transaction<Database>) => Promise<AuditEvent>;
  publish: (event: AuditEvent) => Promise<void>;
}

export interface RuleKindRoutes<Body extends RuleBodyCommon, Row extends RuleRowCommon, View> {
  /** URL segment under /api/v1: `slack-rules`. */
  path: string;
  table: RuleTable;
  /** The audit entity: `slack_rule`. */
  entity: string;
  /** In "slack rule 3 not found". */
  noun: string;
  /** In "escalateTo: Slack rule 3 not found". */
  title: string;
  /** In 'a Slack rule named "x" already exists'. */
  article: string;
  body: z.ZodType<Body>;
  view: z.ZodType<View>;
  /** The row's own columns for a body (every column but id and timestamps). */
  columns(body: Body): Record<string, unknown>;
  toView(row: Row): View;
  /** The kind's save-time checks (templates, receiver, ...), or null when the body may be saved. */
  refusal(body: Body): Refusal | null;
  /** Renders a rule (stored, or a draft with id 0) for a group as the notifier would. */
  preview(rule: Row, snapshot: Snapshot, kind: AlertKind): RenderedPreview;
  /**
   * A grouped rule's messages for several groups, as its notifier's group flush would make them
   * (one per group key); called for a rule with `groupBy` only. Absent: the kind has no grouped preview.
   */
  groupPreview?(rule: Row & { group_by: string[] }, snapshots: Snapshot[], kind: AlertKind | undefined): z.infer<typeof GroupPreviewView>;
  /** Whether `POST /<path>/preview` previews a rule not saved yet (the console's live preview). */
  draftPreview: boolean;
  test: {
    /** Answers of the test route by status code (4xx error answers are added). */
    response: Record<number, z.ZodType>;
    send(context: TestContext<Row>): Promise<FastifyReply>;
  };
}

export interface RuleRoutesDeps {
  db: Kysely<Database>;
  audit: AuditTrail;
}

const UNIQUE_VIOLATION = '23505';
const errors = { 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

const isUniqueViolation = (error: unknown) => (error as { code?: string }).code === UNIQUE_VIOLATION;

/** The template problems of a body as the 400 answer: the first one in `error`, all in `issues`. */
export function templateRefusal(problems: { path: string; message: string }[], what = 'invalid template'): Refusal | null {
  const [first] = problems;
  return first ? { error: `${what}: ${first.path}: ${first.message}`, issues: problems } : null;
}

/** The group and its latest episode, as a notifier would see them. */
export async function snapshotFor(db: Kysely<Database>, groupId: number): Promise<Snapshot | null> {
  const group = await db.selectFrom('alert_groups').selectAll().where('id', '=', groupId).executeTakeFirst();
  if (!group) return null;
  const instance = await db.selectFrom('alert_instances').selectAll().where('group_id', '=', groupId).orderBy('starts_at', 'desc').limit(1).executeTakeFirst();
  const now = new Date();
  return snapshotOf(group, instance, silenceState(await activeSilences(db, now), group.labels, now));
}

/** Registers the routes of one rule kind on `app` (under its /api/v1 prefix). */
export function registerRuleKind<Body extends RuleBodyCommon, Row extends RuleRowCommon, View>(
  app: FastifyInstance,
  { db, audit }: RuleRoutesDeps,
  kind: RuleKindRoutes<Body, Row, View>,
): void {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const base = `/${kind.path}`;
  // Kysely types each table's rows; the tables of every kind share the columns used here, so the
  // queries are written once against one of them and the rows typed as the kind's.
  const table = kind.table as 'slack_rules';
  const find = async (id: number) => (await db.selectFrom(table).selectAll().where('id', '=', id).executeTakeFirst()) as Row | undefined;
  const row = (body: Body) => kind.columns(body) as never;
  const notFound = (id: number) => ({ error: `${kind.noun} ${id} not found` });
  const duplicate = (name: string) => ({ error: `${kind.article} named "${name}" already exists` });
  const groupNotFound = (id: number) => ({ error: `alert group ${id} not found` });
  // The schemas validate and serialize; the handlers type the kind's bodies and views themselves.
  const bodySchema = kind.body as z.ZodType<unknown>;
  const viewSchema = kind.view as z.ZodType<unknown>;

  /** The kind's checks, then escalation: both fields or neither, naming another existing rule of the kind. */
  async function refusalOf(body: Body, id: number | undefined): Promise<Refusal | null> {
    const refused = kind.refusal(body);
    if (refused) return refused;
    const problem = escalationProblem({ escalateTo: body.escalateTo, escalateAfter: body.escalateAfter, ...(id === undefined ? {} : { id }) });
    if (problem) return { error: problem };
    if (body.escalateTo === null) return null;
    return (await find(body.escalateTo)) ? null : { error: `escalateTo: ${kind.title} ${body.escalateTo} not found` };
  }

  const previewOf = (rule: Row, snapshot: Snapshot, requested: AlertKind | undefined) => {
    const alertKind = requested ?? snapshot.group.status;
    return { groupId: snapshot.group.id, kind: alertKind, ...kind.preview(rule, snapshot, alertKind) };
  };

  routes.get(base, { config: { role: 'viewer' }, schema: { response: { 200: z.object({ items: z.array(viewSchema) }) } } }, async () => ({
    items: ((await db.selectFrom(table).selectAll().orderBy('priority', 'desc').orderBy('name').execute()) as Row[]).map(kind.toView),
  }));

  routes.get(`${base}/:id`, { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: viewSchema, ...errors } } }, async (request, reply) => {
    const found = await find(request.params.id);
    return found ? kind.toView(found) : reply.code(404).send(notFound(request.params.id));
  });

  routes.post(base, { config: { role: 'editor' }, schema: { body: bodySchema, response: { 201: viewSchema, ...errors } } }, async (request, reply) => {
    const body = request.body as Body;
    const refused = await refusalOf(body, undefined);
    if (refused) return reply.code(400).send(refused);
    try {
      const created = await db.transaction().execute(async (trx) => {
        const stored = (await trx.insertInto(table).values(row(body)).returningAll().executeTakeFirstOrThrow()) as Row;
        return {
          stored,
          event: await audit.record(trx, {
            actor: actorOf(request),
            entity: kind.entity,
            entityId: stored.id,
            action: 'create',
            changes: body as Record<string, unknown>,
          }),
        };
      });
      await audit.publish(created.event, request.id);
      return reply.code(201).send(kind.toView(created.stored));
    } catch (error) {
      if (isUniqueViolation(error)) return reply.code(409).send(duplicate(body.name));
      throw error;
    }
  });

  routes.put(
    `${base}/:id`,
    { config: { role: 'editor' }, schema: { params: IdParams, body: bodySchema, response: { 200: viewSchema, ...errors } } },
    async (request, reply) => {
      const body = request.body as Body;
      const refused = await refusalOf(body, request.params.id);
      if (refused) return reply.code(400).send(refused);
      try {
        const result = await db.transaction().execute(async (trx) => {
          const stored = (await trx
            .updateTable(table)
            .set({ ...(row(body) as object), updated_at: new Date() })
            .where('id', '=', request.params.id)
            .returningAll()
            .executeTakeFirst()) as Row | undefined;
          return stored
            ? {
                stored,
                event: await audit.record(trx, {
                  actor: actorOf(request),
                  entity: kind.entity,
                  entityId: stored.id,
                  action: 'update',
                  changes: body as Record<string, unknown>,
                }),
              }
            : null;
        });
        if (!result) return reply.code(404).send(notFound(request.params.id));
        await audit.publish(result.event, request.id);
        return kind.toView(result.stored);
      } catch (error) {
        if (isUniqueViolation(error)) return reply.code(409).send(duplicate(body.name));
        throw error;
      }
    },
  );

  routes.delete(`${base}/:id`, { config: { role: 'editor' }, schema: { params: IdParams, response: { 204: z.null(), ...errors } } }, async (request, reply) => {
    const event = await db.transaction().execute(async (trx) => {
      const deleted = (await trx.deleteFrom(table).where('id', '=', request.params.id).returningAll().executeTakeFirst()) as Row | undefined;
      return deleted
        ? audit.record(trx, {
            actor: actorOf(request),
            entity: kind.entity,
            entityId: deleted.id,
            action: 'delete',
            changes: kind.toView(deleted) as Record<string, unknown>,
          })
        : null;
    });
    if (!event) return reply.code(404).send(notFound(request.params.id));
    await audit.publish(event, request.id);
    return reply.code(204).send(null);
  });

  routes.post(
    `${base}/:id/preview`,
    { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody, response: { 200: PreviewView, ...errors } } },
    async (request, reply) => {
      const rule = await find(request.params.id);
      if (!rule) return reply.code(404).send(notFound(request.params.id));
      const snapshot = await snapshotFor(db, request.body.groupId);
      if (!snapshot) return reply.code(404).send(groupNotFound(request.body.groupId));
      return previewOf(rule, snapshot, request.body.kind);
    },
  );

  const groupPreview = kind.groupPreview;
  if (groupPreview) {
    // Several alert groups in one grouped message (the console's preview of a grouped rule).
    routes.post(
      `${base}/:id/group-preview`,
      { config: { role: 'editor' }, schema: { params: IdParams, body: GroupPreviewBody, response: { 200: GroupPreviewView, ...errors } } },
      async (request, reply) => {
        const rule = await find(request.params.id);
        if (!rule) return reply.code(404).send(notFound(request.params.id));
        const groupBy = rule.group_by;
        if (!groupBy) return reply.code(400).send({ error: `${kind.noun} ${rule.id} has no groupBy: each alert is its own message (use /preview)` });
        const snapshots: Snapshot[] = [];
        for (const groupId of new Set(request.body.groupIds)) {
          const snapshot = await snapshotFor(db, groupId);
          if (!snapshot) return reply.code(404).send(groupNotFound(groupId));
          snapshots.push(snapshot);
        }
        return groupPreview({ ...rule, group_by: groupBy }, snapshots, request.body.kind);
      },
    );
  }

  if (kind.draftPreview) {
    // A rule being edited, not saved yet: the console's live preview.
    const DraftPreview = z.object({ rule: bodySchema, groupId: z.number().int().positive(), kind: z.enum(['firing', 'resolved']).optional() });
    routes.post(
      `${base}/preview`,
      { config: { role: 'editor' }, schema: { body: DraftPreview, response: { 200: PreviewView, ...errors } } },
      async (request, reply) => {
        const body = request.body.rule as Body;
        const refused = kind.refusal(body);
        if (refused) return reply.code(400).send(refused);
        const snapshot = await snapshotFor(db, request.body.groupId);
        if (!snapshot) return reply.code(404).send(groupNotFound(request.body.groupId));
        const draft = { ...kind.columns(body), id: 0, match_criteria: body.matchCriteria, created_at: new Date(), updated_at: new Date() } as unknown as Row;
        return previewOf(draft, snapshot, request.body.kind);
      },
    );
  }

  routes.post(
    `${base}/:id/test`,
    { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody.partial().optional(), response: { ...kind.test.response, ...errors } } },
    async (request, reply) => {
      const rule = await find(request.params.id);
      if (!rule) return reply.code(404).send(notFound(request.params.id));
      const groupId = request.body?.groupId;
      const snapshot = groupId ? await snapshotFor(db, groupId) : null;
      if (groupId && !snapshot) return reply.code(404).send(groupNotFound(groupId));
      const record = (changes: Record<string, unknown>, trx?: Transaction<Database>) =>
        audit.record(trx ?? db, { actor: actorOf(request), entity: kind.entity, entityId: rule.id, action: 'test', changes });
      const publish = (event: AuditEvent) => audit.publish(event, request.id);
      return kind.test.send({ rule, snapshot, kind: request.body?.kind, request, reply, log: request.log, record, publish });
    },
  );
}
