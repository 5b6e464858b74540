import { createLogger } from '@sentryhub/service-runtime';
import { simpleParser, type ParsedMail } from 'mailparser';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMailer, type OutgoingEmail } from './mailer';

const logger = createLogger('mailer-test', 'silent');
const SECRET = `SENTRYHUB_MAILER_SECRET_${process.pid}_${Date.now()}`;

/**
 * The email queue's rows carry an `attachments` column that reaches nodemailer as it is: a
 * `path` there would make nodemailer read a local file (or fetch a URL) into the email. With
 * file and URL access disabled it refuses instead; a local SMTP server and a local HTTP server
 * show that nothing was read, fetched or sent.
 */
describe('nodemailer runs without file and URL access', () => {
  let smtp: SMTPServer;
  let smtpUrl = '';
  const received: ParsedMail[] = [];
  let http: Server;
  let httpUrl = '';
  let httpHits = 0;
  let dir = '';
  let secretFile = '';

  beforeAll(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, _session, callback) {
        simpleParser(stream)
          .then((mail) => {
            received.push(mail);
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve));
    smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    http = createServer((_request, response) => {
      httpHits += 1;
      response.end(SECRET);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/secret.txt`;
    dir = mkdtempSync(join(tmpdir(), 'sentryhub-mailer-'));
    secretFile = join(dir, 'secret.txt');
    writeFileSync(secretFile, SECRET);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => smtp?.close(() => resolve()));
    await new Promise<void>((resolve) => http?.close(() => resolve()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const email = (attachments: OutgoingEmail['attachments']): OutgoingEmail => ({
    to: ['ops@example.com'],
    subject: 'DiskFull',
    text: 'disk full',
    html: '<p>disk full</p>',
    attachments,
  });

  it('sends an ordinary email, an inline-content attachment included (the setup works)', async () => {
    const mailer = createMailer(smtpUrl, 'SentryHub <sentryhub@example.com>', 5_000);
    try {
      await mailer.send(email([{ filename: 'note.txt', content: 'inline text' }]), logger);
    } finally {
      mailer.close();
    }
    expect(received).toHaveLength(1);
    expect(received[0]?.attachments.map((a) => a.content.toString())).toEqual(['inline text']);
  });

  it.each([
    ['a local file path', () => [{ filename: 'x.txt', path: secretFile }], /File access rejected for/],
    ['a relative file path', () => [{ filename: 'x.txt', path: 'package.json' }], /File access rejected for/],
    ['a file: URL', () => [{ filename: 'x.txt', path: `file://${secretFile}` }], /rejected for/],
    ['an http URL as path', () => [{ filename: 'x.txt', path: httpUrl }], /Url access rejected for/],
    ['an http URL as href', () => [{ filename: 'x.txt', href: httpUrl }], /Url access rejected for/],
  ] as const)('refuses an attachment given as %s: nothing read, fetched or sent', async (_what, attachments, error) => {
    // An SMTP_URL that tries to switch the sandbox off does not get to.
    for (const url of [smtpUrl, `${smtpUrl}?disableFileAccess=false&disableUrlAccess=false`]) {
      const mailer = createMailer(url, 'SentryHub <sentryhub@example.com>', 5_000);
      const before = received.length;
      try {
        await expect(mailer.send(email(attachments() as OutgoingEmail['attachments']), logger)).rejects.toThrow(error);
      } finally {
        mailer.close();
      }
      expect(received.length).toBe(before);
    }
    expect(httpHits).toBe(0);
    expect(received.every((mail) => !JSON.stringify(mail).includes(SECRET))).toBe(true);
  });
});
