/**
 * Rule previews in the admin: a rule body's templates checked before it is stored, a stored
 * group pictured as the notifiers see it, and the Slack message or email a rule makes of it
 * (rule preview, draft preview, explain).
 */
import { groupSnapshot, instanceFields, instanceSnapshot } from '@sentryhub/alert-state';
import type { EmailRuleBody, GroupSnapshot, InstanceSnapshot, SlackRuleBody } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance, EmailRule, SlackRule } from '@sentryhub/db';
import { composeMessage, renderOrFallback, templateContext, templateError } from '@sentryhub/rules';

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
