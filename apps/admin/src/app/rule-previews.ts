/**
 * Rule previews in the admin: a rule body's templates checked before it is stored, a stored
 * group pictured as the notifiers see it, and the Slack message or email a rule makes of it
 * (rule preview, draft preview, explain).
 */
import { groupSnapshot, instanceFields, instanceSnapshot } from '@sentryhub/alert-state';
import type { EmailRuleBody, GroupSnapshot, InstanceSnapshot, SlackRuleBody } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance, EmailRule, SlackRule } from '@sentryhub/db';
import { composeGroupMessage, composeMessage, groupKeyOf, groupLabelsOf, renderOrFallback, templateContext, templateError } from '@sentryhub/rules';

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
export function snapshotOf(group: AlertGroup, instance: AlertInstance | undefined, silenced: { silenced: boolean; until: Date | null }): { group: GroupSnapshot; instance: InstanceSnapshot } {
  return {
    group: groupSnapshot(group, silenced),
    instance: instanceSnapshot(
      instance ? instanceFields(instance) : { id: 0, status: group.current_status, startsAt: group.first_occurrence, endsAt: null, annotations: {}, generatorUrl: null, resolutionType: null },
    ),
  };
}

/** The Slack message of a rule for a snapshot: the notifier's own composition (libs/rules). */
export function renderSlack(rule: SlackRule, snapshot: { group: GroupSnapshot; instance: InstanceSnapshot }, kind: 'firing' | 'resolved', defaultChannel: string) {
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

/**
 * A grouped Slack rule's messages for several groups, as the slack-notifier's group flush makes
 * them (libs/rules `composeGroupMessage`): the groups bucketed by the rule's `groupBy`, each
 * bucket one message, each alert as firing or resolved (`kind`, else its group's status).
 */
export function renderSlackGroups(rule: SlackRule, snapshots: { group: GroupSnapshot; instance: InstanceSnapshot }[], kind: 'firing' | 'resolved' | undefined, defaultChannel: string) {
  if (!rule.group_by) return { error: `slack rule ${rule.id} has no groupBy: each alert is its own message (use /preview)` };
  const buckets = new Map<string, { group: GroupSnapshot; instance: InstanceSnapshot }[]>();
  for (const snapshot of snapshots) {
    const key = groupKeyOf(rule.group_by, snapshot.group.labels) ?? '';
    buckets.set(key, [...(buckets.get(key) ?? []), snapshot]);
  }
  const template = { ruleName: rule.name, source: rule.message_template, resolvedSource: rule.resolved_message_template, escape: 'slack' as const };
  return {
    messages: [...buckets].map(([groupKey, members]) => {
      const alerts = members.map((snapshot) => {
        const status = kind ?? snapshot.group.status;
        const message = renderSlack(rule, snapshot, status, defaultChannel);
        return { message, entry: { status, labels: snapshot.group.labels, annotations: snapshot.instance.annotations, startsAt: snapshot.instance.startsAt, endsAt: status === 'resolved' ? snapshot.instance.endsAt : null, text: message.text } };
      });
      const composed = composeGroupMessage(groupKey, alerts.map((alert) => alert.entry), template);
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
