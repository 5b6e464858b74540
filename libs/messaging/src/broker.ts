import { randomUUID } from 'node:crypto';
import { RETRY_DELAYS_MS } from '@sentryhub/contracts';
import type { ConfirmChannel, Connection as CallbackConnection } from 'amqplib/callback_api';
import type { Logger } from 'pino';
import { backoffDelay, type Registry } from '@sentryhub/service-runtime';
import rascal, { type BrokerAsPromised, type BrokerConfig, type PublicationSession } from 'rascal';
import { PublishError } from './errors';
import { MAX_RECONNECT_DELAY_MS } from './topology';
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
  const url = typeof connection === 'string' ? connection : typeof connection === 'object' && connection !== null && 'url' in connection ? connection.url : undefined;
  if (typeof url !== 'string') return undefined;
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
      dedicated = await openDedicatedPublisher(broker, { logger, publishTimeoutMs, retryDelayMs: options.retryDelayMs ?? 1_000, ...(status ? { status } : {}) });
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
export async function connectWithRetry(
  config: BrokerConfig,
  options: ConnectOptions & { retryDelayMs: number; stopped?: () => boolean },
): Promise<Messaging> {
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

interface DedicatedPublisher {
  publish(exchange: string, routingKey: string, body: unknown, meta: PublishMeta): Promise<string>;
  /** Connected, channel open and not blocked. */
  usable(): boolean;
  close(): Promise<void>;
}

/** The readiness component of the dedicated publish connection. */
export const DEDICATED_PUBLISH_COMPONENT = 'broker-publish';

/**
 * One confirm channel on a connection of its own (rascal's `broker.connect`: the vhost's URL and
 * socket options, noDelay included), reopened with back-off whenever it closes. A publish is one
 * `channel.publish` in the caller's tick: no pool, no queue, no session. The first channel is
 * opened before this resolves, so a service that connected can publish.
 */
async function openDedicatedPublisher(
  broker: BrokerAsPromised,
  options: { logger: Logger; status?: BrokerStatusListener; publishTimeoutMs: number; retryDelayMs: number },
): Promise<DedicatedPublisher> {
  const { logger, status, publishTimeoutMs } = options;
  let connection: CallbackConnection | null = null;
  let channel: ConfirmChannel | null = null;
  let blockedReason: string | null = null;
  let closing = false;
  let attempt = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  /** basic.return by message id: RabbitMQ sends it before the ack of the same publish. */
  let returned = new Map<string, number>();

  const down = (opened: CallbackConnection, reason: string) => {
    if (connection !== opened) return;
    connection = null;
    channel = null;
    blockedReason = null;
    if (closing) return;
    status?.notReady(DEDICATED_PUBLISH_COMPONENT, reason);
    logger.warn({ reason }, 'publish connection to RabbitMQ lost; reconnecting with back-off');
    scheduleReconnect();
  };

  const scheduleReconnect = () => {
    const delayMs = backoffDelay(attempt, { baseMs: options.retryDelayMs, maxMs: MAX_RECONNECT_DELAY_MS, jitter: true });
    attempt++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      open().then(
        () => logger.info('publish connection to RabbitMQ re-established'),
        (error: unknown) => {
          if (closing) return;
          status?.notReady(DEDICATED_PUBLISH_COMPONENT, `cannot open the publish connection: ${(error as Error).message}`);
          logger.warn({ err: error, attempt }, 'cannot open the publish connection to RabbitMQ; retrying');
          scheduleReconnect();
        },
      );
    }, delayMs);
  };

  async function open(): Promise<void> {
    // rascal's types say promise API; rascal builds it with amqplib/callback_api.
    const opened = (await broker.connect(VHOST_KEY)) as unknown as CallbackConnection;
    opened.on('error', (error: Error) => logger.warn({ err: error }, 'publish connection error'));
    opened.on('close', () => down(opened, 'the publish connection to RabbitMQ closed'));
    opened.on('blocked', (reason: string) => {
      if (connection !== opened) return;
      blockedReason = reason;
      status?.notReady(DEDICATED_PUBLISH_COMPONENT, `RabbitMQ blocked publishing: ${reason}`);
      logger.error({ reason }, 'broker blocked the publish connection (memory or disk alarm)');
    });
    opened.on('unblocked', () => {
      if (connection !== opened) return;
      blockedReason = null;
      status?.ready(DEDICATED_PUBLISH_COMPONENT);
      logger.info('publish connection unblocked');
    });
    let opening: ConfirmChannel;
    try {
      opening = await new Promise<ConfirmChannel>((resolve, reject) => opened.createConfirmChannel((error, created) => (error ? reject(error as Error) : resolve(created))));
    } catch (error) {
      opened.close(() => undefined);
      throw error;
    }
    opening.on('error', (error: Error) => logger.warn({ err: error }, 'publish channel error'));
    // A channel closed alone (a channel error) takes its connection down: one path reopens both.
    opening.on('close', () => {
      if (channel === opening && !closing) opened.close(() => undefined);
    });
    const returns = new Map<string, number>();
    opening.on('return', (message: { properties: { messageId?: string } }) => {
      const id = message.properties.messageId;
      if (id) returns.set(id, (returns.get(id) ?? 0) + 1);
    });
    if (closing) {
      opened.close(() => undefined);
      return;
    }
    connection = opened;
    channel = opening;
    returned = returns;
    blockedReason = null;
    attempt = 0;
    status?.ready(DEDICATED_PUBLISH_COMPONENT);
  }

  function publish(exchange: string, routingKey: string, body: unknown, meta: PublishMeta): Promise<string> {
    if (blockedReason) return Promise.reject(new PublishError(`RabbitMQ is blocking publishers: ${blockedReason}`, 'blocked'));
    const open = channel;
    if (!open) return Promise.reject(new PublishError('not connected to RabbitMQ', 'disconnected'));
    const returns = returned;
    const messageId = meta.messageId ?? randomUUID();
    const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    return new Promise<string>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        settled = true;
        reject(new PublishError(`RabbitMQ did not confirm the publish within ${publishTimeoutMs} ms`, 'timeout'));
      }, publishTimeoutMs);
      const confirmed = (error: unknown) => {
        clearTimeout(timer);
        const wasReturned = returns.get(messageId) ?? 0;
        if (wasReturned > 1) returns.set(messageId, wasReturned - 1);
        else if (wasReturned === 1) returns.delete(messageId);
        if (settled) return;
        settled = true;
        if (error) {
          const nacked = error instanceof Error && /nack/i.test(error.message);
          reject(
            nacked
              ? new PublishError('RabbitMQ refused the publish (nack)', 'error')
              : new PublishError(`publish not confirmed: ${error instanceof Error ? error.message : String(error)}`, 'disconnected'),
          );
        } else if (wasReturned > 0) reject(new PublishError(`unroutable: no queue is bound to ${exchange} for ${routingKey}`, 'returned'));
        else resolve(messageId);
      };
      try {
        open.publish(
          exchange,
          routingKey,
          content,
          {
            persistent: true,
            mandatory: true,
            messageId,
            correlationId: meta.correlationId ?? messageId,
            timestamp: meta.timestamp ?? Math.floor(Date.now() / 1000),
            contentType: meta.contentType ?? 'application/json',
            ...(meta.contentEncoding ? { contentEncoding: meta.contentEncoding } : {}),
            ...(meta.userId ? { userId: meta.userId } : {}),
            headers: meta.headers ?? {},
          },
          confirmed,
        );
      } catch (error) {
        clearTimeout(timer);
        settled = true;
        reject(new PublishError(`publish failed: ${(error as Error).message}`, 'error'));
      }
    });
  }

  await open();
  return {
    publish,
    usable: () => channel !== null && blockedReason === null,
    close: async () => {
      closing = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const open = connection;
      const draining = channel;
      channel = null;
      // Publishes already written get their confirms (at most the publish timeout) before the close.
      if (draining) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, publishTimeoutMs);
          draining.waitForConfirms(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      connection = null;
      if (open) await new Promise<void>((resolve) => open.close(() => resolve()));
    },
  };
}
