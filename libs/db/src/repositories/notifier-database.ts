import { AlertProcessed } from '@sentryhub/contracts';
import type { ShutdownStep } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { createDb } from '../create-db';
import { watchDatabase, type DatabaseStatusListener } from '../database-health';
import { isDatabaseUnavailable } from '../errors';
import type { Database, NotificationTimer } from '../schema';
import { timerLoop, type TimerLoopLogger, type TimerNotifier, type TimerOutcome } from './timers';

export interface NotifierDatabaseOptions {
  /** Whose timers the replica works on; the pool's `application_name` is `<notifier>-notifier`. */
  notifier: TimerNotifier;
  /** DATABASE_URL. */
  url: string;
  /** DATABASE_POOL_SIZE. */
  poolSize: number;
  /** DATABASE_PREPARED_STATEMENTS. */
  preparedStatements?: number;
  /** The `database` component of `/readyz`. */
  readiness: DatabaseStatusListener;
  logger: TimerLoopLogger & Parameters<typeof watchDatabase>[2];
}

/** A notifier replica's database: the pool, its timer loop, and their shutdown steps. */
export interface NotifierDatabase {
  db: Kysely<Database>;
  /**
   * Starts the replica's timer loop (repeats, escalations, held-back firings and group flushes:
   * timers in PostgreSQL, shared by the replicas) with the notifier's handler; the step stops it
   * and waits for the timers in hand.
   */
  startTimers(handle: (timer: NotificationTimer) => Promise<TimerOutcome>): ShutdownStep;
  /** The last shutdown step: stops the readiness ping and closes the pool. */
  close: ShutdownStep;
}

/**
 * What every notifier's `open` (libs/messaging `runWorker`) starts with: the pool, once the
 * database answers (`watchDatabase`, which then keeps `/readyz` truthful).
 */
export async function openNotifierDatabase(options: NotifierDatabaseOptions): Promise<NotifierDatabase> {
  const db = createDb(options.url, {
    maxConnections: options.poolSize,
    applicationName: `${options.notifier}-notifier`,
    preparedStatements: options.preparedStatements,
  });
  const stopWatching = await watchDatabase(db, options.readiness, options.logger);
  return {
    db,
    startTimers(handle) {
      const timers = timerLoop({ db, notifier: options.notifier, handle, logger: options.logger });
      timers.start();
      return { name: 'timers', run: () => timers.stop() };
    },
    close: { name: 'database', run: () => (stopWatching(), db.destroy()) },
  };
}

/**
 * The options of a notifier's subscription (libs/messaging `subscribe`) to its `alert.processed`
 * queue: events parsed as `AlertProcessed`, at most `maxParsedBytes` of them parsed at once
 * (NOTIFIER_MAX_PENDING_BYTES); a database outage waits (the outage retry queue) without using up
 * the message's retries.
 */
export function alertProcessedSubscription<H, L>(queue: string, handler: H, logger: L, maxParsedBytes: number) {
  return { queue, parse: (json: unknown) => AlertProcessed.safeParse(json), dependencyUnavailable: isDatabaseUnavailable, handler, logger, maxParsedBytes };
}
