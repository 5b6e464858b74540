import { MatchCriteria, parseDuration, SilenceMatcher, type LabelSet } from '@sentryhub/contracts';
import { sql, type Kysely, type SqlBool } from 'kysely';
import { z } from 'zod';
import type { Database, EmailRule, InhibitRuleRow, SlackRule, WebhookRule } from '../schema';
import { anyId } from '../prepared-statements';

/**
 * Rule storage, one place for every app: the notifiers read the active rules of their kind
 * (cached for `cacheMs`), the admin reads all of them for explain and previews. Rows come out
 * in the camelCase shape of the notification policy (libs/rules notification-policy.ts),
 * in the order rules are tried (priority desc, then name).
 */

/** What every rule kind has. */
export interface StoredRule {
  id: number;
  name: string;
  priority: number;
  /** False for an inactive rule, and for one whose stored criteria do not validate. */
  isActive: boolean;
  matchCriteria: MatchCriteria;
  sendResolved: boolean;
  continue: boolean;
  /** `repeat_interval` in ms (null: never repeats; a stored value that does not parse counts as null). */
  repeatIntervalMs: number | null;
  /** `escalate_to`: the rule of the same kind told too after `escalateAfterMs`; null: no escalation. */
  escalateTo: number | null;
  escalateAfterMs: number | null;
  /** `group_by`: one message per (rule, these labels' values); null: one per alert (`...` too). */
  groupBy: string[] | null;
  /** `group_wait` in ms (default 0). */
  groupWaitMs: number;
  /** `group_interval` in ms (default 5 minutes). */
  groupIntervalMs: number;
  /** Why the stored `match_criteria` do not validate (such a rule matches nothing), or null. */
  criteriaError: string | null;
}

export interface StoredSlackRule extends StoredRule {
  slackChannel: string | null;
  messageTemplate: string;
  resolvedMessageTemplate: string | null;
  replaceIpAddresses: boolean;
  row: SlackRule;
}

export interface StoredEmailRule extends StoredRule {
  recipients: string[];
  subjectTemplate: string;
  bodyTemplate: string;
  row: EmailRule;
}

export interface StoredWebhookRule extends StoredRule {
  /** A receiver's name in WEBHOOK_RECEIVERS_FILE. */
  receiver: string;
  bodyTemplate: string | null;
  preset: string | null;
  row: WebhookRule;
}

export interface StoredInhibitRule {
  id: number;
  name: string | null;
  sourceMatchers: SilenceMatcher[];
  targetMatchers: SilenceMatcher[];
  equal: string[];
  comment: string;
  createdBy: string;
  createdAt: Date;
  updatedAt: Date;
}

export type RuleKind = 'slack' | 'email' | 'webhook' | 'inhibit';

/** Told about a stored rule that does not validate (it is left out, or matches nothing). */
export type InvalidRuleListener = (kind: RuleKind, rule: { id: number; name: string | null }, problem: string) => void;

function commonOf(row: SlackRule | EmailRule | WebhookRule): StoredRule {
  const criteria = MatchCriteria.safeParse(row.match_criteria);
  const criteriaError = criteria.success
    ? null
    : criteria.error.issues.map((issue) => `${issue.path.join('.') || 'match_criteria'}: ${issue.message}`).join('; ');
  return {
    id: row.id,
    name: row.name,
    priority: row.priority,
    // The admin API validates criteria; a row edited by hand must not match by accident.
    isActive: row.is_active && criteria.success,
    matchCriteria: criteria.success ? criteria.data : {},
    sendResolved: row.send_resolved,
    continue: row.continue,
    repeatIntervalMs: positiveDuration(row.repeat_interval),
    escalateTo: row.escalate_to,
    escalateAfterMs: row.escalate_to === null ? null : (durationOrNull(row.escalate_after) ?? null),
    groupBy: row.group_by === null || row.group_by.includes('...') ? null : row.group_by,
    groupWaitMs: durationOrNull(row.group_wait) ?? 0,
    groupIntervalMs: positiveDuration(row.group_interval) ?? DEFAULT_GROUP_INTERVAL_MS,
    criteriaError,
  };
}

/** Alertmanager's default `group_interval`. */
export const DEFAULT_GROUP_INTERVAL_MS = 5 * 60_000;

const durationOrNull = (text: string | null): number | null => (text === null ? null : parseDuration(text));
/** A repeat interval of 0 would repeat without pause: it counts as none. */
const positiveDuration = (text: string | null): number | null => {
  const ms = durationOrNull(text);
  return ms !== null && ms > 0 ? ms : null;
};

export const storedSlackRule = (row: SlackRule): StoredSlackRule => ({
  ...commonOf(row),
  slackChannel: row.slack_channel,
  messageTemplate: row.message_template,
  resolvedMessageTemplate: row.resolved_message_template,
  replaceIpAddresses: row.replace_ip_addresses,
  row,
});

export const storedEmailRule = (row: EmailRule): StoredEmailRule => ({
  ...commonOf(row),
  recipients: row.recipients,
  subjectTemplate: row.subject_template,
  bodyTemplate: row.body_template,
  row,
});

export const storedWebhookRule = (row: WebhookRule): StoredWebhookRule => ({
  ...commonOf(row),
  receiver: row.receiver,
  bodyTemplate: row.body_template,
  preset: row.preset,
  row,
});

const StoredMatchers = z.array(SilenceMatcher);

/** An inhibit rule row, or the problem of one whose stored matchers do not validate. */
export function storedInhibitRule(row: InhibitRuleRow): StoredInhibitRule | { problem: string } {
  const source = StoredMatchers.safeParse(row.source_matchers);
  const target = StoredMatchers.safeParse(row.target_matchers);
  if (!source.success) return { problem: `source_matchers: ${source.error.issues[0]?.message ?? 'invalid'}` };
  if (!target.success) return { problem: `target_matchers: ${target.error.issues[0]?.message ?? 'invalid'}` };
  return {
    id: row.id,
    name: row.name,
    sourceMatchers: source.data,
    targetMatchers: target.data,
    equal: row.equal,
    comment: row.comment,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export interface RuleRepositoryOptions {
  /** How long the active rules are kept before they are read again; 0 reads every time. */
  cacheMs: number;
  onInvalid?: InvalidRuleListener;
}

/** A value read at most once per `ttlMs`; concurrent callers share one read. */
function cached<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let value: { data: T; loadedAt: number } | null = null;
  let loading: Promise<T> | null = null;
  return () => {
    if (value && Date.now() - value.loadedAt < ttlMs) return Promise.resolve(value.data);
    loading ??= load()
      .then((data) => {
        value = { data, loadedAt: Date.now() };
        return data;
      })
      .finally(() => {
        loading = null;
      });
    return loading;
  };
}

export function ruleRepository(db: Kysely<Database>, options: RuleRepositoryOptions) {
  const onInvalid = options.onInvalid ?? (() => undefined);

  async function slackRules(activeOnly: boolean): Promise<StoredSlackRule[]> {
    let query = db.selectFrom('slack_rules').selectAll();
    if (activeOnly) query = query.where('is_active', '=', true);
    return (await query.orderBy('priority', 'desc').orderBy('name').execute()).map(storedSlackRule);
  }

  async function emailRules(activeOnly: boolean): Promise<StoredEmailRule[]> {
    let query = db.selectFrom('email_rules').selectAll();
    if (activeOnly) query = query.where('is_active', '=', true);
    return (await query.orderBy('priority', 'desc').orderBy('name').execute()).map(storedEmailRule);
  }

  async function webhookRules(activeOnly: boolean): Promise<StoredWebhookRule[]> {
    let query = db.selectFrom('webhook_rules').selectAll();
    if (activeOnly) query = query.where('is_active', '=', true);
    return (await query.orderBy('priority', 'desc').orderBy('name').execute()).map(storedWebhookRule);
  }

  function validOnly<R extends StoredRule>(kind: RuleKind, rules: R[]): R[] {
    return rules.filter((rule) => {
      if (rule.criteriaError !== null) onInvalid(kind, rule, `invalid match_criteria: ${rule.criteriaError}`);
      return rule.isActive;
    });
  }

  async function inhibitRules(): Promise<StoredInhibitRule[]> {
    const rows = await db.selectFrom('inhibit_rules').selectAll().orderBy('id').execute();
    return rows.flatMap((row) => {
      const rule = storedInhibitRule(row);
      if ('problem' in rule) {
        onInvalid('inhibit', row, rule.problem);
        return [];
      }
      return [rule];
    });
  }

  return {
    /** The active Slack rules with valid criteria, cached. */
    activeSlackRules: cached(options.cacheMs, async () => validOnly('slack', await slackRules(true))),
    /** The active email rules with valid criteria, cached. */
    activeEmailRules: cached(options.cacheMs, async () => validOnly('email', await emailRules(true))),
    /** The active webhook rules with valid criteria, cached. */
    activeWebhookRules: cached(options.cacheMs, async () => validOnly('webhook', await webhookRules(true))),
    /** The inhibition rules whose matchers validate, cached. */
    activeInhibitRules: cached(options.cacheMs, inhibitRules),
    /** Every Slack rule, inactive and invalid ones too (explain, previews), read now. */
    allSlackRules: () => slackRules(false),
    allEmailRules: () => emailRules(false),
    allWebhookRules: () => webhookRules(false),
    allInhibitRules: inhibitRules,
    slackRule: async (id: number) => {
      const row = await db.selectFrom('slack_rules').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? storedSlackRule(row) : null;
    },
    webhookRule: async (id: number) => {
      const row = await db.selectFrom('webhook_rules').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? storedWebhookRule(row) : null;
    },
    emailRule: async (id: number) => {
      const row = await db.selectFrom('email_rules').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? storedEmailRule(row) : null;
    },
  };
}

export type RuleRepository = ReturnType<typeof ruleRepository>;

/** A group that may be inhibited, or may inhibit. */
export interface InhibitionCandidate {
  groupId: number;
  labels: LabelSet;
}

/** The decision of whether `source` inhibits `target` under `rule` (libs/rules `inhibits`). */
export type InhibitsPredicate = (rule: StoredInhibitRule, source: InhibitionCandidate, target: InhibitionCandidate) => boolean;

export interface InhibitionFound {
  rule: StoredInhibitRule;
  sourceGroupId: number;
}

/** Source candidates read at once. */
export const INHIBITION_SCAN_BATCH = 200;

/**
 * The first firing group that inhibits `target` under one of `rules`, or null. The candidates
 * are read in PostgreSQL, in keyset batches of `INHIBITION_SCAN_BATCH` (never more in memory):
 * firing groups other than the target, with the target's values of the `equal` labels (a
 * missing label is "", as in Alertmanager) and the source's equality matchers — exact in SQL
 * and served by the GIN index on labels where a value is required. What SQL cannot say the
 * same way (RE2 regexes, the two-sided exclusion) is `inhibits`' to decide on each candidate.
 * Only rules whose target matchers hold for the target cost a query (`targetHolds`).
 */
export async function findInhibitingSource(
  db: Kysely<Database>,
  rules: readonly StoredInhibitRule[],
  target: InhibitionCandidate,
  predicates: { targetHolds: (rule: StoredInhibitRule, labels: LabelSet) => boolean; inhibits: InhibitsPredicate },
): Promise<InhibitionFound | null> {
  for (const rule of rules) {
    if (!predicates.targetHolds(rule, target.labels)) continue;
    const required: Record<string, string> = {};
    const conditions: ReturnType<typeof sql<SqlBool>>[] = [];
    // Each condition holds for every source that can inhibit the target: they only narrow the scan.
    const equalTo = (name: string, value: string) => {
      if (Object.hasOwn(required, name) && required[name] !== value) conditions.push(sql<SqlBool>`false`);
      else if (value === '') conditions.push(sql<SqlBool>`coalesce(labels ->> ${name}, '') = ''`);
      else required[name] = value;
    };
    for (const name of rule.equal) equalTo(name, Object.hasOwn(target.labels, name) ? (target.labels[name] ?? '') : '');
    for (const matcher of rule.sourceMatchers) {
      if (matcher.isRegex) continue;
      if (matcher.isEqual) equalTo(matcher.name, matcher.value);
      else conditions.push(sql<SqlBool>`coalesce(labels ->> ${matcher.name}, '') <> ${matcher.value}`);
    }
    if (Object.keys(required).length > 0) conditions.push(sql<SqlBool>`labels @> ${JSON.stringify(required)}::jsonb`);

    let afterId = 0;
    for (;;) {
      let query = db
        .selectFrom('alert_groups')
        .select(['id', 'labels'])
        .where('current_status', '=', 'firing')
        .where('id', '<>', target.groupId)
        .where('id', '>', afterId);
      for (const condition of conditions) query = query.where(condition);
      const batch = await query.orderBy('id').limit(INHIBITION_SCAN_BATCH).execute();
      for (const row of batch) {
        if (predicates.inhibits(rule, { groupId: row.id, labels: row.labels }, target)) return { rule, sourceGroupId: row.id };
      }
      const last = batch[batch.length - 1];
      if (!last || batch.length < INHIBITION_SCAN_BATCH) break;
      afterId = last.id;
    }
  }
  return null;
}

/**
 * The rules (of `ruleIds`) under which this episode's firing was told: a `sent` Slack
 * notification, a `completed` email. The policy tells their resolved notices even under a
 * silence or an inhibition.
 */
export async function firingsTold(
  db: Kysely<Database>,
  kind: 'slack' | 'email' | 'webhook',
  instanceId: number,
  ruleIds: readonly number[],
): Promise<Set<number>> {
  if (ruleIds.length === 0) return new Set();
  if (kind === 'webhook') {
    const rows = await db
      .selectFrom('notifications')
      .select('webhook_rule_id')
      .where('instance_id', '=', instanceId)
      .where('notifier', '=', 'webhook')
      .where('webhook_rule_id', '=', anyId(ruleIds))
      .where('kind', '=', 'firing')
      .where('status', '=', 'sent')
      .execute();
    return new Set(rows.flatMap((row) => (row.webhook_rule_id === null ? [] : [row.webhook_rule_id])));
  }
  const rows =
    kind === 'slack'
      ? await db
          .selectFrom('notifications')
          .select('rule_id')
          .where('instance_id', '=', instanceId)
          .where('rule_id', '=', anyId(ruleIds))
          .where('kind', '=', 'firing')
          .where('status', '=', 'sent')
          .execute()
      : await db
          .selectFrom('email_queue')
          .select('rule_id')
          .where('instance_id', '=', instanceId)
          .where('rule_id', '=', anyId(ruleIds))
          .where('kind', '=', 'firing')
          .where('status', '=', 'completed')
          .execute();
  return new Set(rows.flatMap((row) => (row.rule_id === null ? [] : [row.rule_id])));
}

/** A notification the policy held back: what identifies it, and why. */
export interface HeldBackNotification {
  instanceId: number;
  ruleId: number;
  kind: 'firing' | 'resolved' | 'repeat' | 'escalation';
  groupId: number;
  /** The firing group that inhibits it. */
  inhibitedByGroupId: number;
  /** The inhibition in words (stored in `last_error`). */
  reason: string;
}

/**
 * Records an inhibited Slack notification (status `inhibited`, naming its source); false when
 * the notification already has a row (a redelivered event, or one recorded before).
 */
export async function recordInhibitedNotification(db: Kysely<Database>, held: HeldBackNotification & { channel: string; text: string }): Promise<boolean> {
  const row = await db
    .insertInto('notifications')
    .values({
      channel: held.channel,
      rule_id: held.ruleId,
      group_id: held.groupId,
      instance_id: held.instanceId,
      kind: held.kind,
      status: 'inhibited',
      text: held.text,
      last_error: held.reason,
      inhibited_by_group_id: held.inhibitedByGroupId,
      updated_at: new Date(),
    })
    .onConflict((oc) => oc.expression(sql`instance_id, notifier, coalesce(rule_id, 0), coalesce(webhook_rule_id, 0), kind, sequence`).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** The same for an email: an `email_queue` row with status `inhibited` that the sender never picks. */
export async function recordInhibitedEmail(
  db: Kysely<Database>,
  held: HeldBackNotification & { recipients: string[]; subject: string; text: string; html: string | null },
): Promise<boolean> {
  const result = await sql`
    insert into email_queue (rule_id, group_id, instance_id, kind, recipients, subject, body_text, body_html, status, last_error, inhibited_by_group_id)
    values (${held.ruleId}, ${held.groupId}, ${held.instanceId}, ${held.kind}, ${held.recipients}::text[], ${held.subject}, ${held.text}, ${held.html}, 'inhibited', ${held.reason}, ${held.inhibitedByGroupId})
    on conflict (instance_id, coalesce(rule_id, 0), kind, sequence) where instance_id is not null do nothing`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}
