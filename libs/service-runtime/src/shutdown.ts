import type { Logger } from 'pino';

export type ShutdownStep = { name: string; run: () => Promise<unknown> };

/** The signals every service stops on, the same way for each. */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** How long the steps may take before the process gives up on them (inside Kubernetes' 10 s grace). */
export const SHUTDOWN_DEADLINE_MS = 9_000;

/** What the lifecycle needs of the process (a test passes its own). */
export interface LifecycleProcess {
  once(signal: (typeof STOP_SIGNALS)[number], listener: () => void): unknown;
  exit(code: number): void;
}

export interface ServiceLifecycle {
  /** True once a stop signal came: loops that wait for a dependency (connecting to RabbitMQ...) give up. */
  stopping(): boolean;
  /** Adds steps, run on stop after those added before. */
  onStop(...steps: ShutdownStep[]): void;
  /** Runs the steps now, as a signal would (once), then exits. */
  stop(reason: string): Promise<void>;
}

/**
 * The life of every SentryHub service (the HTTP apps and, through runWorker, the queue
 * workers). On SIGTERM or SIGINT: the steps run in the order they were added — stop taking
 * work (the HTTP server, the subscriptions), let what is in flight finish, close the broker,
 * then the database pool and the rest — and the process exits 0. A step that fails is logged
 * and the next one runs; steps that hang past `deadlineMs` end the process with 1.
 */
export function serviceLifecycle(logger: Logger, options: { deadlineMs?: number; process?: LifecycleProcess } = {}): ServiceLifecycle {
  const deadlineMs = options.deadlineMs ?? SHUTDOWN_DEADLINE_MS;
  const host: LifecycleProcess = options.process ?? process;
  const steps: ShutdownStep[] = [];
  let stopping = false;

  const stop = async (reason: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal: reason }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown took too long; exiting');
      host.exit(1);
    }, deadlineMs);
    timer.unref();
    for (const step of steps) {
      try {
        await step.run();
      } catch (error) {
        logger.warn({ err: error, step: step.name }, 'shutdown step failed');
      }
    }
    clearTimeout(timer);
    logger.info('stopped');
    host.exit(0);
  };
  for (const signal of STOP_SIGNALS) host.once(signal, () => void stop(signal));
  return { stopping: () => stopping, onStop: (...added) => void steps.push(...added), stop };
}
