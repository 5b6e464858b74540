import type { Logger } from '@sentryhub/service-runtime';
import nodemailer from 'nodemailer';

export interface OutgoingEmail {
  to: string[];
  subject: string;
  text: string;
  html: string;
  attachments?: { filename?: string; path?: string; content?: string }[];
}

export interface Mailer {
  readonly mode: 'smtp' | 'log';
  send(email: OutgoingEmail, logger: Logger): Promise<void>;
  close(): void;
}

/**
 * nodemailer over SMTP_URL (TLS and auth as the URL says), pooled; without SMTP_URL, emails are
 * written to the log, the embedded default like the Slack sink.
 */
export function createMailer(smtpUrl: string | undefined, from: string, timeoutMs: number): Mailer {
  if (!smtpUrl) {
    return {
      mode: 'log',
      async send(email, logger) {
        logger.info({ emailSink: true, to: email.to, subject: email.subject, text: email.text }, 'email (sink: SMTP_URL is not set)');
      },
      close: () => undefined,
    };
  }
  const url = new URL(smtpUrl);
  url.searchParams.set('pool', 'true');
  for (const timeout of ['connectionTimeout', 'greetingTimeout', 'socketTimeout']) url.searchParams.set(timeout, String(timeoutMs));
  const transport = nodemailer.createTransport(url.toString(), { from });
  return {
    mode: 'smtp',
    async send(email) {
      await transport.sendMail({ from, to: email.to, subject: email.subject, text: email.text, html: email.html, attachments: email.attachments ?? [] });
    },
    close: () => transport.close(),
  };
}
