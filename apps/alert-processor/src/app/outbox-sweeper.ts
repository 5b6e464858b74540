import type { Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { DEFAULT_RELAY_OPTIONS, relayOutbox, type RelayOptions } from './outbox-relay';

/** Leftover rows are those older than this: younger ones are still being published by their batch. */
export const LEFTOVER_AGE_MS = 10_000;
/** Rows per relay transaction. */
export const SWEEP_PAGE_ROWS = 500;
/** At most this many pages per sweep: a long backlog is worked off over several sweeps. */
const MAX_PAGES_PER_SWEEP = 20;

export interface SweeperOptions {
  intervalMs: number;
  relay?: RelayOptions;
  /** Leftover age; LEFTOVER_AGE_MS by default (shorter only in tests). */
  leftoverAgeMs?: number;
  pageRows?: number;
}

/**
 * One sweep: pages of leftover rows in id order, from a cursor. A row that could not go (and
 * was put back) is passed over for the rest of the sweep, so the rows after it are still
 * published; the next sweep starts from the oldest again and retries it once. The sweep stops
 * early only when nothing of a page could go for want of a broker.
 */
export function outboxSweep(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, logger: Logger, options: Omit<SweeperOptions, 'intervalMs'> = {}) {
  const relay = options.relay ?? DEFAULT_RELAY_OPTIONS;
  const olderThanMs = options.leftoverAgeMs ?? LEFTOVER_AGE_MS;
  const limit = options.pageRows ?? SWEEP_PAGE_ROWS;
  return async (): Promise<{ published: number; setAside: number; kept: number }> => {
    const total = { published: 0, setAside: 0, kept: 0 };
    let afterId = 0;
    for (let page = 0; page < MAX_PAGES_PER_SWEEP; page++) {
      const result = await relayOutbox(db, messaging, { olderThanMs, limit, afterId }, relay);
      total.published += result.published;
      total.setAside += result.setAside;
      total.kept += result.kept;
      if (result.lastId === null || result.rows < limit) break;
      if (result.unavailable === result.rows) break;
      afterId = result.lastId;
    }
    if (total.published + total.setAside > 0 || total.kept > 0) logger.info(total, 'outbox relay published leftover events');
    return total;
  };
}

/** Every `intervalMs`, publishes outbox events that their batch could not. Returns a stop function. */
export function startOutboxSweeper(db: Kysely<Database>, messaging: Pick<Messaging, 'publish'>, logger: Logger, options: SweeperOptions): () => Promise<void> {
  const sweep = outboxSweep(db, messaging, logger, options);
  let running: Promise<unknown> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    // A sweep that outlasts the interval is not overlapped by the next one.
    if (busy) return;
    busy = true;
    running = sweep()
      .catch((error: unknown) => logger.warn({ err: error }, 'outbox relay failed; will retry'))
      .finally(() => (busy = false));
  }, options.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
