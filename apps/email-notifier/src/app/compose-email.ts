import type { AlertChange } from '@sentryhub/contracts';
import type { EmailRule } from '@sentryhub/db';
import { renderOrFallback, templateContext } from '@sentryhub/rules';

export interface ComposedEmail {
  subject: string;
  text: string;
  html: string;
  templateError: string | null;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);

/**
 * Subject and body of an email rule for a change (Liquid, the context of SPEC section 6). The
 * body is one template: sent as plain text, and as HTML with its text escaped and its lines
 * kept. A template that fails gives the safe default text that says so: never no email.
 */
export function composeEmail(rule: Pick<EmailRule, 'name' | 'subject_template' | 'body_template'>, change: AlertChange): ComposedEmail {
  const context = templateContext(change.group, change.instance);
  const subject = renderOrFallback(rule.subject_template, context, rule.name);
  const body = renderOrFallback(rule.body_template, context, rule.name);
  const text = body.text;
  const html = `<!doctype html><html><body><div style="font-family: sans-serif; white-space: pre-wrap">${escapeHtml(text)}</div></body></html>`;
  const templateError = subject.failed ? subject.error : body.failed ? body.error : null;
  // A subject is one line: a template may not smuggle headers in.
  return { subject: subject.text.replace(/[\r\n]+/g, ' ').slice(0, 300), text, html, templateError };
}
