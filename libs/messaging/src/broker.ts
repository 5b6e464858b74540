import { randomUUID } from 'node:crypto';
import { RETRY_DELAYS_MS } from '@sentryhub/contracts';
import type { Logger } from 'pino';
import type { Registry } from '@sentryhub/service-runtime';
import rascal, { type BrokerAsPromised, type BrokerConfig, type PublicationSession } from 'rascal';
import { PublishError } from './errors';
import { messagingMetrics, type MessagingMetrics } from './metrics';

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
}

export interface ConnectOptions {
  logger: Logger;
  status?: BrokerStatusListener;
  publishTimeoutMs?: number;
  /** The service's registry: publish, consume and connection metrics are counted there. */
  registry?: Registry;
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
  const metrics = options.registry ? messagingMetrics(options.registry) : undefined;
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
      const messageId = await publishConfirmed(exchange, routingKey, body, meta);
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
        reject(new PublishError(`publish failed: ${error.message}`, 'error'));
      });
    });
  }

  return {
    broker,
    publish,
    retryDelaysMs: options.retryDelaysMs ?? RETRY_DELAYS_MS,
    ...(metrics ? { metrics } : {}),
    isConnected: () => connected && blockedReason === null,
    shutdown: async () => {
      await broker.shutdown();
    },
  };
}

/**
 * connectMessaging, retried forever with exponential back-off and jitter (first delay
 * `retryDelayMs`, doubling up to 60 s) and a log line per attempt: a service may start
 * before RabbitMQ does.
 */
export async function connectWithRetry(
  config: BrokerConfig,
  options: ConnectOptions & { retryDelayMs: number; stopped?: () => boolean },
): Promise<Messaging> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await connectMessaging(config, options);
    } catch (error) {
      if (options.stopped?.()) throw error;
      const base = Math.min(options.retryDelayMs * 2 ** (attempt - 1), 60_000);
      const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
      options.status?.notReady('broker', `cannot connect to RabbitMQ: ${(error as Error).message}`);
      options.logger.warn({ err: error, attempt, delayMs }, 'cannot connect to RabbitMQ; retrying');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
