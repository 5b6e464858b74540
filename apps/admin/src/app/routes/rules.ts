import { EmailRuleBody, EmailRuleView, ErrorResponse, escalationProblem, IdParams, PreviewBody, PreviewView, SlackRuleBody, SlackRuleView } from '@sentryhub/contracts';
import { activeSilences, type Database } from '@sentryhub/db';
import { silenceState } from '@sentryhub/rules';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { actorOf } from '../auth';
import { emailTemplates, renderEmail, renderSlack, slackTemplates, snapshotOf, templateProblems } from '../rule-kinds';
import type { SlackTester } from '../slack-test';
import { emailRuleView, slackRuleView } from '../views';

export interface RuleRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
  slack: SlackTester;
  defaultChannel: string;
}

const UNIQUE_VIOLATION = '23505';
const errors = { 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse };

function invalidTemplates(reply: FastifyReply, problems: { path: string; message: string }[]) {
  return reply.code(400).send({ error: `invalid template: ${problems[0]?.path}: ${problems[0]?.message}`, issues: problems });
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string }).code === UNIQUE_VIOLATION;
}

/** Slack and email rules: CRUD with template validation, preview against a real group, test send. */
export async function ruleRoutes(app: FastifyInstance, { db, audit, slack, defaultChannel }: RuleRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  /** Why a rule's escalation cannot be saved (both fields or neither; another existing rule of the same kind), or null. */
  async function escalationRefusal(table: 'slack_rules' | 'email_rules', body: { escalateTo: number | null; escalateAfter: string | null }, id: number | undefined): Promise<string | null> {
    const problem = escalationProblem({ ...body, ...(id === undefined ? {} : { id }) });
    if (problem || body.escalateTo === null) return problem;
    const target = await db.selectFrom(table).select('id').where('id', '=', body.escalateTo).executeTakeFirst();
    return target ? null : `escalateTo: ${table === 'slack_rules' ? 'Slack' : 'email'} rule ${body.escalateTo} not found`;
  }

  /** The group and its latest episode, as a notifier would see them. */
  async function snapshotFor(groupId: number) {
    const group = await db.selectFrom('alert_groups').selectAll().where('id', '=', groupId).executeTakeFirst();
    if (!group) return null;
    const instance = await db.selectFrom('alert_instances').selectAll().where('group_id', '=', groupId).orderBy('starts_at', 'desc').limit(1).executeTakeFirst();
    const now = new Date();
    return snapshotOf(group, instance, silenceState(await activeSilences(db, now), group.labels, now));
  }

  // ---- Slack rules ----
  const slackRow = (body: SlackRuleBody) => ({
    name: body.name,
    is_active: body.isActive,
    priority: body.priority,
    match_criteria: JSON.stringify(body.matchCriteria),
    send_resolved: body.sendResolved,
    continue: body.continue,
    repeat_interval: body.repeatInterval,
    escalate_to: body.escalateTo,
    escalate_after: body.escalateAfter,
    slack_channel: body.slackChannel,
    message_template: body.messageTemplate,
    resolved_message_template: body.resolvedMessageTemplate,
    replace_ip_addresses: body.replaceIpAddresses,
  });

  routes.get('/slack-rules', { config: { role: 'viewer' }, schema: { response: { 200: z.object({ items: z.array(SlackRuleView) }) } } }, async () => ({
    items: (await db.selectFrom('slack_rules').selectAll().orderBy('priority', 'desc').orderBy('name').execute()).map(slackRuleView),
  }));

  routes.get('/slack-rules/:id', { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: SlackRuleView, ...errors } } }, async (request, reply) => {
    const row = await db.selectFrom('slack_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
    return row ? slackRuleView(row) : reply.code(404).send({ error: `slack rule ${request.params.id} not found` });
  });

  routes.post('/slack-rules', { config: { role: 'editor' }, schema: { body: SlackRuleBody, response: { 201: SlackRuleView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(slackTemplates(request.body));
    if (problems.length) return invalidTemplates(reply, problems);
    const escalation = await escalationRefusal('slack_rules', request.body, undefined);
    if (escalation) return reply.code(400).send({ error: escalation });
    try {
      const { row, event } = await db.transaction().execute(async (trx) => {
        const row = await trx.insertInto('slack_rules').values(slackRow(request.body)).returningAll().executeTakeFirstOrThrow();
        return { row, event: await audit.record(trx, { actor: actorOf(request), entity: 'slack_rule', entityId: row.id, action: 'create', changes: request.body }) };
      });
      await audit.publish(event, request.id);
      return reply.code(201).send(slackRuleView(row));
    } catch (error) {
      if (isUniqueViolation(error)) return reply.code(409).send({ error: `a Slack rule named "${request.body.name}" already exists` });
      throw error;
    }
  });

  routes.put('/slack-rules/:id', { config: { role: 'editor' }, schema: { params: IdParams, body: SlackRuleBody, response: { 200: SlackRuleView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(slackTemplates(request.body));
    if (problems.length) return invalidTemplates(reply, problems);
    const escalation = await escalationRefusal('slack_rules', request.body, request.params.id);
    if (escalation) return reply.code(400).send({ error: escalation });
    try {
      const result = await db.transaction().execute(async (trx) => {
        const row = await trx.updateTable('slack_rules').set({ ...slackRow(request.body), updated_at: new Date() }).where('id', '=', request.params.id).returningAll().executeTakeFirst();
        return row ? { row, event: await audit.record(trx, { actor: actorOf(request), entity: 'slack_rule', entityId: row.id, action: 'update', changes: request.body }) } : null;
      });
      if (!result) return reply.code(404).send({ error: `slack rule ${request.params.id} not found` });
      await audit.publish(result.event, request.id);
      return slackRuleView(result.row);
    } catch (error) {
      if (isUniqueViolation(error)) return reply.code(409).send({ error: `a Slack rule named "${request.body.name}" already exists` });
      throw error;
    }
  });

  routes.delete('/slack-rules/:id', { config: { role: 'editor' }, schema: { params: IdParams, response: { 204: z.null(), ...errors } } }, async (request, reply) => {
    const event = await db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('slack_rules').where('id', '=', request.params.id).returningAll().executeTakeFirst();
      return row ? audit.record(trx, { actor: actorOf(request), entity: 'slack_rule', entityId: row.id, action: 'delete', changes: slackRuleView(row) }) : null;
    });
    if (!event) return reply.code(404).send({ error: `slack rule ${request.params.id} not found` });
    await audit.publish(event, request.id);
    return reply.code(204).send(null);
  });

  routes.post('/slack-rules/:id/preview', { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody, response: { 200: PreviewView, ...errors } } }, async (request, reply) => {
    const rule = await db.selectFrom('slack_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
    if (!rule) return reply.code(404).send({ error: `slack rule ${request.params.id} not found` });
    const snapshot = await snapshotFor(request.body.groupId);
    if (!snapshot) return reply.code(404).send({ error: `alert group ${request.body.groupId} not found` });
    const kind = request.body.kind ?? snapshot.group.status;
    const message = renderSlack(rule, snapshot, kind, defaultChannel);
    return { groupId: snapshot.group.id, kind, text: message.text, failed: message.templateError !== null, ...(message.templateError ? { error: message.templateError } : {}), channel: message.channel };
  });

  // A rule being edited, not saved yet: the console's live preview.
  routes.post('/slack-rules/preview', { config: { role: 'editor' }, schema: { body: z.object({ rule: SlackRuleBody, groupId: z.number().int().positive(), kind: z.enum(['firing', 'resolved']).optional() }), response: { 200: PreviewView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(slackTemplates(request.body.rule));
    if (problems.length) return invalidTemplates(reply, problems);
    const snapshot = await snapshotFor(request.body.groupId);
    if (!snapshot) return reply.code(404).send({ error: `alert group ${request.body.groupId} not found` });
    const rule = { ...slackRow(request.body.rule), id: 0, match_criteria: request.body.rule.matchCriteria, created_at: new Date(), updated_at: new Date() };
    const kind = request.body.kind ?? snapshot.group.status;
    const message = renderSlack(rule, snapshot, kind, defaultChannel);
    return { groupId: snapshot.group.id, kind, text: message.text, failed: message.templateError !== null, ...(message.templateError ? { error: message.templateError } : {}), channel: message.channel };
  });

  routes.post(
    '/slack-rules/:id/test',
    { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody.partial().optional(), response: { 200: z.object({ channel: z.string(), text: z.string(), delivered: z.enum(['slack', 'sink']) }), 502: ErrorResponse, ...errors } } },
    async (request, reply) => {
      const rule = await db.selectFrom('slack_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      if (!rule) return reply.code(404).send({ error: `slack rule ${request.params.id} not found` });
      const groupId = request.body?.groupId;
      const snapshot = groupId ? await snapshotFor(groupId) : null;
      if (groupId && !snapshot) return reply.code(404).send({ error: `alert group ${groupId} not found` });
      const message = snapshot ? renderSlack(rule, snapshot, request.body?.kind ?? snapshot.group.status, defaultChannel) : null;
      const channel = message?.channel ?? rule.slack_channel ?? defaultChannel;
      const text = `[test of rule "${rule.name}"] ${message?.text ?? 'SentryHub test message'}`;
      const result = await slack.send(channel, text, request.log);
      if (!result.ok) return reply.code(502).send({ error: `Slack did not accept the test message: ${result.error}` });
      const event = await audit.record(db, { actor: actorOf(request), entity: 'slack_rule', entityId: rule.id, action: 'test', changes: { channel } });
      await audit.publish(event, request.id);
      return { channel, text, delivered: result.via };
    },
  );

  // ---- Email rules ----
  const emailRow = (body: EmailRuleBody) => ({
    name: body.name,
    is_active: body.isActive,
    priority: body.priority,
    match_criteria: JSON.stringify(body.matchCriteria),
    send_resolved: body.sendResolved,
    continue: body.continue,
    repeat_interval: body.repeatInterval,
    escalate_to: body.escalateTo,
    escalate_after: body.escalateAfter,
    recipients: body.recipients,
    subject_template: body.subjectTemplate,
    body_template: body.bodyTemplate,
  });

  routes.get('/email-rules', { config: { role: 'viewer' }, schema: { response: { 200: z.object({ items: z.array(EmailRuleView) }) } } }, async () => ({
    items: (await db.selectFrom('email_rules').selectAll().orderBy('priority', 'desc').orderBy('name').execute()).map(emailRuleView),
  }));

  routes.get('/email-rules/:id', { config: { role: 'viewer' }, schema: { params: IdParams, response: { 200: EmailRuleView, ...errors } } }, async (request, reply) => {
    const row = await db.selectFrom('email_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
    return row ? emailRuleView(row) : reply.code(404).send({ error: `email rule ${request.params.id} not found` });
  });

  routes.post('/email-rules', { config: { role: 'editor' }, schema: { body: EmailRuleBody, response: { 201: EmailRuleView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(emailTemplates(request.body));
    if (problems.length) return invalidTemplates(reply, problems);
    const escalation = await escalationRefusal('email_rules', request.body, undefined);
    if (escalation) return reply.code(400).send({ error: escalation });
    try {
      const { row, event } = await db.transaction().execute(async (trx) => {
        const row = await trx.insertInto('email_rules').values(emailRow(request.body)).returningAll().executeTakeFirstOrThrow();
        return { row, event: await audit.record(trx, { actor: actorOf(request), entity: 'email_rule', entityId: row.id, action: 'create', changes: request.body }) };
      });
      await audit.publish(event, request.id);
      return reply.code(201).send(emailRuleView(row));
    } catch (error) {
      if (isUniqueViolation(error)) return reply.code(409).send({ error: `an email rule named "${request.body.name}" already exists` });
      throw error;
    }
  });

  routes.put('/email-rules/:id', { config: { role: 'editor' }, schema: { params: IdParams, body: EmailRuleBody, response: { 200: EmailRuleView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(emailTemplates(request.body));
    if (problems.length) return invalidTemplates(reply, problems);
    const escalation = await escalationRefusal('email_rules', request.body, request.params.id);
    if (escalation) return reply.code(400).send({ error: escalation });
    try {
      const result = await db.transaction().execute(async (trx) => {
        const row = await trx.updateTable('email_rules').set({ ...emailRow(request.body), updated_at: new Date() }).where('id', '=', request.params.id).returningAll().executeTakeFirst();
        return row ? { row, event: await audit.record(trx, { actor: actorOf(request), entity: 'email_rule', entityId: row.id, action: 'update', changes: request.body }) } : null;
      });
      if (!result) return reply.code(404).send({ error: `email rule ${request.params.id} not found` });
      await audit.publish(result.event, request.id);
      return emailRuleView(result.row);
    } catch (error) {
      if (isUniqueViolation(error)) return reply.code(409).send({ error: `an email rule named "${request.body.name}" already exists` });
      throw error;
    }
  });

  routes.delete('/email-rules/:id', { config: { role: 'editor' }, schema: { params: IdParams, response: { 204: z.null(), ...errors } } }, async (request, reply) => {
    const event = await db.transaction().execute(async (trx) => {
      const row = await trx.deleteFrom('email_rules').where('id', '=', request.params.id).returningAll().executeTakeFirst();
      return row ? audit.record(trx, { actor: actorOf(request), entity: 'email_rule', entityId: row.id, action: 'delete', changes: emailRuleView(row) }) : null;
    });
    if (!event) return reply.code(404).send({ error: `email rule ${request.params.id} not found` });
    await audit.publish(event, request.id);
    return reply.code(204).send(null);
  });

  routes.post('/email-rules/preview', { config: { role: 'editor' }, schema: { body: z.object({ rule: EmailRuleBody, groupId: z.number().int().positive(), kind: z.enum(['firing', 'resolved']).optional() }), response: { 200: PreviewView, ...errors } } }, async (request, reply) => {
    const problems = templateProblems(emailTemplates(request.body.rule));
    if (problems.length) return invalidTemplates(reply, problems);
    const snapshot = await snapshotFor(request.body.groupId);
    if (!snapshot) return reply.code(404).send({ error: `alert group ${request.body.groupId} not found` });
    const rule = { ...emailRow(request.body.rule), id: 0, match_criteria: request.body.rule.matchCriteria, created_at: new Date(), updated_at: new Date() };
    const kind = request.body.kind ?? snapshot.group.status;
    const { subject, body } = renderEmail(rule, snapshot, kind);
    const failure = subject.failed ? subject : body.failed ? body : null;
    return { groupId: snapshot.group.id, kind, subject: subject.text, text: body.text, failed: failure !== null, ...(failure?.failed ? { error: failure.error } : {}) };
  });

  // A test email goes through the real queue: the email-notifier sends it, the queue view shows it.
  routes.post(
    '/email-rules/:id/test',
    { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody.partial().optional(), response: { 202: z.object({ emailId: z.number().int(), recipients: z.array(z.string()), subject: z.string() }), ...errors } } },
    async (request, reply) => {
      const rule = await db.selectFrom('email_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
      if (!rule) return reply.code(404).send({ error: `email rule ${request.params.id} not found` });
      const groupId = request.body?.groupId;
      const snapshot = groupId ? await snapshotFor(groupId) : null;
      if (groupId && !snapshot) return reply.code(404).send({ error: `alert group ${groupId} not found` });
      const rendered = snapshot ? renderEmail(rule, snapshot, request.body?.kind ?? snapshot.group.status) : null;
      const subject = `[test of rule "${rule.name}"] ${rendered?.subject.text ?? 'SentryHub test email'}`.replace(/[\r\n]+/g, ' ');
      const text = rendered?.body.text ?? 'This is a test email from SentryHub.';
      const { row, event } = await db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('email_queue')
          .values({ rule_id: rule.id, group_id: snapshot?.group.id ?? null, kind: 'test', recipients: rule.recipients, subject, body_text: text, status: 'pending' })
          .returning('id')
          .executeTakeFirstOrThrow();
        return { row, event: await audit.record(trx, { actor: actorOf(request), entity: 'email_rule', entityId: rule.id, action: 'test', changes: { emailId: row.id } }) };
      });
      await audit.publish(event, request.id);
      return reply.code(202).send({ emailId: row.id, recipients: rule.recipients, subject });
    },
  );

  routes.post('/email-rules/:id/preview', { config: { role: 'editor' }, schema: { params: IdParams, body: PreviewBody, response: { 200: PreviewView, ...errors } } }, async (request, reply) => {
    const rule = await db.selectFrom('email_rules').selectAll().where('id', '=', request.params.id).executeTakeFirst();
    if (!rule) return reply.code(404).send({ error: `email rule ${request.params.id} not found` });
    const snapshot = await snapshotFor(request.body.groupId);
    if (!snapshot) return reply.code(404).send({ error: `alert group ${request.body.groupId} not found` });
    const kind = request.body.kind ?? snapshot.group.status;
    const { subject, body } = renderEmail(rule, snapshot, kind);
    const failure = subject.failed ? subject : body.failed ? body : null;
    return { groupId: snapshot.group.id, kind, subject: subject.text, text: body.text, failed: failure !== null, ...(failure?.failed ? { error: failure.error } : {}) };
  });
}
