import type { Logger } from '@sentryhub/service-runtime';
import type { EmailQueue } from './email-queue';

const HOUR_MS = 3_600_000;

/** Deletes completed emails older than the retention, now and every hour. Returns a stop function. */
export function startHousekeeping(queue: EmailQueue, retentionDays: number, logger: Logger, intervalMs = HOUR_MS): () => void {
  const run = () =>
    queue.deleteCompletedBefore(new Date(Date.now() - retentionDays * 24 * HOUR_MS)).then(
      (deleted) => deleted > 0 && logger.info({ deleted, retentionDays }, 'deleted old completed emails'),
      (error: unknown) => logger.warn({ err: error }, 'email housekeeping failed; will retry'),
    );
  void run();
  const timer = setInterval(() => void run(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
