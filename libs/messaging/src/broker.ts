import { randomUUID } from 'node:crypto';
import { RETRY_DELAYS_MS } from '@sentryhub/contracts';
import type { Logger } from 'pino';
import { backoffDelay, type Registry } from '@sentryhub/service-runtime';
import rascal, { type BrokerAsPromised, type BrokerConfig, type PublicationSession } from 'rascal';
import { PublishError } from './errors';
import { MAX_RECONNECT_DELAY_MS } from './topology';
import { openDedicatedPublisher, type DedicatedPublisher } from './dedicated-publisher';
import { messagingMetrics, type MessagingMetrics } from './metrics';
import { VHOST_KEY } from './topology';

// rascal is CommonJS: its named exports exist only on the default export under plain Node ESM.
const { BrokerAsPromised: Broker, withDefaultConfig } = rascal;

export interface BrokerStatusListener {
  ready(component: string): void;
  notReady(component: string, reason: string): void;
}

export interface PublishMeta {
  correlationId?: string;
  messageId?: string;
  headers?: Record<string, unknown>;
  contentType?: string;
  contentEncoding?: string;
  timestamp?: number;
  /** Set by `publish` itself to the connection's user (see Messaging.brokerUser). */
  userId?: string;
}

export interface Messaging {
  broker: BrokerAsPromised;
  /** Publishes and resolves with the message id only after the broker confirmed it. */
  publish(exchange: string, routingKey: string, body: unknown, meta?: PublishMeta): Promise<string>;
  isConnected(): boolean;
  shutdown(): Promise<void>;
  /** Present when connected with a metrics registry. */
  metrics?: MessagingMetrics;
  /** The delays of the retry queues declared with this connection (subscribers follow them). */
  retryDelaysMs: readonly number[];
  /**
   * The RabbitMQ user this connection publishes as: every publish carries it as `user-id`,
   * which RabbitMQ checks against the connection's user, so a consumer can tell SentryHub's
   * own messages (and the retry counters they carry) from anyone else's.
   */
  brokerUser?: string;
}

/**
 * The user of the connection's URL (amqplib authenticates with PLAIN, `guest` when the URL
 * names none), the first one's for a cluster; undefined when the configuration has no URL to read it from.
 */
export function brokerUserOf(config: BrokerConfig): string | undefined {
  const vhost = config.vhosts?.[VHOST_KEY] as { connection?: unknown; connections?: unknown[] } | undefined;
  // The nodes of a cluster share their users: the first address names the user of them all.
  const connection = vhost?.connection ?? vhost?.connections?.[0];
  const url =
    typeof connection === 'string' ? connection : typeof connection === 'object' && connection !== null && 'url' in connection ? connection.url : undefined;
  return typeof url === 'string' ? userOfAmqpUrl(url) : undefined;
}

/** The user an AMQP URL connects as (`guest` when it names none); undefined when it is not a URL. */
export function userOfAmqpUrl(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).username) || 'guest';
  } catch {
    return undefined;
  }
}

export interface ConnectOptions {
  logger: Logger;
  status?: BrokerStatusListener;
  publishTimeoutMs?: number;
  /** The service's registry: publish, consume and connection metrics are counted there. */
  registry?: Registry;
  /**
   * Publish through one confirm channel on a connection of its own instead of rascal's
   * per-publish path (a confirm-channel pool borrowed one publish at a time through a queue of
   * concurrency 1, plus a publication session): for a hot path such as the gateway's intake.
   * Same contract: resolves on the broker's ack only; nack, return, timeout, a lost channel
   * or connection and a blocked connection reject with a PublishError.
   */
  dedicatedPublishChannel?: boolean;
  /** First reconnect delay of the dedicated publish connection (doubles up to MAX_RECONNECT_DELAY_MS, 15 s); 1 s by default. */
  retryDelayMs?: number;
  /** The delays the topology's retry queues were declared with (MESSAGE_RETRY_DELAYS_MS); RETRY_DELAYS_MS by default. */
  retryDelaysMs?: readonly number[];
}

/**
 * Connects with rascal (declaring the topology), reports the connection state to readiness,
 * and offers a publish that waits for the confirm, a return, a timeout or a broker alarm.
 */
export async function connectMessaging(config: BrokerConfig, options: ConnectOptions): Promise<Messaging> {
  const { logger, status } = options;
  const publishTimeoutMs = options.publishTimeoutMs ?? 5_000;
  const broker = await Broker.create(withDefaultConfig(config));
  let dedicated: DedicatedPublisher | null = null;
  if (options.dedicatedPublishChannel) {
    try {
      dedicated = await openDedicatedPublisher(broker, {
        logger,
        publishTimeoutMs,
        retryDelayMs: options.retryDelayMs ?? 1_000,
        ...(status ? { status } : {}),
      });
    } catch (error) {
      await broker.shutdown().catch(() => undefined);
      throw error;
    }
  }
  const metrics = options.registry ? messagingMetrics(options.registry) : undefined;
  const brokerUser = brokerUserOf(config);
  metrics?.connected.set(1);
  let connected = true;
  let blockedReason: string | null = null;
  status?.ready('broker');
  logger.info('connected to RabbitMQ; topology declared');

  broker.on('error', (error: Error) => logger.error({ err: error }, 'broker error'));
  broker.on('disconnect', () => {
    connected = false;
    metrics?.connected.set(0);
    status?.notReady('broker', 'connection to RabbitMQ lost; reconnecting');
    logger.warn('broker connection lost; rascal reconnects with back-off');
  });
  broker.on('connect', () => {
    connected = true;
    if (blockedReason === null) metrics?.connected.set(1);
    status?.ready('broker');
    logger.info('broker connected');
  });
  broker.on('blocked', (reason: string) => {
    blockedReason = reason;
    metrics?.connected.set(0);
    status?.notReady('broker', `RabbitMQ blocked publishing: ${reason}`);
    logger.error({ reason }, 'broker blocked publishing (memory or disk alarm)');
  });
  broker.on('unblocked', () => {
    blockedReason = null;
    if (connected) {
      metrics?.connected.set(1);
      status?.ready('broker');
    }
    logger.info('broker unblocked');
  });

  async function publish(exchange: string, routingKey: string, body: unknown, meta: PublishMeta = {}): Promise<string> {
    try {
      if (dedicated && blockedReason) throw new PublishError(`RabbitMQ is blocking publishers: ${blockedReason}`, 'blocked');
      const signed = brokerUser === undefined ? meta : { ...meta, userId: brokerUser };
      const messageId = dedicated ? await dedicated.publish(exchange, routingKey, body, signed) : await publishConfirmed(exchange, routingKey, body, signed);
      metrics?.published.inc({ exchange, outcome: 'confirmed' });
      return messageId;
    } catch (error) {
      metrics?.published.inc({ exchange, outcome: error instanceof PublishError ? error.reason : 'error' });
      throw error;
    }
  }

  async function publishConfirmed(exchange: string, routingKey: string, body: unknown, meta: PublishMeta): Promise<string> {
    if (blockedReason) throw new PublishError(`RabbitMQ is blocking publishers: ${blockedReason}`, 'blocked');
    if (!connected) throw new PublishError('not connected to RabbitMQ', 'disconnected');
    const messageId = meta.messageId ?? randomUUID();
    const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const session: PublicationSession = await broker.publish(exchange, content, {
      routingKey,
      options: {
        messageId,
        correlationId: meta.correlationId ?? messageId,
        timestamp: meta.timestamp ?? Math.floor(Date.now() / 1000),
        contentType: meta.contentType ?? 'application/json',
        ...(meta.contentEncoding ? { contentEncoding: meta.contentEncoding } : {}),
        ...(meta.userId ? { userId: meta.userId } : {}),
        headers: meta.headers ?? {},
      },
    });
    return new Promise<string>((resolve, reject) => {
      let returned = false;
      const timer = setTimeout(() => {
        session.abort();
        reject(new PublishError(`RabbitMQ did not confirm the publish within ${publishTimeoutMs} ms`, 'timeout'));
      }, publishTimeoutMs);
      // With a confirm channel RabbitMQ sends basic.return before basic.ack.
      session.on('return', () => {
        returned = true;
      });
      session.on('success', () => {
        clearTimeout(timer);
        if (returned) reject(new PublishError(`unroutable: no queue is bound to ${exchange} for ${routingKey}`, 'returned'));
        else resolve(messageId);
      });
      session.on('error', (error: Error) => {
        clearTimeout(timer);
        reject(new PublishError(`publish failed: ${error.message}`, sessionErrorReason(error)));
      });
    });
  }

  return {
    broker,
    publish,
    retryDelaysMs: options.retryDelaysMs ?? RETRY_DELAYS_MS,
    ...(brokerUser !== undefined ? { brokerUser } : {}),
    ...(metrics ? { metrics } : {}),
    isConnected: () => connected && blockedReason === null && (dedicated?.usable() ?? true),
    shutdown: async () => {
      await dedicated?.close();
      await broker.shutdown();
    },
  };
}

/**
 * What a failed rascal publication means. Only a nack is the broker refusing this message
 * (`error`); rascal's own confirm timeout is a `timeout`; anything else (`channel closed` with the
 * publish unconfirmed, the connection closed or forced closed, as when a cluster node stops) says
 * nothing about the message: `disconnected`, to be published again once reconnected.
 */
export function sessionErrorReason(error: Error): 'error' | 'timeout' | 'disconnected' {
  if (/nack/i.test(error.message)) return 'error';
  if (/timed ?out/i.test(error.message)) return 'timeout';
  return 'disconnected';
}

/**
 * connectMessaging, retried forever with exponential back-off and jitter (first delay
 * `retryDelayMs`, doubling up to MAX_RECONNECT_DELAY_MS, 15 s) and a log line per attempt: a service may start
 * before RabbitMQ does.
 */
export async function connectWithRetry(config: BrokerConfig, options: ConnectOptions & { retryDelayMs: number; stopped?: () => boolean }): Promise<Messaging> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectMessaging(config, options);
    } catch (error) {
      if (options.stopped?.()) throw error;
      const delayMs = backoffDelay(attempt - 1, { baseMs: options.retryDelayMs, maxMs: MAX_RECONNECT_DELAY_MS, jitter: true });
      options.status?.notReady('broker', `cannot connect to RabbitMQ: ${(error as Error).message}`);
      options.logger.warn({ err: error, attempt, delayMs }, 'cannot connect to RabbitMQ; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

export { DEDICATED_PUBLISH_COMPONENT } from './dedicated-publisher';
