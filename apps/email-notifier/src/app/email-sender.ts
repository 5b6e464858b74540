import { backoffDelay, Counter, type Logger, type Registry } from '@sentryhub/service-runtime';
import type { EmailQueue } from './email-queue';
import type { Mailer } from './mailer';

export interface SenderOptions {
  queue: EmailQueue;
  mailer: Mailer;
  logger: Logger;
  registry: Registry;
  maxAttempts: number;
  retryDelayMs: number;
  pollMs: number;
  /** A claim older than this is taken over (its sender died mid-send). */
  leaseMs?: number;
  batchSize?: number;
}

const MAX_BACKOFF_MS = 600_000;

/** The wait before attempt n+1: retryDelayMs, doubling, at most 10 minutes. */
export const backoffMs = (attempts: number, retryDelayMs: number) => backoffDelay(Math.max(0, attempts - 1), { baseMs: retryDelayMs, maxMs: MAX_BACKOFF_MS });

/**
 * Sends due emails from `email_queue`: claim, send through the mailer, then completed, or
 * pending again after a back-off, or failed after `maxAttempts` with the last error. Polls every
 * `pollMs` and when woken. Returns wake and stop.
 */
export function startEmailSender(options: SenderOptions) {
  const { queue, mailer, logger } = options;
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  const sent = new Counter({
    name: 'sentryhub_emails_total',
    help: 'Email attempts by outcome (completed, retry, failed)',
    labelNames: ['outcome'] as const,
    registers: [options.registry],
  });
  let stopped = false;
  let running: Promise<void> | null = null;
  let again = false;

  async function drain(): Promise<void> {
    for (;;) {
      const rows = await queue.claimDue(options.batchSize ?? 20, leaseMs);
      if (rows.length === 0) return;
      await Promise.all(
        rows.map(async (row) => {
          const log = logger.child({ emailId: row.id, groupId: row.group_id, attempt: row.attempts });
          try {
            await mailer.send(
              { to: row.recipients, subject: row.subject, text: row.body_text, html: row.body_html ?? row.body_text, attachments: row.attachments as [] },
              log,
            );
            await queue.completed(row.id);
            sent.inc({ outcome: 'completed' });
            log.info({ to: row.recipients.length, via: mailer.mode }, 'email sent');
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            const last = row.attempts >= options.maxAttempts;
            await queue.attemptFailed(row.id, message.slice(0, 2_000), last ? null : backoffMs(row.attempts, options.retryDelayMs));
            sent.inc({ outcome: last ? 'failed' : 'retry' });
            log.warn({ err: error, final: last }, last ? 'email failed for good' : 'email attempt failed; will retry');
          }
        }),
      );
      if (stopped) return;
    }
  }

  function wake(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((error: unknown) => logger.warn({ err: error }, 'email sender pass failed; next poll retries'))
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          wake();
        }
      });
  }

  const timer = setInterval(wake, options.pollMs);
  timer.unref();
  wake();
  return {
    wake,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
