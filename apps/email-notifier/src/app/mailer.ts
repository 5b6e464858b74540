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
 * nodemailer never reads a file or fetches a URL for a message: an attachment (or any content)
 * given as `path` or `href` is refused with an error. They are set in the transport's options,
 * after SMTP_URL's own query, so that a URL cannot switch them off; nodemailer forces the
 * transport's value onto every message.
 */
export const SANDBOX_OPTIONS = { disableFileAccess: true, disableUrlAccess: true } as const;

/**
 * nodemailer over SMTP_URL (TLS and auth as the URL says), pooled, without file or URL access;
 * without SMTP_URL, emails are written to the log, the embedded default like the Slack sink.
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
  for (const [option, value] of Object.entries(SANDBOX_OPTIONS)) url.searchParams.set(option, String(value));
  const transport = nodemailer.createTransport(url.toString(), { from, ...SANDBOX_OPTIONS });
  return {
    mode: 'smtp',
    async send(email) {
      await transport.sendMail({ from, to: email.to, subject: email.subject, text: email.text, html: email.html, attachments: email.attachments ?? [] });
    },
    close: () => transport.close(),
  };
}
