/** The publisher of `dedicatedPublishChannel`: one confirm channel on a connection of its own, beside rascal. */
import { randomUUID } from 'node:crypto';
import type { ConfirmChannel, Connection as CallbackConnection } from 'amqplib/callback_api';
import type { Logger } from 'pino';
import { backoffDelay } from '@sentryhub/service-runtime';
import type { BrokerAsPromised } from 'rascal';
import type { BrokerStatusListener, PublishMeta } from './broker';
import { PublishError } from './errors';
import { MAX_RECONNECT_DELAY_MS, VHOST_KEY } from './topology';

export interface DedicatedPublisher {
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
export async function openDedicatedPublisher(
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
      opening = await new Promise<ConfirmChannel>((resolve, reject) =>
        opened.createConfirmChannel((error, created) => (error ? reject(error as Error) : resolve(created))),
      );
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
