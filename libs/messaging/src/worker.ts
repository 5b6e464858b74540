import {
  createLogger,
  createMetricsRegistry,
  rabbitmqUrls,
  Readiness,
  serviceLifecycle,
  startHealthServer,
  type Logger,
  type RabbitmqParts,
  type Registry,
  type ShutdownStep,
} from '@sentryhub/service-runtime';
import { connectWithRetry, type Messaging } from './broker';
import type { Subscription } from './subscriber';
import { buildBrokerConfig, type TopologyOptions } from './topology';

export interface WorkerConfig extends RabbitmqParts {
  LOG_LEVEL: string;
  RABBITMQ_RETRY_DELAY: number;
  MESSAGE_RETRY_DELAYS_MS: readonly number[];
  HEALTH_PORT: number;
}

export interface WorkerContext {
  logger: Logger;
  registry: Registry;
  readiness: Readiness;
  messaging: Messaging;
}

export interface WorkerSpec<C extends WorkerConfig> {
  name: string;
  config: C;
  topology: Omit<TopologyOptions, 'url' | 'retryDelayMs'>;
  /** Readiness components beyond `broker` and `subscriptions` (for example `database`). */
  components?: string[];
  /** Opens what the worker needs (database pool...) and returns the steps that close it. */
  open?: (context: Omit<WorkerContext, 'messaging'>) => Promise<ShutdownStep[]>;
  /** Subscribes the worker's handlers. */
  subscribe: (context: WorkerContext) => Promise<Subscription[]>;
}

/**
 * The life of every queue worker: health server first (so /readyz can say "not ready"),
 * then its resources, then the broker (retried until it connects or the worker is told to
 * stop), then subscriptions. On SIGTERM or SIGINT (serviceLifecycle of libs/service-runtime,
 * as every service): stop consuming, let in-flight messages finish, close the broker, then the
 * resources and the health server; exit 0.
 */
export async function runWorker<C extends WorkerConfig>(spec: WorkerSpec<C>): Promise<WorkerContext> {
  const { config } = spec;
  const logger = createLogger(spec.name, config.LOG_LEVEL);
  const registry = createMetricsRegistry(spec.name);
  const readiness = new Readiness(['broker', 'subscriptions', ...(spec.components ?? [])]);
  const lifecycle = serviceLifecycle(logger);
  const health = await startHealthServer(config.HEALTH_PORT, logger, { readiness, registry });
  const closeResources = (await spec.open?.({ logger, registry, readiness })) ?? [];

  let messaging: Messaging | null = null;
  let subscriptions: Subscription[] = [];
  lifecycle.onStop(
    { name: 'subscriptions', run: () => Promise.all(subscriptions.map((subscription) => subscription.cancel())) },
    { name: 'broker', run: async () => messaging?.shutdown() },
    ...closeResources,
    { name: 'health server', run: () => health.close() },
  );

  const retryDelayMs = config.RABBITMQ_RETRY_DELAY * 1000;
  const retryDelaysMs = config.MESSAGE_RETRY_DELAYS_MS;
  messaging = await connectWithRetry(buildBrokerConfig({ ...spec.topology, url: rabbitmqUrls(config), retryDelayMs, retryDelaysMs }), {
    logger,
    retryDelaysMs,
    status: readiness,
    registry,
    retryDelayMs,
    stopped: lifecycle.stopping,
  });
  const context = { logger, registry, readiness, messaging };
  subscriptions = await spec.subscribe(context);
  readiness.ready('subscriptions');
  logger.info({ queues: spec.topology.consumes }, 'worker started');
  return context;
}
