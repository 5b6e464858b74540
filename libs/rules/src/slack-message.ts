import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { replaceIpAddresses } from './ip-addresses';
import { escapeSlack, renderOrFallback, templateContext, truncateMessage } from './templates';

/** What composing a Slack message needs of a rule (the notifier, the admin preview and explain). */
export interface SlackMessageRule {
  name: string;
  slackChannel: string | null;
  messageTemplate: string;
  resolvedMessageTemplate: string | null;
  replaceIpAddresses: boolean;
}

/** A group and episode as `alert.processed` carries them. */
export interface SlackMessageSubject {
  group: GroupSnapshot;
  instance: InstanceSnapshot;
}

export interface ComposedMessage {
  channel: string;
  text: string;
  /** Why the rule's template could not be used (the text is then the safe default), or null. */
  templateError: string | null;
}

/** Rule channel, else the group's `channel` label, else SLACK_DEFAULT_CHANNEL (docs/contracts.md §7.1). */
export function pickChannel(rule: Pick<SlackMessageRule, 'slackChannel'>, change: Pick<SlackMessageSubject, 'group'>, defaultChannel: string): string {
  return rule.slackChannel?.trim() || change.group.labels['channel']?.trim() || defaultChannel;
}

/**
 * The text of a change under its rule: the resolved template (else the firing one) for a
 * resolved change. A template that fails, or renders nothing Slack would accept, gives a
 * safe default message that says so: the notification is never dropped. A rule with
 * `replace_ip_addresses` gets every IP address in the final text (the default one too)
 * replaced with `IP`. Every interpolated value is escaped for Slack (`&`, `<`, `>`): a
 * label cannot ping `<!channel>` or forge a link; the template's own text is kept.
 */
export function composeMessage(rule: SlackMessageRule, change: SlackMessageSubject, defaultChannel: string): ComposedMessage {
  const resolved = change.instance.status === 'resolved';
  const template = resolved ? (rule.resolvedMessageTemplate ?? rule.messageTemplate) : rule.messageTemplate;
  const channel = pickChannel(rule, change, defaultChannel);
  const finish = (text: string, templateError: string | null): ComposedMessage => ({
    channel,
    text: rule.replaceIpAddresses ? replaceIpAddresses(text) : text,
    templateError,
  });
  const rendered = renderOrFallback(template, templateContext(change.group, change.instance), rule.name, 'slack');
  if (rendered.failed) return finish(rendered.text, rendered.error);
  if (rendered.text.trim() === '') {
    const text = truncateMessage(
      `[SentryHub] The template of rule "${escapeSlack(rule.name)}" rendered an empty message. ` +
        `Alert ${escapeSlack(change.group.name)} is ${change.instance.status} (severity ${escapeSlack(change.group.severity)}).`,
    );
    return finish(text, 'the template rendered an empty message');
  }
  return finish(rendered.text, null);
}
