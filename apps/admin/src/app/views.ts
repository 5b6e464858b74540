import type { AlertGroupView, EmailRuleView, MatchCriteria, SlackRuleView, WebhookRuleView } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance, EmailRule, Notification, SlackRule, WebhookRule } from '@sentryhub/db';
import { silenceState, type ActiveSilence } from '@sentryhub/rules';

/** Rows (snake_case) to API objects (camelCase), in one place. */
const iso = (value: Date | null) => (value === null ? null : value.toISOString());

export function groupView(row: AlertGroup, silences: readonly ActiveSilence[], now: Date): AlertGroupView {
  const silence = silenceState(silences, row.labels, now);
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    name: row.name,
    labels: row.labels,
    severity: row.severity,
    instance: row.instance,
    source: row.source,
    status: row.current_status,
    firingCount: row.firing_count,
    firstOccurrence: row.first_occurrence.toISOString(),
    lastOccurrence: row.last_occurrence.toISOString(),
    acknowledged: row.acknowledged,
    acknowledgedBy: row.acknowledged_by,
    acknowledgedAt: iso(row.acknowledged_at),
    silenced: silence.silenced,
    silencedUntil: iso(silence.until),
  };
}

export function instanceView(row: AlertInstance) {
  return {
    id: row.id,
    status: row.status,
    startsAt: row.starts_at.toISOString(),
    endsAt: iso(row.ends_at),
    annotations: row.annotations,
    generatorURL: row.generator_url,
    resolutionType: row.resolution_type,
    intakeSource: row.intake_source,
    leaseEndsAt: iso(row.lease_ends_at),
  };
}

export function notificationView(row: Notification) {
  return {
    id: row.id,
    channel: row.channel,
    ruleId: row.rule_id,
    groupId: row.group_id,
    instanceId: row.instance_id,
    kind: row.kind,
    sequence: row.sequence,
    status: row.status,
    attempts: row.attempts,
    lastError: row.last_error,
    text: row.text,
    sentAt: iso(row.sent_at),
    deliveredVia: row.delivered_via,
    notifier: row.notifier,
    webhookRuleId: row.webhook_rule_id,
    inhibitedByGroupId: row.inhibited_by_group_id,
    createdAt: row.created_at.toISOString(),
  };
}

const ruleCommon = (row: SlackRule | EmailRule | WebhookRule) => ({
  id: row.id,
  name: row.name,
  isActive: row.is_active,
  priority: row.priority,
  matchCriteria: row.match_criteria as MatchCriteria,
  sendResolved: row.send_resolved,
  continue: row.continue,
  repeatInterval: row.repeat_interval,
  escalateTo: row.escalate_to,
  escalateAfter: row.escalate_after,
  groupBy: row.group_by,
  groupWait: row.group_wait,
  groupInterval: row.group_interval,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

export function slackRuleView(row: SlackRule): SlackRuleView {
  return {
    ...ruleCommon(row),
    slackChannel: row.slack_channel,
    messageTemplate: row.message_template,
    resolvedMessageTemplate: row.resolved_message_template,
    replaceIpAddresses: row.replace_ip_addresses,
  };
}

export function emailRuleView(row: EmailRule): EmailRuleView {
  return { ...ruleCommon(row), recipients: row.recipients, subjectTemplate: row.subject_template, bodyTemplate: row.body_template };
}

export function webhookRuleView(row: WebhookRule): WebhookRuleView {
  return { ...ruleCommon(row), receiver: row.receiver, bodyTemplate: row.body_template, preset: row.preset };
}
