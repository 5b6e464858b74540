import type { Logger } from 'pino';

export type ShutdownStep = { name: string; run: () => Promise<unknown> };

/**
 * On SIGTERM or SIGINT: run the steps in order (stop taking work, finish in-flight, close the
 * broker and the pool), then exit 0. A step that hangs past the deadline ends the process with 1.
 */
export function handleShutdown(logger: Logger, steps: ShutdownStep[], deadlineMs = 9_000): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown took too long; exiting');
      process.exit(1);
    }, deadlineMs);
    timer.unref();
    for (const step of steps) {
      try {
        await step.run();
      } catch (error) {
        logger.warn({ err: error, step: step.name }, 'shutdown step failed');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
