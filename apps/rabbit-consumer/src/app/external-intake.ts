import { hostname } from 'node:os';
import { DEFAULT_INTAKE_MAX_FUTURE, parseDuration } from '@sentryhub/contracts';
import {
  MAX_RECONNECT_DELAY_MS,
  EXTERNAL_QUEUE_DECLARATION,
  subscribe,
  withRawConnection,
  type BrokerSocketOptions,
  type Messaging,
  type Subscription,
  type TopologyOptions,
} from '@sentryhub/messaging';
import { backoffDelay, type Logger, type Registry } from '@sentryhub/service-runtime';
import { readCaBundle } from './ca-bundle';
import type { ConsumerConfig } from './config';
import { externalMessageHandler, rejectedAlertsCounter } from './handle-external-message';
import { parseExternalMessage } from './parse-external-message';

type TopologyConfig = Pick<ConsumerConfig, 'RABBITMQ_EXTERNAL_QUEUE' | 'RABBITMQ_PREFETCH'> & Partial<Pick<ConsumerConfig, 'RABBITMQ_CA_FILE'>>;

/** What RabbitMQ shows for this process's connection, so that an operator can tell it apart. */
export const CONNECTION_NAME_PREFIX = 'sentryhub rabbit-consumer';
const connectionName = () => `${CONNECTION_NAME_PREFIX} ${hostname()} pid ${process.pid}`;

/**
 * The topology this service adds: the external queue (with `<queue>.dead`), consumed, over a
 * connection that carries a recognisable name and, with RABBITMQ_CA_FILE, checks an amqps://
 * broker against that CA bundle (for this connection only).
 */
export function externalIntakeTopology(
  config: TopologyConfig,
): Pick<TopologyOptions, 'externalQueue' | 'consumes' | 'prefetch' | 'socketOptions'> & { socketOptions: BrokerSocketOptions } {
  return {
    externalQueue: config.RABBITMQ_EXTERNAL_QUEUE,
    consumes: [config.RABBITMQ_EXTERNAL_QUEUE],
    prefetch: config.RABBITMQ_PREFETCH,
    socketOptions: {
      clientProperties: { connection_name: connectionName() },
      ...(config.RABBITMQ_CA_FILE ? { ca: readCaBundle(config.RABBITMQ_CA_FILE) } : {}),
    },
  };
}

/** How to reach the broker outside rascal: the same addresses and socket options as its connection. */
export interface BrokerAddress {
  /** One URL, or every node of a cluster (RABBITMQ_URLS, in order): the first that answers is used. */
  url: string | readonly string[];
  socketOptions?: BrokerSocketOptions;
}

const isNotFound = (error: unknown) => typeof error === 'object' && error !== null && 'code' in error && error.code === 404;

/**
 * Makes sure the external queue exists without ever re-declaring it: a queue that other
 * systems (or an earlier version of this service) declared is used as it is, whatever its
 * arguments; a missing one is declared as existing publishers declare it (EXTERNAL_QUEUE_DECLARATION).
 * A re-declaration with other arguments would be refused with 406 PRECONDITION_FAILED.
 */
export async function ensureExternalQueue(broker: BrokerAddress, queue: string): Promise<'found' | 'declared'> {
  const clientProperties = { ...broker.socketOptions?.clientProperties, connection_name: `${connectionName()} (declaring ${queue})` };
  // The first node of the cluster that answers; a refused check closes its channel with an error event, the awaited call reports it.
  return withRawConnection(broker.url, { socketOptions: { ...broker.socketOptions, clientProperties } }, async (connection) => {
    const check = await connection.createChannel();
    check.on('error', () => undefined);
    try {
      await check.checkQueue(queue);
      await check.close();
      return 'found';
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const declare = await connection.createChannel();
    await declare.assertQueue(queue, EXTERNAL_QUEUE_DECLARATION);
    await declare.close();
    return 'declared';
  });
}

/** ensureExternalQueue, retried with back-off (doubling up to MAX_RECONNECT_DELAY_MS, 15 s) until it works. */
async function ensureWithRetry(broker: BrokerAddress, queue: string, logger: Logger, retryDelayMs: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const outcome = await ensureExternalQueue(broker, queue);
      logger.info({ queue }, outcome === 'found' ? 'external queue exists; consuming it as it is' : 'external queue was missing; declared it (durable)');
      return;
    } catch (error) {
      const delayMs = backoffDelay(attempt - 1, { baseMs: retryDelayMs, maxMs: MAX_RECONNECT_DELAY_MS, jitter: true });
      logger.warn({ err: error, queue, attempt, delayMs }, 'cannot check or declare the external queue; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export interface ExternalIntakeDeps {
  queue: string;
  logger: Logger;
  registry: Registry;
  broker: BrokerAddress;
  bodyLimitBytes: number;
  /** INTAKE_MAX_FUTURE in milliseconds: how far after its receipt an alert may say it starts or ends (default 10 minutes). */
  intakeMaxFutureMs?: number;
  /** First delay before checking the queue again after a failure. */
  retryDelayMs?: number;
}

/**
 * Consumes the external queue: invalid bodies (and those whose every alert breaks an intake
 * bound) are dead-lettered by `subscribe`; the alerts of the others that pass are republished,
 * a copy of the message going to the dead letters when some were refused. The queue is checked (declared if missing) first, and again whenever the
 * broker says it is gone, so that rascal's next re-subscription finds it.
 */
export async function subscribeExternalIntake(messaging: Messaging, deps: ExternalIntakeDeps): Promise<Subscription> {
  const { queue, logger, broker } = deps;
  const retryDelayMs = deps.retryDelayMs ?? 1_000;
  await ensureWithRetry(broker, queue, logger, retryDelayMs);
  const rejectedAlerts = rejectedAlertsCounter(deps.registry);
  const maxFutureMs = deps.intakeMaxFutureMs ?? (parseDuration(DEFAULT_INTAKE_MAX_FUTURE) as number);
  const subscription = await subscribe(messaging, {
    queue,
    parse: (json) => {
      // Judged at receipt: a message whose alerts are all refused is dead-lettered whole, by the subscriber.
      const result = parseExternalMessage(json, { receivedAt: new Date(), maxFutureMs });
      if (!result.success) for (const alert of result.rejected) rejectedAlerts.inc({ reason: alert.refusal });
      return result;
    },
    handler: externalMessageHandler(messaging, deps.registry, { bodyLimitBytes: deps.bodyLimitBytes, queue, rejectedAlerts }),
    logger,
  });
  let ensuring: Promise<void> | null = null;
  subscription.session.on('error', (error: unknown) => {
    if (!isNotFound(error) || ensuring) return;
    ensuring = ensureWithRetry(broker, queue, logger, retryDelayMs).finally(() => {
      ensuring = null;
    });
  });
  return subscription;
}
