import type { Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { relayOutbox } from './outbox-relay';

/** Leftover rows are those older than this: younger ones are still being published by their batch. */
const LEFTOVER_AGE_MS = 10_000;

/** Every `intervalMs`, publishes outbox events that their batch could not. Returns a stop function. */
export function startOutboxSweeper(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, logger: Logger, intervalMs: number): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = relayOutbox(db, messaging, { olderThanMs: LEFTOVER_AGE_MS, limit: 500 }).then(
      (count) => count > 0 && logger.info({ events: count }, 'outbox relay published leftover events'),
      (error: unknown) => logger.warn({ err: error }, 'outbox relay failed; will retry'),
    );
  }, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
