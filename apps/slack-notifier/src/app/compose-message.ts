import type { AlertChange } from '@sentryhub/contracts';
import { renderOrFallback, templateContext, truncateMessage } from '@sentryhub/rules';
import type { ActiveSlackRule } from './rule-store';

export interface ComposedMessage {
  channel: string;
  text: string;
  /** Why the rule's template could not be used (the text is then the safe default), or null. */
  templateError: string | null;
}

/** Rule channel, else the group's `channel` label, else SLACK_DEFAULT_CHANNEL (SPEC section 6). */
export function pickChannel(rule: ActiveSlackRule, change: AlertChange, defaultChannel: string): string {
  return rule.slackChannel?.trim() || change.group.labels['channel']?.trim() || defaultChannel;
}

/**
 * The text of a change under its rule: the resolved template (else the firing one) for a
 * resolved change. A template that fails, or renders nothing Slack would accept, gives a
 * safe default message that says so: the notification is never dropped.
 */
export function composeMessage(rule: ActiveSlackRule, change: AlertChange, defaultChannel: string): ComposedMessage {
  const resolved = change.instance.status === 'resolved';
  const template = resolved ? (rule.resolvedMessageTemplate ?? rule.messageTemplate) : rule.messageTemplate;
  const channel = pickChannel(rule, change, defaultChannel);
  const rendered = renderOrFallback(template, templateContext(change.group, change.instance), rule.name);
  if (rendered.failed) return { channel, text: rendered.text, templateError: rendered.error };
  if (rendered.text.trim() === '') {
    const text = truncateMessage(
      `[SentryHub] The template of rule "${rule.name}" rendered an empty message. ` +
        `Alert ${change.group.name} is ${change.instance.status} (severity ${change.group.severity}).`,
    );
    return { channel, text, templateError: 'the template rendered an empty message' };
  }
  return { channel, text: rendered.text, templateError: null };
}
