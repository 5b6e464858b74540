import { backoffDelay } from '@sentryhub/service-runtime';
import { sql, type Kysely } from 'kysely';

export interface DatabaseStatusListener {
  ready(component: string): void;
  notReady(component: string, reason: string): void;
}

interface WarnLogger {
  warn(object: object, message: string): void;
  info(message: string): void;
}

/**
 * Waits until the database answers (retrying with back-off, a log line per attempt), then
 * pings it every `intervalMs` so that `/readyz` tells the truth. Returns a stop function.
 */
export async function watchDatabase<T>(db: Kysely<T>, status: DatabaseStatusListener, logger: WarnLogger, intervalMs = 5_000): Promise<() => void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sql`select 1`.execute(db);
      break;
    } catch (error) {
      const delayMs = backoffDelay(attempt - 1, { baseMs: 1_000, maxMs: 30_000 });
      status.notReady('database', `cannot reach PostgreSQL: ${(error as Error).message}`);
      logger.warn({ err: error, attempt, delayMs }, 'cannot reach PostgreSQL; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
  status.ready('database');
  logger.info('database reachable');
  let healthy = true;
  const timer = setInterval(() => {
    sql`select 1`.execute(db).then(
      () => {
        if (!healthy) logger.info('database reachable again');
        healthy = true;
        status.ready('database');
      },
      (error: Error) => {
        healthy = false;
        status.notReady('database', `PostgreSQL ping failed: ${error.message}`);
        logger.warn({ err: error }, 'PostgreSQL ping failed');
      },
    );
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
