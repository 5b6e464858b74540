import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { composeGroupMessage, groupTitle, type GroupEntry, type GroupMessage } from './notification-policy';
import { renderOrFallback, templateContext, usesGroupVariables } from './templates';

/** An email rule's templates (an `email_rules` row's columns). */
export interface EmailTemplates {
  name: string;
  subject_template: string;
  body_template: string;
}

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
  templateError: string | null;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
const htmlOf = (text: string) =>
  `<!doctype html><html><body><div style="font-family: sans-serif; white-space: pre-wrap">${escapeHtml(text)}</div></body></html>`;

/** A subject is one line of at most 300 characters: a template may not smuggle headers in. */
const subjectLine = (text: string) => text.replace(/[\r\n]+/g, ' ').slice(0, 300);

/**
 * Subject and body of an email rule for a change (Liquid, the context of docs/contracts.md §7.2). The
 * body is one template: sent as plain text, and as HTML with its text escaped and its lines
 * kept. A template that fails gives the safe default text that says so: never no email.
 */
export function composeEmail(rule: EmailTemplates, change: { group: GroupSnapshot; instance: InstanceSnapshot }): ComposedEmail {
  const context = templateContext(change.group, change.instance);
  const subject = renderOrFallback(rule.subject_template, context, rule.name);
  const body = renderOrFallback(rule.body_template, context, rule.name);
  const templateError = subject.failed ? subject.error : body.failed ? body.error : null;
  return { subject: subjectLine(subject.text), text: body.text, html: htmlOf(body.text), templateError };
}

/**
 * One email for a group of a grouped rule (`composeGroupMessage`): a body template that uses a
 * group variable (`alerts`, `group_labels`, `common_labels`, ...) is rendered once with the
 * group context; any other gives the Alertmanager-like title, then each alert's own body. The
 * subject likewise: a group subject template, else (and when it fails) the title
 * (`[FIRING:3] HighCPU (team=ops)`). The email-notifier's group flush sends it; the admin's
 * grouped preview shows it.
 */
export function composeGroupEmail(rule: EmailTemplates, groupKey: string, entries: readonly GroupEntry[]): ComposedEmail & Pick<GroupMessage, 'rendered'> {
  const body = composeGroupMessage(groupKey, entries, { ruleName: rule.name, source: rule.body_template });
  const subject = usesGroupVariables(rule.subject_template)
    ? composeGroupMessage(groupKey, entries, { ruleName: rule.name, source: rule.subject_template })
    : null;
  return {
    subject: subjectLine(subject && subject.templateError === null ? subject.text : groupTitle(body.context)),
    text: body.text,
    html: htmlOf(body.text),
    templateError: body.templateError ?? subject?.templateError ?? null,
    rendered: body.rendered,
  };
}
