import { randomUUID } from 'node:crypto';
import { HEADERS } from '@sentryhub/contracts';
import { userOfAmqpUrl, WORK_QUEUES, withRawConnection } from '@sentryhub/messaging';
import type { Channel, ChannelModel, ConfirmChannel, GetMessage, Options } from 'amqplib';

/** One `x-death` entry: RabbitMQ's own record of a dead-lettering (TTL expired, delivery limit, max length). */
export interface Death {
  queue: string | null;
  reason: string | null;
  count: number;
  exchange: string | null;
  routingKeys: string[];
}

/** What the headers of a dead letter say about why it failed and where it came from. */
export interface DeadLetterOrigin {
  error: string | null;
  errorPath: string | null;
  exchange: string | null;
  routingKey: string | null;
  queue: string | null;
  retryCount: number;
  deaths: Death[];
}

const text = (value: unknown): string | null => (typeof value === 'string' ? value : Buffer.isBuffer(value) ? value.toString('utf8') : null);
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function deathsOf(value: unknown): Death[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((death) => ({
    queue: text(death['queue']),
    reason: text(death['reason']),
    count: typeof death['count'] === 'number' ? death['count'] : 1,
    exchange: text(death['exchange']),
    routingKeys: Array.isArray(death['routing-keys']) ? death['routing-keys'].map(text).filter((key): key is string => key !== null) : [],
  }));
}

/**
 * Our recovery policy records `x-error`, `x-error-path` and `x-original-*`. A message that
 * RabbitMQ dead-lettered by itself (delivery limit, max length, TTL) has only `x-death`, whose
 * oldest entry holds the exchange and routing key it was first published with.
 */
export function deadLetterOrigin(headers: Record<string, unknown>): DeadLetterOrigin {
  const deaths = deathsOf(headers['x-death']);
  const first = deaths.at(-1);
  const firstReason = text(headers['x-first-death-reason']) ?? first?.reason ?? null;
  const retries = Number(headers[HEADERS.retryCount] ?? 0);
  return {
    error: text(headers[HEADERS.error]) ?? (firstReason ? `dead-lettered by RabbitMQ: ${firstReason}` : null),
    errorPath: text(headers[HEADERS.errorPath]),
    exchange: text(headers[HEADERS.originalExchange]) ?? text(headers['x-first-death-exchange']) ?? first?.exchange ?? null,
    routingKey: text(headers[HEADERS.originalRoutingKey]) ?? first?.routingKeys[0] ?? null,
    queue: text(headers[HEADERS.originalQueue]) ?? text(headers['x-first-death-queue']) ?? first?.queue ?? null,
    retryCount: Number.isFinite(retries) ? retries : 0,
    deaths,
  };
}

/** Does an AMQP topic binding key (`*` one word, `#` zero or more) match the routing key? */
export function topicMatches(bindingKey: string, routingKey: string): boolean {
  const pattern = bindingKey.split('.');
  const words = routingKey.split('.');
  const match = (p: number, w: number): boolean => {
    if (p === pattern.length) return w === words.length;
    const part = pattern[p];
    if (part === '#') return match(p + 1, w) || (w < words.length && match(p, w + 1));
    return w < words.length && (part === '*' || part === words[w]) && match(p + 1, w + 1);
  };
  return match(0, 0);
}

export type ReplayRoute = { exchange: string; routingKey: string } | { refused: string };

/**
 * Where a dead letter of `queue` goes. `queue` (the default): back to that queue only, through
 * the default exchange. `exchange`: to the recorded original exchange and routing key, but
 * only when `queue` is a SentryHub work queue and the route is one that queue is bound by: the
 * exchange its own senders publish to. A dead letter's headers never choose another exchange,
 * so a message from the external queue (published there by outside systems) can only ever go
 * back to the external queue, never to `alerts` or `audit`.
 */
export function replayRoute(queue: string, to: 'exchange' | 'queue', origin: Pick<DeadLetterOrigin, 'exchange' | 'routingKey'>): ReplayRoute {
  if (to === 'queue') return { exchange: '', routingKey: queue };
  const spec = WORK_QUEUES.find((candidate) => candidate.name === queue);
  if (!spec) {
    return {
      refused: `${queue} is not a SentryHub work queue: its messages were published to it by other systems, so they can only be replayed to the queue ("to": "queue")`,
    };
  }
  if (origin.exchange === null || origin.routingKey === null) {
    return { refused: 'no original exchange and routing key recorded: replay it with "to": "queue"' };
  }
  if (origin.exchange !== spec.exchange || !spec.bindingKeys.some((key) => topicMatches(key, origin.routingKey as string))) {
    return {
      refused: `the recorded route ${origin.exchange || '(default exchange)'} / ${origin.routingKey} is not one that ${queue} is bound by (${spec.exchange} / ${spec.bindingKeys.join(', ')}): replay it with "to": "queue"`,
    };
  }
  return { exchange: origin.exchange, routingKey: origin.routingKey };
}

/** Headers a replayed message must not carry: its failure history would count against it again. */
const HISTORY_HEADERS = new Set<string>([
  HEADERS.error,
  HEADERS.errorPath,
  HEADERS.retryCount,
  'x-death',
  'x-first-death-reason',
  'x-first-death-queue',
  'x-first-death-exchange',
  'x-last-death-reason',
  'x-last-death-queue',
  'x-last-death-exchange',
]);

export interface ReplayRequest {
  /** The work queue whose `<queue>.dead` is replayed. */
  queue: string;
  deadLetterQueue: string;
  /** null: every message that is in the queue when the replay starts. */
  messageIds: ReadonlySet<string> | null;
  /** `queue`: the work queue only, through the default exchange; `exchange`: the original route, when replayRoute allows it. */
  to: 'exchange' | 'queue';
}

export interface ReplayOutcome {
  replayed: { messageId: string | null; exchange: string; routingKey: string }[];
  notFound: string[];
  failed: { messageId: string | null; error: string }[];
  duplicates: string[];
}

/** At most this many dead letters are looked at by one replay request; a larger queue takes several. */
export const MAX_REPLAY_SCAN = 10_000;

export class QueueNotFoundError extends Error {
  constructor(readonly queue: string) {
    super(`queue ${queue} does not exist`);
    this.name = 'QueueNotFoundError';
  }
}

/**
 * What the admin does to queues over AMQP, each on a short-lived connection of its own (these
 * are rare operator actions): a confirmed, mandatory test publish; purge; replay of dead letters.
 */
export function queueOperations(settings: { amqpUrl: string | readonly string[]; publishTimeoutMs: number }) {
  // A replay is published as SentryHub's own message (RabbitMQ checks user-id against the
  // connection's user): if it fails again, the recovery policy keeps the route recorded on it.
  const brokerUser = userOfAmqpUrl(typeof settings.amqpUrl === 'string' ? settings.amqpUrl : (settings.amqpUrl[0] ?? ''));

  /** On the first node that answers (every node of a cluster given); a channel closed by the broker (404) is handled where it happens. */
  function withConnection<T>(work: (connection: ChannelModel) => Promise<T>): Promise<T> {
    return withRawConnection(settings.amqpUrl, { socketOptions: { clientProperties: { connection_name: 'sentryhub-admin queue management' } } }, work);
  }

  /** The queue's message count, or a QueueNotFoundError; a 404 closes the channel, so it gets its own. */
  async function messageCount(connection: ChannelModel, queue: string): Promise<number> {
    const channel: Channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } catch {
      throw new QueueNotFoundError(queue);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Does the exchange exist? Publishing to a missing one would close the confirm channel. */
  async function exchangeExists(connection: ChannelModel, exchange: string): Promise<boolean> {
    if (exchange === '') return true;
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    try {
      await channel.checkExchange(exchange);
      return true;
    } catch {
      return false;
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  /** Resolves once the broker confirmed the publish; rejects when it was returned unroutable, nacked or not confirmed in time. */
  function publishConfirmed(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish & { messageId: string },
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let returned = false;
      const onReturn = (message: { properties: { messageId?: string } }) => {
        if (message.properties.messageId === options.messageId) returned = true;
      };
      channel.on('return', onReturn);
      const done = (error: Error | null) => {
        clearTimeout(timer);
        channel.off('return', onReturn);
        if (error) reject(error);
        else if (returned) reject(new Error(`unroutable: no queue is bound to ${exchange || '(default exchange)'} for ${routingKey}`));
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(`RabbitMQ did not confirm the publish within ${settings.publishTimeoutMs} ms`)), settings.publishTimeoutMs);
      channel.publish(exchange, routingKey, content, { ...options, mandatory: true, persistent: true }, (error: unknown) => {
        done(error ? new Error(`RabbitMQ refused the publish: ${String(error)}`) : null);
      });
    });
  }

  return {
    /** A JSON test message straight to the queue (default exchange), confirmed. */
    async publishTest(
      queue: string,
      body: unknown,
      meta: { messageId?: string | undefined; correlationId?: string | undefined; headers: Record<string, string | number | boolean> },
    ): Promise<string> {
      return withConnection(async (connection) => {
        await messageCount(connection, queue);
        const channel = await connection.createConfirmChannel();
        channel.on('error', () => undefined);
        const messageId = meta.messageId ?? randomUUID();
        await publishConfirmed(channel, '', queue, Buffer.from(JSON.stringify(body)), {
          messageId,
          correlationId: meta.correlationId ?? messageId,
          contentType: 'application/json',
          timestamp: Math.floor(Date.now() / 1000),
          headers: meta.headers,
        });
        await channel.close();
        return messageId;
      });
    },

    /** Removes every ready message; answers how many. */
    async purge(queue: string): Promise<number> {
      return withConnection(async (connection) => {
        await messageCount(connection, queue);
        const channel = await connection.createChannel();
        const { messageCount: purged } = await channel.purgeQueue(queue);
        await channel.close();
        return purged;
      });
    },

    /**
     * Replays dead letters at least once, each at most once per request: every message of the
     * queue (as many as it held when the replay started) is fetched and held unacked, so none is
     * fetched twice; a selected one is republished with a confirm and only then acked. What was
     * not selected, or not confirmed, is returned to the queue at the end (or by the broker, if
     * this connection dies first): nothing is lost.
     */
    async replay(request: ReplayRequest): Promise<ReplayOutcome> {
      return withConnection(async (connection) => {
        // Bounded: every fetched message is held unacked until the end of the request.
        const available = Math.min(await messageCount(connection, request.deadLetterQueue), MAX_REPLAY_SCAN);
        const channel = await connection.createConfirmChannel();
        channel.on('error', () => undefined);
        const outcome: ReplayOutcome = { replayed: [], notFound: [], failed: [], duplicates: [] };
        const held: GetMessage[] = [];
        const replayedIds = new Set<string>();
        const exchanges = new Map<string, boolean>();
        const wanted = request.messageIds;
        try {
          for (let fetched = 0; fetched < available; fetched++) {
            if (wanted && [...wanted].every((id) => replayedIds.has(id))) break;
            const message = await channel.get(request.deadLetterQueue, { noAck: false });
            if (!message) break;
            const messageId = typeof message.properties.messageId === 'string' ? message.properties.messageId : null;
            if (wanted && (messageId === null || !wanted.has(messageId))) {
              held.push(message);
              continue;
            }
            if (messageId !== null && replayedIds.has(messageId)) {
              outcome.duplicates.push(messageId);
              held.push(message);
              continue;
            }
            const headers: Record<string, unknown> = message.properties.headers ?? {};
            const origin = deadLetterOrigin(headers);
            const target = replayRoute(request.queue, request.to, origin);
            if ('refused' in target) {
              outcome.failed.push({ messageId, error: target.refused });
              held.push(message);
              continue;
            }
            if (!exchanges.has(target.exchange)) exchanges.set(target.exchange, await exchangeExists(connection, target.exchange));
            if (!exchanges.get(target.exchange)) {
              outcome.failed.push({ messageId, error: `exchange ${target.exchange} does not exist` });
              held.push(message);
              continue;
            }
            const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !HISTORY_HEADERS.has(name)));
            // The route it was first published with, whichever way it is replayed, so that a later replay can still take it.
            const route =
              origin.exchange !== null && origin.routingKey !== null
                ? { [HEADERS.originalExchange]: origin.exchange, [HEADERS.originalRoutingKey]: origin.routingKey }
                : {};
            const replays = Number(headers['x-replay-count'] ?? 0);
            const publishId = messageId ?? randomUUID();
            try {
              await publishConfirmed(channel, target.exchange, target.routingKey, message.content, {
                messageId: publishId,
                ...(message.properties.correlationId ? { correlationId: String(message.properties.correlationId) } : {}),
                ...(message.properties.contentType ? { contentType: String(message.properties.contentType) } : {}),
                ...(message.properties.contentEncoding ? { contentEncoding: String(message.properties.contentEncoding) } : {}),
                ...(typeof message.properties.timestamp === 'number' ? { timestamp: message.properties.timestamp } : {}),
                ...(brokerUser !== undefined ? { userId: brokerUser } : {}),
                headers: { ...kept, ...route, 'x-replayed-from': request.deadLetterQueue, 'x-replay-count': (Number.isFinite(replays) ? replays : 0) + 1 },
              });
            } catch (error) {
              outcome.failed.push({ messageId, error: (error as Error).message });
              held.push(message);
              continue;
            }
            channel.ack(message);
            if (messageId !== null) replayedIds.add(messageId);
            outcome.replayed.push({ messageId, exchange: target.exchange, routingKey: target.routingKey });
          }
        } finally {
          try {
            for (const message of held) channel.nack(message, false, true);
          } catch {
            // The channel is gone: RabbitMQ puts its unacked messages back by itself.
          }
          await channel.close().catch(() => undefined);
        }
        if (wanted) outcome.notFound = [...wanted].filter((id) => !replayedIds.has(id) && !outcome.failed.some((failure) => failure.messageId === id));
        return outcome;
      });
    },
  };
}
export type QueueOperations = ReturnType<typeof queueOperations>;
