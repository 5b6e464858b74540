import { z } from 'zod';
import { LabelSet, parseDuration, Rfc3339 } from './alertmanager';
import { MatchCriteria } from './rules';
import { PostableSilence, SilenceMatcher } from './silence';

/** Schemas of the admin REST API (docs/contracts.md §3.4): JSON fields camelCase, columns snake_case. */

export const ROLES = ['viewer', 'editor', 'admin'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

/** PostgreSQL `integer` (int4): a body field stored in such a column is refused (400) outside it, not failed (500) in the database. */
export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;
const int4 = (field: string) =>
  z.number().int(`${field} must be an integer`).min(INT4_MIN, `${field} must be at least ${INT4_MIN}`).max(INT4_MAX, `${field} must be at most ${INT4_MAX}`);

/** Ids are `bigserial`; zod's `.int()` already keeps them to safe integers (below 2^53). */
export const IdParams = z.object({ id: z.coerce.number().int().positive() });

export const Pagination = z.object({
  /** Bounded so that the offset ((page - 1) * pageSize) stays an exact integer. */
  page: z.coerce.number().int().min(1).max(INT4_MAX).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), total: z.number().int(), page: z.number().int(), pageSize: z.number().int() });

const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

/** `label=name=value`, repeatable. */
const LabelFilter = z
  .string()
  .regex(/^[^=]+=.*$/, 'label filters look like name=value')
  .transform((value) => {
    const at = value.indexOf('=');
    return { name: value.slice(0, at), value: value.slice(at + 1) };
  });

export const AlertGroupQuery = Pagination.extend({
  status: z.enum(['firing', 'resolved']).optional(),
  severity: z.enum(['critical', 'warning', 'info']).optional(),
  silenced: booleanQuery.optional(),
  acknowledged: booleanQuery.optional(),
  label: z
    .union([LabelFilter, z.array(LabelFilter)])
    .optional()
    .transform((value) => (value === undefined ? [] : Array.isArray(value) ? value : [value])),
  q: z.string().max(200).optional(),
});
export type AlertGroupQuery = z.infer<typeof AlertGroupQuery>;

export const AlertGroupView = z.object({
  id: z.number().int(),
  fingerprint: z.string(),
  name: z.string(),
  labels: LabelSet,
  severity: z.string(),
  instance: z.string().nullable(),
  source: z.string(),
  status: z.enum(['firing', 'resolved']),
  firingCount: z.number().int(),
  firstOccurrence: Rfc3339,
  lastOccurrence: Rfc3339,
  acknowledged: z.boolean(),
  acknowledgedBy: z.string().nullable(),
  acknowledgedAt: Rfc3339.nullable(),
  silenced: z.boolean(),
  silencedUntil: Rfc3339.nullable(),
});
export type AlertGroupView = z.infer<typeof AlertGroupView>;

export const AlertInstanceView = z.object({
  id: z.number().int(),
  status: z.enum(['firing', 'resolved']),
  startsAt: Rfc3339,
  endsAt: Rfc3339.nullable(),
  annotations: LabelSet,
  generatorURL: z.string().nullable(),
  resolutionType: z.enum(['normal', 'inferred', 'manual', 'expired']).nullable(),
  intakeSource: z.string().nullable(),
  /** When the episode's lease ran or runs out (it resolves as `expired` then unless renewed); null: it never expires. */
  leaseEndsAt: Rfc3339.nullable(),
});

export const CommentView = z.object({ id: z.number().int(), author: z.string(), body: z.string(), createdAt: Rfc3339 });
export const AcknowledgementView = z.object({
  id: z.number().int(),
  action: z.enum(['acknowledge', 'unacknowledge']),
  actor: z.string(),
  comment: z.string().nullable(),
  createdAt: Rfc3339,
});

export const NotificationView = z.object({
  id: z.number().int(),
  channel: z.string(),
  ruleId: z.number().int().nullable(),
  groupId: z.number().int(),
  instanceId: z.number().int(),
  /** `repeat`: the n-th repeat of a firing (`sequence`); `escalation`: the escalation rule's notice. */
  kind: z.enum(['firing', 'resolved', 'repeat', 'escalation']),
  sequence: z.number().int().optional(),
  status: z.enum(['pending', 'sent', 'failed', 'suppressed', 'inhibited']),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  text: z.string(),
  sentAt: Rfc3339.nullable(),
  /** `sink` when the message only went to the log (no SLACK_INTERNAL_ENDPOINT); `webhook` for a webhook receiver. */
  deliveredVia: z.enum(['slack', 'sink', 'webhook']).nullable(),
  /** Whose row: a Slack rule's (`ruleId`) or a webhook rule's (`webhookRuleId`; `channel` is the receiver). */
  notifier: z.enum(['slack', 'webhook']),
  webhookRuleId: z.number().int().nullable(),
  /** Status `inhibited`: the firing group whose inhibition rule held it back. */
  inhibitedByGroupId: z.number().int().nullable(),
  createdAt: Rfc3339,
});

/**
 * One notification of an alert group, whichever notifier holds it (`GET /alert-groups/:id`): a
 * Slack or webhook row of `notifications`, or an alert email of `email_queue` (`id` is the row's
 * in its table). `status` in one vocabulary: an email `completed` is `sent` (a grouped one takes
 * its group email's status), `processing` and `grouped` are `pending`. `reason` says why it was
 * not sent, or how it went: silenced, inhibited by which group, the error, waiting in its group.
 */
export const AlertNotificationView = z.object({
  id: z.number().int(),
  notifier: z.enum(['slack', 'email', 'webhook']),
  ruleId: z.number().int().nullable(),
  /** The rule's name; null when the rule was deleted since. */
  ruleName: z.string().nullable(),
  instanceId: z.number().int().nullable(),
  kind: z.enum(['firing', 'resolved', 'repeat', 'escalation']),
  sequence: z.number().int(),
  status: z.enum(['pending', 'sent', 'failed', 'suppressed', 'inhibited']),
  /** The Slack channel, the email recipients, the webhook receiver. */
  destination: z.string(),
  /** The Slack message, the email subject, the webhook body. */
  text: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  reason: z.string().nullable(),
  inhibitedByGroupId: z.number().int().nullable(),
  sentAt: Rfc3339.nullable(),
  createdAt: Rfc3339,
});

export const AlertGroupDetail = AlertGroupView.extend({
  instances: z.array(AlertInstanceView),
  comments: z.array(CommentView),
  acknowledgements: z.array(AcknowledgementView),
  /** Every notifier's notifications of the group, newest first (at most 200). */
  notifications: z.array(AlertNotificationView),
});

export const AcknowledgeBody = z.object({ comment: z.string().max(2_000).optional() });
export const CommentBody = z.object({ body: z.string().trim().min(1, 'a comment needs text').max(10_000) });
export const ResolveBody = z.object({ at: Rfc3339.optional(), comment: z.string().max(2_000).optional() });

export const SilenceView = z.object({
  id: z.number().int(),
  matchers: z.array(SilenceMatcher),
  startsAt: Rfc3339,
  endsAt: Rfc3339,
  createdBy: z.string(),
  comment: z.string(),
  state: z.enum(['pending', 'active', 'expired']),
  createdAt: Rfc3339,
  updatedAt: Rfc3339,
});
export const SilenceBody = PostableSilence;
export const SilenceQuery = Pagination.extend({ state: z.enum(['pending', 'active', 'expired']).optional() });

/** A duration in Alertmanager's syntax (`30s`, `5m`, `1h30m`, `1d`) greater than zero. */
const positiveDuration = (field: string) =>
  z
    .string()
    .trim()
    .refine((text) => (parseDuration(text) ?? 0) > 0, { message: `${field} must be a duration greater than zero such as 30s, 5m, 4h or 1h30m` });

const templateText = z.string().min(1, 'a template must not be empty').max(20_000);

/** What every rule kind has (Slack, email and webhook rule bodies extend it). */
export const RuleCommon = z.object({
  name: z.string().trim().min(1, 'name is required').max(200),
  isActive: z.boolean().default(true),
  priority: int4('priority').default(0),
  matchCriteria: MatchCriteria.default({}),
  sendResolved: z.boolean().default(true),
  /** After this rule applied, keep searching: the next matching rule applies too (Alertmanager's `continue`). */
  continue: z.boolean().default(false),
  /** Tell a still-firing, unacknowledged, unsilenced episode again at this interval (Alertmanager's `repeat_interval`); null: never. */
  repeatInterval: positiveDuration('repeatInterval').nullable().default(null),
  /** The id of a rule of the same kind whose receiver is told too after `escalateAfter`, if the episode still fires unacknowledged. */
  escalateTo: z
    .number()
    .int()
    .positive()
    .max(2 ** 53 - 1)
    .nullable()
    .default(null),
  /** How long an episode fires unacknowledged before `escalateTo` is told; required with it. */
  escalateAfter: positiveDuration('escalateAfter').nullable().default(null),
  /** Label names: one message per (rule, their values), as Alertmanager's `group_by`; null: one message per alert. */
  groupBy: z
    .array(
      z
        .string()
        .trim()
        .regex(/^([a-zA-Z_][a-zA-Z0-9_]*|\.\.\.)$/, 'groupBy: each entry must be a label name (or "...")')
        .max(200),
    )
    .max(50)
    .nullable()
    .default(null),
  /** How long a new group waits for more alerts before its first message (Alertmanager's `group_wait`); null: 0s. */
  groupWait: z
    .string()
    .trim()
    .refine((text) => parseDuration(text) !== null, { message: 'groupWait must be a duration such as 0s, 30s or 1m' })
    .nullable()
    .default(null),
  /** Between two messages of a group (Alertmanager's `group_interval`); null: 5m. */
  groupInterval: positiveDuration('groupInterval').nullable().default(null),
});

/** Both escalation fields or neither: the problem in words, or null. */
export function escalationProblem(rule: { id?: number; escalateTo: number | null; escalateAfter: string | null }): string | null {
  if (rule.escalateTo !== null && rule.escalateAfter === null) return 'escalateAfter is required with escalateTo';
  if (rule.escalateTo === null && rule.escalateAfter !== null) return 'escalateAfter needs escalateTo (the rule to escalate to)';
  if (rule.id !== undefined && rule.escalateTo === rule.id) return 'escalateTo must name another rule, not this one';
  return null;
}

export const SlackRuleBody = RuleCommon.extend({
  slackChannel: z.string().trim().min(1).max(200).nullable().default(null),
  messageTemplate: templateText,
  resolvedMessageTemplate: templateText.nullable().default(null),
  /** Replace every IP address in the message with `IP`, as the source system always did. */
  replaceIpAddresses: z.boolean().default(false),
});
export type SlackRuleBody = z.infer<typeof SlackRuleBody>;

export const EmailRuleBody = RuleCommon.extend({
  recipients: z.array(z.email('each recipient must be an email address')).min(1, 'at least one recipient'),
  subjectTemplate: templateText,
  bodyTemplate: templateText,
});
export type EmailRuleBody = z.infer<typeof EmailRuleBody>;

export const RuleTimestamps = z.object({ id: z.number().int(), createdAt: Rfc3339, updatedAt: Rfc3339 });
export const SlackRuleView = SlackRuleBody.extend(RuleTimestamps.shape);
export type SlackRuleView = z.infer<typeof SlackRuleView>;
export const EmailRuleView = EmailRuleBody.extend(RuleTimestamps.shape);
export type EmailRuleView = z.infer<typeof EmailRuleView>;

export const PreviewBody = z.object({ groupId: z.number().int().positive(), kind: z.enum(['firing', 'resolved']).optional() });
/** A grouped rule's message for several alert groups (`POST /api/v1/<kind>-rules/{id}/group-preview`). */
export const GroupPreviewBody = z.object({ groupIds: z.array(z.number().int().positive()).min(1).max(100), kind: z.enum(['firing', 'resolved']).optional() });
export const GroupPreviewView = z.object({
  /** One message per group the alert groups fall in under the rule's `groupBy`. */
  messages: z.array(
    z.object({
      groupKey: z.string(),
      groupLabels: z.record(z.string(), z.string()),
      groupIds: z.array(z.number().int()),
      /** `group`: the rule's template rendered once with the group; `per-alert`: the title, then each alert's text. */
      rendered: z.enum(['group', 'per-alert']),
      /** An email rule's subject. */
      subject: z.string().optional(),
      text: z.string(),
      failed: z.boolean(),
      error: z.string().optional(),
      /** Where it goes: the Slack channel, the email recipients, the webhook receiver. */
      channel: z.string().optional(),
    }),
  ),
});
export const PreviewView = z.object({
  groupId: z.number().int(),
  kind: z.enum(['firing', 'resolved']),
  text: z.string(),
  subject: z.string().optional(),
  failed: z.boolean(),
  error: z.string().optional(),
  channel: z.string().optional(),
});

export const ExplainBody = z.union([z.object({ labels: LabelSet }), z.object({ fingerprint: z.string().regex(/^[0-9a-f]{16}$/) })]);
export const ExplainRule = z.object({
  id: z.number().int(),
  name: z.string(),
  priority: z.number().int(),
  isActive: z.boolean(),
  continue: z.boolean(),
  matched: z.boolean(),
  /** What the search did with the rule, in the order rules are tried. */
  outcome: z.enum(['applied', 'no-match', 'inactive', 'not-reached']),
  reason: z.string().nullable(),
});
/** A rule that applies, and what it does with the alert's current change. */
export const ExplainDecision = z.object({
  rule: z.string(),
  ruleId: z.number().int(),
  decision: z.enum(['send', 'suppressed', 'inhibited', 'skip']),
  /** Why it is not sent (silenced, inhibited by ..., resolved notices not wanted), or null. */
  reason: z.string().nullable(),
});
export const ExplainInhibition = z.object({
  ruleId: z.number().int(),
  ruleName: z.string().nullable(),
  sourceGroupId: z.number().int(),
  sourceFingerprint: z.string().nullable(),
  sourceName: z.string().nullable(),
});
export const ExplainView = z.object({
  fingerprint: z.string(),
  labels: LabelSet,
  groupId: z.number().int().nullable(),
  silences: z.array(z.object({ id: z.number().int(), endsAt: Rfc3339, comment: z.string(), createdBy: z.string() })),
  silenced: z.boolean(),
  /** The inhibition that holds the group back now (a firing source), or null. */
  inhibitedBy: ExplainInhibition.nullable(),
  slack: z.object({
    rules: z.array(ExplainRule),
    /** The first rule that applies (its message is shown); `applied` lists them all. */
    winner: z.string().nullable(),
    applied: z.array(ExplainDecision.extend({ channel: z.string(), text: z.string() })),
    /** The applied rule without `continue` that ended the search, or null when every rule was tried. */
    stoppedAt: z.string().nullable(),
    channel: z.string().nullable(),
    text: z.string().nullable(),
  }),
  email: z.object({
    rules: z.array(ExplainRule),
    winner: z.string().nullable(),
    applied: z.array(ExplainDecision.extend({ recipients: z.array(z.string()), subject: z.string() })),
    stoppedAt: z.string().nullable(),
    recipients: z.array(z.string()),
    subject: z.string().nullable(),
  }),
  webhook: z.object({
    rules: z.array(ExplainRule),
    winner: z.string().nullable(),
    /** Each applied webhook rule with its receiver (a name in WEBHOOK_RECEIVERS_FILE). */
    applied: z.array(ExplainDecision.extend({ receiver: z.string() })),
    stoppedAt: z.string().nullable(),
    receiver: z.string().nullable(),
  }),
});

/** Inhibition rules (Alertmanager's `inhibit_rules`): matchers in the silence matcher shape. */
export const InhibitRuleBody = z.object({
  name: z.string().trim().min(1, 'name must not be empty').max(200).nullable().default(null),
  sourceMatchers: z.array(SilenceMatcher).min(1, 'an inhibit rule needs at least one source matcher').max(50),
  targetMatchers: z.array(SilenceMatcher).min(1, 'an inhibit rule needs at least one target matcher').max(50),
  equal: z
    .array(z.string().min(1, 'a label name in equal must not be empty').max(256))
    .max(50)
    .default([])
    .refine((names) => new Set(names).size === names.length, 'equal names a label twice'),
  comment: z.string().max(2_000).default(''),
});
export type InhibitRuleBody = z.infer<typeof InhibitRuleBody>;
export const InhibitRuleView = InhibitRuleBody.extend({ id: z.number().int(), createdBy: z.string(), createdAt: Rfc3339, updatedAt: Rfc3339 });
export type InhibitRuleView = z.infer<typeof InhibitRuleView>;

export const ApiKeyBody = z.object({ name: z.string().trim().min(1, 'name is required').max(200), role: Role });
export const ApiKeyView = z.object({
  id: z.number().int(),
  name: z.string(),
  role: Role,
  createdAt: Rfc3339,
  revokedAt: Rfc3339.nullable(),
  lastUsedAt: Rfc3339.nullable(),
});
export const CreatedApiKey = z.object({ id: z.number().int(), key: z.string(), name: z.string(), role: Role });

export const NotificationQuery = Pagination.extend({
  status: z.enum(['pending', 'sent', 'failed', 'suppressed', 'inhibited']).optional(),
  channel: z.string().optional(),
  groupId: z.coerce.number().int().optional(),
  deliveredVia: z.enum(['slack', 'sink', 'webhook']).optional(),
});

export const EmailQueueView = z.object({
  id: z.number().int(),
  ruleId: z.number().int().nullable(),
  groupId: z.number().int().nullable(),
  kind: z.string(),
  recipients: z.array(z.string()),
  subject: z.string(),
  status: z.enum(['pending', 'processing', 'completed', 'failed', 'inhibited', 'grouped']),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  /** Status `inhibited`: the firing group whose inhibition rule held it back. */
  inhibitedByGroupId: z.number().int().nullable(),
  createdAt: Rfc3339,
  updatedAt: Rfc3339,
  sentAt: Rfc3339.nullable(),
});
export const EmailQueueQuery = Pagination.extend({ status: z.enum(['pending', 'processing', 'completed', 'failed', 'inhibited', 'grouped']).optional() });

export const AuditLogView = z.object({
  id: z.number().int(),
  eventId: z.string(),
  actor: z.string(),
  entity: z.string(),
  entityId: z.string().nullable(),
  action: z.string(),
  changes: z.record(z.string(), z.unknown()),
  at: Rfc3339,
});
export const AuditLogQuery = Pagination.extend({ entity: z.string().optional(), actor: z.string().optional(), entityId: z.string().optional() });

/**
 * Queue management (docs/contracts.md §3.4): admin role, and only when the admin service runs
 * with RABBITMQ_MANAGEMENT_ENABLED=true (404 otherwise). Queues are those of the service's vhost.
 */
const QueueName = z.string().min(1, 'a queue name is required').max(255);
export const QueueNameParams = z.object({ name: QueueName });
/** The work queue (`<queue>`) or its dead-letter queue (`<queue>.dead`): both mean `<queue>.dead`. */
export const DeadLetterParams = z.object({ queue: QueueName });

/** Messages per second over the management plugin's last sample (0 when nothing moved). */
export const QueueRates = z.object({ publish: z.number(), deliver: z.number(), ack: z.number(), redeliver: z.number() });
export const QueueView = z.object({
  name: z.string(),
  type: z.string(),
  durable: z.boolean(),
  state: z.string().nullable(),
  messages: z.number().int(),
  messagesReady: z.number().int(),
  messagesUnacknowledged: z.number().int(),
  consumers: z.number().int(),
  rates: QueueRates,
  arguments: z.record(z.string(), z.unknown()),
});
export type QueueView = z.infer<typeof QueueView>;
export const QueueList = z.object({ vhost: z.string(), items: z.array(QueueView) });

const HeaderValue = z.union([z.string(), z.number(), z.boolean()]);
/** A test message, sent through the default exchange straight to the queue, confirmed and mandatory. */
export const QueuePublishBody = z.object({
  /** JSON body; `{"test": true, ...}` when absent. A consumer that does not recognise it dead-letters it with the reason. */
  payload: z.unknown().optional(),
  messageId: z.string().min(1).max(200).optional(),
  correlationId: z.string().min(1).max(200).optional(),
  headers: z.record(z.string(), HeaderValue).default({}),
});
export const QueuePublished = z.object({ queue: z.string(), messageId: z.string() });

/** Purging is refused unless `confirm` repeats the queue name. */
export const QueuePurgeBody = z.object({ confirm: z.string({ error: 'repeat the queue name in "confirm" to purge it' }) });
export const QueuePurged = z.object({ queue: z.string(), purged: z.number().int() });

export const DeadLetterQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });
export const DeadLetterDeath = z.object({
  queue: z.string().nullable(),
  reason: z.string().nullable(),
  count: z.number().int(),
  exchange: z.string().nullable(),
  routingKeys: z.array(z.string()),
});
export const DeadLetterView = z.object({
  messageId: z.string().nullable(),
  correlationId: z.string().nullable(),
  timestamp: Rfc3339.nullable(),
  /** `x-error`, or what RabbitMQ itself dead-lettered it for (`delivery_limit`, `maxlen`, `expired`). */
  error: z.string().nullable(),
  errorPath: z.string().nullable(),
  /** Where a replay sends it: `x-original-*`, else the first `x-death` entry. */
  originalExchange: z.string().nullable(),
  originalRoutingKey: z.string().nullable(),
  originalQueue: z.string().nullable(),
  retryCount: z.number().int(),
  /** `x-death`: every time RabbitMQ dead-lettered it (retry delays expired, delivery limit...). */
  deaths: z.array(DeadLetterDeath),
  contentType: z.string().nullable(),
  payload: z.string(),
  payloadEncoding: z.enum(['string', 'base64']),
});
export type DeadLetterView = z.infer<typeof DeadLetterView>;
export const DeadLetterList = z.object({ queue: z.string(), deadLetterQueue: z.string(), total: z.number().int(), items: z.array(DeadLetterView) });

/**
 * Replays the selected dead letters (by message id, or all of them) to the queue they failed in
 * (`to: "queue"`, the default, through the default exchange), or to their original exchange
 * and routing key (`to: "exchange"`, only for a SentryHub work queue and a route that queue is
 * bound by): a routing key bound to several queues delivers a second copy to the queues that
 * had handled it.
 */
export const DeadLetterReplayBody = z
  .object({
    messageIds: z.array(z.string().min(1)).min(1).max(1_000).optional(),
    all: z.literal(true).optional(),
    to: z.enum(['exchange', 'queue']).default('queue'),
  })
  .refine((body) => (body.messageIds === undefined) !== (body.all === undefined), { message: 'send either "messageIds": [...] or "all": true' });
export const DeadLetterReplayed = z.object({ messageId: z.string().nullable(), exchange: z.string(), routingKey: z.string() });
export const DeadLetterReplayResult = z.object({
  queue: z.string(),
  deadLetterQueue: z.string(),
  replayed: z.array(DeadLetterReplayed),
  /** Requested ids that are not in the dead-letter queue (already replayed, purged or expired). */
  notFound: z.array(z.string()),
  /** Left in the dead-letter queue: no original route known, or the publish was not confirmed. */
  failed: z.array(z.object({ messageId: z.string().nullable(), error: z.string() })),
  /** Further copies of an id already replayed by this request: left in the dead-letter queue. */
  duplicates: z.array(z.string()),
});
export type DeadLetterReplayResult = z.infer<typeof DeadLetterReplayResult>;
