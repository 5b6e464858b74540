import type { AlertChange } from '@sentryhub/contracts';
import type { EmailRule } from '@sentryhub/db';
import { composeGroupMessage, groupTitle, renderOrFallback, templateContext, usesGroupVariables, type GroupEntry } from '@sentryhub/rules';

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
  templateError: string | null;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
const htmlOf = (text: string) => `<!doctype html><html><body><div style="font-family: sans-serif; white-space: pre-wrap">${escapeHtml(text)}</div></body></html>`;

/**
 * Subject and body of an email rule for a change (Liquid, the context of docs/contracts.md §7.2). The
 * body is one template: sent as plain text, and as HTML with its text escaped and its lines
 * kept. A template that fails gives the safe default text that says so: never no email.
 */
export function composeEmail(rule: Pick<EmailRule, 'name' | 'subject_template' | 'body_template'>, change: AlertChange): ComposedEmail {
  const context = templateContext(change.group, change.instance);
  const subject = renderOrFallback(rule.subject_template, context, rule.name);
  const body = renderOrFallback(rule.body_template, context, rule.name);
  const text = body.text;
  const html = htmlOf(text);
  const templateError = subject.failed ? subject.error : body.failed ? body.error : null;
  // A subject is one line: a template may not smuggle headers in.
  return { subject: subject.text.replace(/[\r\n]+/g, ' ').slice(0, 300), text, html, templateError };
}

/**
 * One email for a group of a grouped rule (libs/rules `composeGroupMessage`): a body template
 * that uses a group variable (`alerts`, `group_labels`, `common_labels`, ...) is rendered once
 * with the group context; any other gives the Alertmanager-like title, then each alert's own
 * body. The subject likewise: a group subject template, else the title
 * (`[FIRING:3] HighCPU (team=ops)`).
 */
export function composeGroupEmail(rule: Pick<EmailRule, 'name' | 'subject_template' | 'body_template'>, groupKey: string, entries: readonly GroupEntry[]): ComposedEmail {
  const body = composeGroupMessage(groupKey, entries, { ruleName: rule.name, source: rule.body_template });
  const subject = usesGroupVariables(rule.subject_template)
    ? composeGroupMessage(groupKey, entries, { ruleName: rule.name, source: rule.subject_template })
    : { text: groupTitle(body.context), templateError: null, rendered: 'per-alert' as const };
  const subjectText = subject.templateError === null ? subject.text : groupTitle(body.context);
  return { subject: subjectText.replace(/[\r\n]+/g, ' ').slice(0, 300), text: body.text, html: htmlOf(body.text), templateError: body.templateError ?? subject.templateError };
}
