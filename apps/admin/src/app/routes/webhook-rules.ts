import { ErrorResponse, ReceiversView, WebhookRuleBody, WebhookRuleView, WebhookTestView } from '@sentryhub/contracts';
import type { Database, WebhookRule } from '@sentryhub/db';
import {
  groupLabelsOf,
  renderWebhookBody,
  sampleWebhookSnapshots,
  WEBHOOK_PRESET_IDS,
  WEBHOOK_PRESETS,
  webhookContext,
  webhookGroupContext,
  webhookRuleProblems,
  webhookTemplateOf,
  withReceiverParams,
  type WebhookRender,
} from '@sentryhub/rules';
import {
  createWebhookClient,
  resolveWebhookReceivers,
  summarizeWebhookReceivers,
  WebhookReceiversError,
  type WebhookReceiver,
  type WebhookReceiversFile,
} from '@sentryhub/service-runtime';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import type { AuditTrail } from '../audit';
import { entryOf, groupBuckets } from '../rule-previews';
import { webhookRuleView } from '../views';
import { registerRuleKind, type AlertKind, type RuleKindRoutes, type Snapshot } from './rule-routes';
import { commonColumns } from './rules';

export interface WebhookRuleRoutesOptions {
  db: Kysely<Database>;
  audit: AuditTrail;
  /** WEBHOOK_RECEIVERS_FILE as parsed at start-up (no file: no receivers). */
  receivers: WebhookReceiversFile;
  /** Where the receivers' header, parameter and HMAC values are read for a test send (the process environment). */
  env: NodeJS.ProcessEnv;
  /** WEBHOOK_EXTERNAL_URL: `external_url` in bodies, as the webhook-notifier renders them. */
  externalUrl: string;
}

/**
 * Outgoing webhook rules (`/webhook-rules`, the generic rule routes of rule-routes.ts) and the
 * receivers they may name (`/receivers`). A rule names a receiver of WEBHOOK_RECEIVERS_FILE and
 * has a body template or a preset that must render JSON: checked when it is saved, with the
 * webhook-notifier's own code (libs/rules webhook-body.ts). Previews render the body as the
 * notifier would, with placeholders for the receiver's parameters; a test send posts one body
 * to the receiver with its headers and signature, read from this process's environment.
 */
export async function webhookRuleRoutes(app: FastifyInstance, { db, audit, receivers, env, externalUrl }: WebhookRuleRoutesOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const paramNames = new Map(Object.entries(receivers).map(([name, entry]) => [name, Object.keys(entry.params)]));

  /** The body of `rule` for an alert, as the notifier renders and stores it. */
  const render = (rule: WebhookRule, snapshot: Snapshot, kind: AlertKind): WebhookRender => {
    const source = webhookTemplateOf({ bodyTemplate: rule.body_template, preset: rule.preset });
    if (source === null) return { ok: false, error: `rule has neither a body template nor a known preset ("${rule.preset ?? ''}")` };
    const context = webhookContext(
      snapshot.group,
      { ...snapshot.instance, status: kind },
      { name: rule.receiver, params: paramNames.get(rule.receiver) ?? [] },
      { externalUrl },
    );
    return renderWebhookBody(source, context);
  };

  /** The receiver with its values from the environment, or why it cannot be used here. */
  const resolved = (name: string): WebhookReceiver | string => {
    const entry = receivers[name];
    if (!entry) return `receiver "${name}" is not configured (WEBHOOK_RECEIVERS_FILE)`;
    try {
      const receiver = resolveWebhookReceivers({ [name]: entry }, env).get(name);
      return receiver ?? `receiver "${name}" has no URL`;
    } catch (error) {
      if (error instanceof WebhookReceiversError) return error.problems.join('; ');
      throw error;
    }
  };

  const kind: RuleKindRoutes<WebhookRuleBody, WebhookRule, WebhookRuleView> = {
    path: 'webhook-rules',
    table: 'webhook_rules',
    entity: 'webhook_rule',
    noun: 'webhook rule',
    title: 'webhook rule',
    article: 'a webhook rule',
    body: WebhookRuleBody,
    view: WebhookRuleView,
    columns: (body) => ({ ...commonColumns(body), receiver: body.receiver, body_template: body.bodyTemplate, preset: body.preset }),
    toView: webhookRuleView,
    refusal: (body) => {
      const problems = webhookRuleProblems(body, paramNames, { externalUrl });
      const [first] = problems;
      return first ? { error: `invalid webhook rule: ${first.path}: ${first.message}`, issues: problems } : null;
    },
    preview: (rule, snapshot, alertKind) => {
      const rendered = render(rule, snapshot, alertKind);
      return rendered.ok
        ? { text: rendered.body, failed: false, channel: rule.receiver }
        : { text: '', failed: true, error: rendered.error, channel: rule.receiver };
    },
    // One body per group key, rendered with the group context as the webhook-notifier's group flush does.
    groupPreview: (rule, snapshots, alertKind) => ({
      messages: groupBuckets(rule.group_by, snapshots).map(([groupKey, members]) => {
        const source = webhookTemplateOf({ bodyTemplate: rule.body_template, preset: rule.preset });
        const entries = members.map((snapshot) => {
          const status = entryOf(snapshot, alertKind, '').status;
          return { group: snapshot.group, instance: { ...snapshot.instance, status, endsAt: status === 'firing' ? null : snapshot.instance.endsAt } };
        });
        const receiver = { name: rule.receiver, params: paramNames.get(rule.receiver) ?? [] };
        const rendered: WebhookRender =
          source === null
            ? { ok: false, error: `rule has neither a body template nor a known preset ("${rule.preset ?? ''}")` }
            : renderWebhookBody(source, webhookGroupContext(rule.id, groupKey, entries, receiver, { externalUrl }));
        return {
          groupKey,
          groupLabels: groupLabelsOf(groupKey),
          groupIds: members.map((snapshot) => snapshot.group.id),
          rendered: 'group' as const,
          text: rendered.ok ? rendered.body : '',
          failed: !rendered.ok,
          ...(rendered.ok ? {} : { error: rendered.error }),
          channel: rule.receiver,
        };
      }),
    }),
    draftPreview: true,
    test: {
      response: { 200: WebhookTestView, 502: ErrorResponse, 503: ErrorResponse },
      send: async ({ rule, snapshot, kind: requested, request, reply, log, record, publish }) => {
        if (!receivers[rule.receiver])
          return reply.code(400).send({ error: `receiver "${rule.receiver}" is not configured (WEBHOOK_RECEIVERS_FILE): the rule cannot be tested` });
        const receiver = resolved(rule.receiver);
        if (typeof receiver === 'string') return reply.code(503).send({ error: `the admin cannot send to receiver "${rule.receiver}": ${receiver}` });
        // Without a group, the sample alert the save-time check renders.
        const alert = snapshot ?? sampleWebhookSnapshots()[0];
        if (!alert) throw new Error('no sample alert');
        const alertKind = requested ?? alert.group.status;
        const rendered = render(rule, alert, alertKind);
        if (!rendered.ok) return reply.code(400).send({ error: `the body cannot be sent: ${rendered.error}` });
        const client = createWebhookClient(new Map([[receiver.name, receiver]]));
        try {
          const result = await client.deliver({
            receiver: receiver.name,
            body: withReceiverParams(rendered.body, receiver.params),
            kind: alertKind,
            dedupKey: `sentryhub-test-${rule.id}`,
            notificationId: `test-${request.id}`,
          });
          if (result.outcome !== 'sent') {
            log.warn({ ruleId: rule.id, receiver: receiver.name, error: result.error }, 'webhook test send not accepted');
            return reply.code(502).send({ error: `the receiver did not accept the test body: ${result.error}` });
          }
          await publish(await record({ receiver: receiver.name, status: result.status, groupId: snapshot?.group.id ?? null, kind: alertKind }));
          return reply.send({ receiver: receiver.name, status: result.status, body: rendered.body });
        } finally {
          await client.close();
        }
      },
    },
  };
  registerRuleKind(app, { db, audit }, kind);

  routes.get('/receivers', { config: { role: 'viewer' }, schema: { response: { 200: ReceiversView } } }, async () => ({
    items: summarizeWebhookReceivers(receivers).map((summary) => ({
      ...summary,
      presets: WEBHOOK_PRESET_IDS.filter((id) => WEBHOOK_PRESETS[id].requiredParams.every((param) => summary.params.includes(param))),
    })),
    presets: WEBHOOK_PRESET_IDS.map((id) => {
      const preset = WEBHOOK_PRESETS[id];
      return {
        id: preset.id,
        title: preset.title,
        docs: preset.docs,
        requiredParams: [...preset.requiredParams],
        receiverHint: preset.receiverHint,
        template: preset.template,
      };
    }),
  }));
}
