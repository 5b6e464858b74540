import { EmailRuleBody, EmailRuleView, ErrorResponse, SlackRuleBody, SlackRuleView, type RuleCommon } from '@sentryhub/contracts';
import type { Database, EmailRule, SlackRule } from '@sentryhub/db';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { AuditTrail } from '../audit';
import { emailTemplates, renderEmail, renderEmailGroups, renderSlack, renderSlackGroups, slackTemplates, templateProblems } from '../rule-previews';
import type { SlackTester } from '../slack-test-sender';
import { emailRuleView, slackRuleView } from '../views';
import { registerRuleKind, templateRefusal, type RuleKindRoutes } from './rule-routes';

export interface RuleRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
  slack: SlackTester;
  defaultChannel: string;
}

/** The columns every rule kind has, from a body. */
export const commonColumns = (body: z.infer<typeof RuleCommon>) => ({
  name: body.name,
  is_active: body.isActive,
  priority: body.priority,
  match_criteria: JSON.stringify(body.matchCriteria),
  send_resolved: body.sendResolved,
  continue: body.continue,
  repeat_interval: body.repeatInterval,
  escalate_to: body.escalateTo,
  escalate_after: body.escalateAfter,
  group_by: body.groupBy,
  group_wait: body.groupWait,
  group_interval: body.groupInterval,
});

/** Slack rules: the message the notifier would post; a test message through the same Slack endpoint (or the log sink). */
function slackRules(slack: SlackTester, defaultChannel: string): RuleKindRoutes<SlackRuleBody, SlackRule, SlackRuleView> {
  return {
    path: 'slack-rules',
    table: 'slack_rules',
    entity: 'slack_rule',
    noun: 'slack rule',
    title: 'Slack rule',
    article: 'a Slack rule',
    body: SlackRuleBody,
    view: SlackRuleView,
    columns: (body) => ({
      ...commonColumns(body),
      slack_channel: body.slackChannel,
      message_template: body.messageTemplate,
      resolved_message_template: body.resolvedMessageTemplate,
      replace_ip_addresses: body.replaceIpAddresses,
    }),
    toView: slackRuleView,
    refusal: (body) => templateRefusal(templateProblems(slackTemplates(body))),
    preview: (rule, snapshot, kind) => {
      const message = renderSlack(rule, snapshot, kind, defaultChannel);
      return {
        text: message.text,
        failed: message.templateError !== null,
        ...(message.templateError ? { error: message.templateError } : {}),
        channel: message.channel,
      };
    },
    groupPreview: (rule, snapshots, kind) => renderSlackGroups(rule, snapshots, kind, defaultChannel),
    draftPreview: true,
    test: {
      response: { 200: z.object({ channel: z.string(), text: z.string(), delivered: z.enum(['slack', 'sink']) }), 502: ErrorResponse },
      send: async ({ rule, snapshot, kind, reply, log, record, publish }) => {
        const message = snapshot ? renderSlack(rule, snapshot, kind ?? snapshot.group.status, defaultChannel) : null;
        const channel = message?.channel ?? rule.slack_channel ?? defaultChannel;
        const text = `[test of rule "${rule.name}"] ${message?.text ?? 'SentryHub test message'}`;
        const result = await slack.send(channel, text, log);
        if (!result.ok) return reply.code(502).send({ error: `Slack did not accept the test message: ${result.error}` });
        await publish(await record({ channel }));
        return reply.send({ channel, text, delivered: result.via });
      },
    },
  };
}

/** Email rules: the subject and body the notifier would send; a test email through the real queue. */
function emailRules(db: Kysely<Database>): RuleKindRoutes<EmailRuleBody, EmailRule, EmailRuleView> {
  return {
    path: 'email-rules',
    table: 'email_rules',
    entity: 'email_rule',
    noun: 'email rule',
    title: 'email rule',
    article: 'an email rule',
    body: EmailRuleBody,
    view: EmailRuleView,
    columns: (body) => ({ ...commonColumns(body), recipients: body.recipients, subject_template: body.subjectTemplate, body_template: body.bodyTemplate }),
    toView: emailRuleView,
    refusal: (body) => templateRefusal(templateProblems(emailTemplates(body))),
    preview: (rule, snapshot, kind) => {
      const { subject, body } = renderEmail(rule, snapshot, kind);
      const failure = subject.failed ? subject : body.failed ? body : null;
      return { subject: subject.text, text: body.text, failed: failure !== null, ...(failure?.failed ? { error: failure.error } : {}) };
    },
    groupPreview: renderEmailGroups,
    draftPreview: true,
    test: {
      response: { 202: z.object({ emailId: z.number().int(), recipients: z.array(z.string()), subject: z.string() }) },
      // A test email goes through the real queue: the email-notifier sends it, the queue view shows it.
      send: async ({ rule, snapshot, kind, reply, record, publish }) => {
        const rendered = snapshot ? renderEmail(rule, snapshot, kind ?? snapshot.group.status) : null;
        const subject = `[test of rule "${rule.name}"] ${rendered?.subject.text ?? 'SentryHub test email'}`.replace(/[\r\n]+/g, ' ');
        const text = rendered?.body.text ?? 'This is a test email from SentryHub.';
        const { row, event } = await db.transaction().execute(async (trx) => {
          const row = await trx
            .insertInto('email_queue')
            .values({
              rule_id: rule.id,
              group_id: snapshot?.group.id ?? null,
              kind: 'test',
              recipients: rule.recipients,
              subject,
              body_text: text,
              status: 'pending',
            })
            .returning('id')
            .executeTakeFirstOrThrow();
          return { row, event: await record({ emailId: row.id }, trx) };
        });
        await publish(event);
        return reply.code(202).send({ emailId: row.id, recipients: rule.recipients, subject });
      },
    },
  };
}

/** Slack and email rules: the generic rule routes (rule-routes.ts) with each kind's checks, previews and test sends. */
export async function ruleRoutes(app: FastifyInstance, { db, audit, slack, defaultChannel }: RuleRoutesOptions): Promise<void> {
  registerRuleKind(app, { db, audit }, slackRules(slack, defaultChannel));
  registerRuleKind(app, { db, audit }, emailRules(db));
}
