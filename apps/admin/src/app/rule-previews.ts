/**
 * Rule previews in the admin: a rule body's templates checked before it is stored, a stored
 * group pictured as the notifiers see it, and the Slack message or email a rule makes of it
 * (rule preview, draft preview, explain).
 */
import { groupSnapshot, instanceFields, instanceSnapshot } from '@sentryhub/alert-state';
import type { EmailRuleBody, GroupSnapshot, InstanceSnapshot, SlackRuleBody } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance, EmailRule, SlackRule } from '@sentryhub/db';
import {
  composeGroupEmail,
  composeGroupMessage,
  composeMessage,
  groupKeyOf,
  groupLabelsOf,
  renderOrFallback,
  templateContext,
  templateError,
} from '@sentryhub/rules';

/** The templates of a rule body that must parse, with the field each one came from. */
export function templateProblems(templates: Record<string, string | null>): { path: string; message: string }[] {
  return Object.entries(templates).flatMap(([path, source]) => {
    const error = source === null ? null : templateError(source);
    return error ? [{ path, message: `template does not parse: ${error}` }] : [];
  });
}

export const slackTemplates = (body: SlackRuleBody) => ({ messageTemplate: body.messageTemplate, resolvedMessageTemplate: body.resolvedMessageTemplate });
export const emailTemplates = (body: EmailRuleBody) => ({ subjectTemplate: body.subjectTemplate, bodyTemplate: body.bodyTemplate });

/**
 * A stored group and instance as the notifiers see them in `alert.processed` (the snapshot of
 * libs/alert-state); a group without a stored episode is pictured by its first occurrence.
 */
export function snapshotOf(
  group: AlertGroup,
  instance: AlertInstance | undefined,
  silenced: { silenced: boolean; until: Date | null },
): { group: GroupSnapshot; instance: InstanceSnapshot } {
  return {
    group: groupSnapshot(group, silenced),
    instance: instanceSnapshot(
      instance
        ? instanceFields(instance)
        : { id: 0, status: group.current_status, startsAt: group.first_occurrence, endsAt: null, annotations: {}, generatorUrl: null, resolutionType: null },
    ),
  };
}

/** The Slack message of a rule for a snapshot: the notifier's own composition (libs/rules). */
export function renderSlack(
  rule: SlackRule,
  snapshot: { group: GroupSnapshot; instance: InstanceSnapshot },
  kind: 'firing' | 'resolved',
  defaultChannel: string,
) {
  const messageRule = {
    name: rule.name,
    slackChannel: rule.slack_channel,
    messageTemplate: rule.message_template,
    resolvedMessageTemplate: rule.resolved_message_template,
    replaceIpAddresses: rule.replace_ip_addresses,
  };
  return composeMessage(messageRule, { group: snapshot.group, instance: { ...snapshot.instance, status: kind } }, defaultChannel);
}

export function renderEmail(rule: EmailRule, snapshot: { group: GroupSnapshot; instance: InstanceSnapshot }, kind: 'firing' | 'resolved') {
  const context = templateContext(snapshot.group, { ...snapshot.instance, status: kind });
  return { subject: renderOrFallback(rule.subject_template, context, rule.name), body: renderOrFallback(rule.body_template, context, rule.name) };
}

type RuleSnapshot = { group: GroupSnapshot; instance: InstanceSnapshot };

/**
 * The snapshots bucketed by a rule's `groupBy` as the notifiers bucket them (libs/rules
 * `groupKeyOf`): one bucket per group key, in the order the groups were given.
 */
export function groupBuckets(groupBy: readonly string[], snapshots: readonly RuleSnapshot[]): [string, RuleSnapshot[]][] {
  const buckets = new Map<string, RuleSnapshot[]>();
  for (const snapshot of snapshots) {
    const key = groupKeyOf(groupBy, snapshot.group.labels) ?? '';
    buckets.set(key, [...(buckets.get(key) ?? []), snapshot]);
  }
  return [...buckets];
}

/** One alert of a group message, as its row tells it: firing or resolved (`kind`, else its group's status). */
export function entryOf(snapshot: RuleSnapshot, kind: 'firing' | 'resolved' | undefined, text: string) {
  const status = kind ?? snapshot.group.status;
  return {
    status,
    labels: snapshot.group.labels,
    annotations: snapshot.instance.annotations,
    startsAt: snapshot.instance.startsAt,
    endsAt: status === 'resolved' ? snapshot.instance.endsAt : null,
    text,
  };
}

/**
 * A grouped Slack rule's messages for several groups, as the slack-notifier's group flush makes
 * them (libs/rules `composeGroupMessage`): the groups bucketed by the rule's `groupBy`, each
 * bucket one message, each alert as firing or resolved (`kind`, else its group's status).
 */
export function renderSlackGroups(
  rule: SlackRule & { group_by: string[] },
  snapshots: RuleSnapshot[],
  kind: 'firing' | 'resolved' | undefined,
  defaultChannel: string,
) {
  const template = { ruleName: rule.name, source: rule.message_template, resolvedSource: rule.resolved_message_template, escape: 'slack' as const };
  return {
    messages: groupBuckets(rule.group_by, snapshots).map(([groupKey, members]) => {
      const alerts = members.map((snapshot) => {
        const message = renderSlack(rule, snapshot, kind ?? snapshot.group.status, defaultChannel);
        return { message, entry: entryOf(snapshot, kind, message.text) };
      });
      const composed = composeGroupMessage(
        groupKey,
        alerts.map((alert) => alert.entry),
        template,
      );
      return {
        groupKey,
        groupLabels: groupLabelsOf(groupKey),
        groupIds: members.map((snapshot) => snapshot.group.id),
        rendered: composed.rendered,
        text: composed.text,
        failed: composed.templateError !== null,
        ...(composed.templateError === null ? {} : { error: composed.templateError }),
        channel: alerts[0]?.message.channel ?? defaultChannel,
      };
    }),
  };
}

/**
 * A grouped email rule's emails for several groups, as the email-notifier's group flush makes
 * them (libs/rules `composeGroupEmail`): the body template as a group template (rendered once
 * with the group) or the title, then each alert's own body; the subject a group template too,
 * else the title (`[FIRING:3] HighCPU (team=ops)`).
 */
export function renderEmailGroups(rule: EmailRule & { group_by: string[] }, snapshots: RuleSnapshot[], kind: 'firing' | 'resolved' | undefined) {
  return {
    messages: groupBuckets(rule.group_by, snapshots).map(([groupKey, members]) => {
      const entries = members.map((snapshot) => entryOf(snapshot, kind, renderEmail(rule, snapshot, kind ?? snapshot.group.status).body.text));
      const email = composeGroupEmail(rule, groupKey, entries);
      return {
        groupKey,
        groupLabels: groupLabelsOf(groupKey),
        groupIds: members.map((snapshot) => snapshot.group.id),
        rendered: email.rendered,
        subject: email.subject,
        text: email.text,
        failed: email.templateError !== null,
        ...(email.templateError === null ? {} : { error: email.templateError }),
        channel: rule.recipients.join(', '),
      };
    }),
  };
}
