import { EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiKeyStore } from './api-keys';
import { buildAdmin } from './app';

const logger = createLogger('dead-letters-test', 'silent');
const BOOTSTRAP = 'dead-letters-admin-key-0123456789';
const MANAGEMENT_URL = process.env['TEST_RABBITMQ_MANAGEMENT_URL'] ?? 'http://127.0.0.1:15672';
const QUEUE = QUEUES.alertProcessorAlertsReceived;
// The production delays (1 s, 5 s, 30 s, 2 min) shortened; as many of them, in the same order.
const RETRY_DELAYS = [300, 600, 900, 1_200];
const Body = z.object({ n: z.number(), poison: z.boolean() });

/**
 * A poison message goes through every retry delay and lands in the dead-letter queue with its
 * history, the good messages around it are handled once and on time, and a replay through the
 * admin API delivers it once.
 */
describe('a poison message, from first failure to replay', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let subscription: Subscription;
  let app: FastifyInstance;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  let healed = false;
  const deliveries: { n: number; at: number }[] = [];
  const handled: number[] = [];

  const post = (url: string, payload: object) => app.inject({ method: 'POST', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` }, payload });
  const get = (url: string) => app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` } });
  const publish = (n: number, poison = false) => messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { n, poison }, { messageId: `message-${n}`, correlationId: `request-${n}` });
  const attemptsOf = (n: number) => deliveries.filter((delivery) => delivery.n === n);

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('dead_letters'), createTestVhost('dead-letters')]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUE], retryDelaysMs: RETRY_DELAYS }), { logger });
    subscription = await subscribe(messaging, {
      queue: QUEUE,
      parse: (json) => Body.safeParse(json),
      logger,
      retryDelaysMs: RETRY_DELAYS,
      handler: async (body) => {
        deliveries.push({ n: body.n, at: Date.now() });
        if (body.poison && !healed) throw new Error(`cannot store alert ${body.n}: constraint violated`);
        handled.push(body.n);
      },
    });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('dead-letters-test'),
      defaultChannel: '#general',
      management: { enabled: true, url: MANAGEMENT_URL, user: 'guest', password: 'guest', vhost: vhost.vhost, amqpUrl: vhost.url, publishTimeoutMs: 5_000 },
    });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await app?.close();
    await subscription?.cancel();
    await connection?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('retries the poison message after each delay while the good ones around it pass once', async () => {
    await publish(1);
    await publish(2, true);
    await publish(3);
    await waitFor(() => (handled.includes(1) && handled.includes(3) ? true : null), 5_000, 'the good messages');
    // Published while the poison message waits in a retry queue: not held up behind it.
    await waitFor(() => (attemptsOf(2).length >= 2 ? true : null), 5_000, 'the first retry');
    await publish(4);
    await waitFor(() => (handled.includes(4) ? true : null), 2_000, 'a good message during the retries');
    expect(attemptsOf(2).length).toBeLessThan(RETRY_DELAYS.length + 1);

    await waitFor(async () => ((await channel.checkQueue(`${QUEUE}.dead`)).messageCount === 1 ? true : null), 15_000, 'the dead letter');
    const attempts = attemptsOf(2);
    expect(attempts).toHaveLength(RETRY_DELAYS.length + 1);
    RETRY_DELAYS.forEach((delay, index) => {
      const gap = (attempts[index + 1]?.at ?? 0) - (attempts[index]?.at ?? 0);
      // RabbitMQ expires per-queue TTLs on its own timer: never early, sometimes a little late.
      expect(gap, `wait before attempt ${index + 2}`).toBeGreaterThanOrEqual(delay - 50);
    });
    expect(handled.sort()).toEqual([1, 3, 4]);
    expect(attemptsOf(1)).toHaveLength(1);
    expect(attemptsOf(3)).toHaveLength(1);
    expect(attemptsOf(4)).toHaveLength(1);
  });

  it('shows it in the dead-letter queue with the reason and every retry it went through', async () => {
    const response = await get(`/dead-letters/${QUEUE}`);
    expect(response.statusCode).toBe(200);
    const list = response.json();
    expect(list.total).toBe(1);
    const [dead] = list.items;
    expect(dead).toMatchObject({
      messageId: 'message-2',
      correlationId: 'request-2',
      error: 'retries exhausted after 4 attempts: cannot store alert 2: constraint violated',
      originalExchange: 'alerts',
      originalRoutingKey: 'alert.received.api',
      originalQueue: QUEUE,
      retryCount: 4,
    });
    expect(JSON.parse(dead.payload)).toEqual({ n: 2, poison: true });
    // x-death: RabbitMQ's record of each retry queue the message waited in (newest first).
    const history = dead.deaths.map((death: { queue: string; reason: string }) => `${death.queue}:${death.reason}`).sort();
    expect(history).toEqual(RETRY_DELAYS.map((_, index) => `${QUEUE}.retry.${index + 1}:expired`));
  });

  it('replays it once through the admin API when the cause is fixed', async () => {
    healed = true;
    const replay = await post(`/dead-letters/${QUEUE}/replay`, { messageIds: ['message-2'] });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({ replayed: [{ messageId: 'message-2', exchange: 'alerts', routingKey: 'alert.received.api' }], notFound: [], failed: [], duplicates: [] });
    await waitFor(() => (handled.includes(2) ? true : null), 5_000, 'the replayed message');
    // Nothing else arrives: no second copy, neither from the replay nor from the dead-letter queue.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(handled.filter((n) => n === 2)).toHaveLength(1);
    expect(attemptsOf(2)).toHaveLength(RETRY_DELAYS.length + 2);
    expect((await channel.checkQueue(`${QUEUE}.dead`)).messageCount).toBe(0);
    expect((await channel.checkQueue(QUEUE)).messageCount).toBe(0);

    const again = await post(`/dead-letters/${QUEUE}/replay`, { messageIds: ['message-2'] });
    expect(again.json()).toMatchObject({ replayed: [], notFound: ['message-2'] });
    const audit = await database.db.selectFrom('audit_log').select(['actor', 'entity', 'entity_id', 'action', 'changes']).where('action', '=', 'replay').orderBy('id').execute();
    expect(audit).toMatchObject([
      { actor: 'key:bootstrap', entity: 'queue', entity_id: `${QUEUE}.dead`, changes: { replayed: ['message-2'] } },
      { changes: { replayed: [], notFound: ['message-2'] } },
    ]);
  });
});
