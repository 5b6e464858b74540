import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { deadLetterQueueName, DEFAULT_EXTERNAL_QUEUE, EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
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

  const post = (url: string, payload: object) =>
    app.inject({ method: 'POST', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` }, payload });
  const get = (url: string) => app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` } });
  const publish = (n: number, poison = false) =>
    messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { n, poison }, { messageId: `message-${n}`, correlationId: `request-${n}` });
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

  it('keeps its original route when a replay through the queue fails again', async () => {
    // Replayed before the cause is fixed, through the default exchange (the default "to").
    const replay = await post(`/dead-letters/${QUEUE}/replay`, { messageIds: ['message-2'] });
    expect(replay.json()).toMatchObject({ replayed: [{ messageId: 'message-2', exchange: '', routingKey: QUEUE }], failed: [] });
    await waitFor(() => (attemptsOf(2).length === 2 * (RETRY_DELAYS.length + 1) ? true : null), 15_000, 'every retry of the replayed message');
    await waitFor(async () => ((await channel.checkQueue(`${QUEUE}.dead`)).messageCount === 1 ? true : null), 5_000, 'the second dead letter');
    const [dead] = (await get(`/dead-letters/${QUEUE}`)).json().items;
    // The route it was first published with, not the default exchange the replay used.
    expect(dead).toMatchObject({ messageId: 'message-2', originalExchange: 'alerts', originalRoutingKey: 'alert.received.api', retryCount: 4 });
  });

  it('replays it once through the admin API when the cause is fixed', async () => {
    healed = true;
    // Its recorded route is one this queue is bound by, so it may go back through the exchange.
    const replay = await post(`/dead-letters/${QUEUE}/replay`, { messageIds: ['message-2'], to: 'exchange' });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({
      replayed: [{ messageId: 'message-2', exchange: 'alerts', routingKey: 'alert.received.api' }],
      notFound: [],
      failed: [],
      duplicates: [],
    });
    await waitFor(() => (handled.includes(2) ? true : null), 5_000, 'the replayed message');
    // Nothing else arrives: no second copy, neither from the replay nor from the dead-letter queue.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(handled.filter((n) => n === 2)).toHaveLength(1);
    expect(attemptsOf(2)).toHaveLength(2 * (RETRY_DELAYS.length + 1) + 1);
    expect((await channel.checkQueue(`${QUEUE}.dead`)).messageCount).toBe(0);
    expect((await channel.checkQueue(QUEUE)).messageCount).toBe(0);

    const again = await post(`/dead-letters/${QUEUE}/replay`, { messageIds: ['message-2'] });
    expect(again.json()).toMatchObject({ replayed: [], notFound: ['message-2'] });
    const audit = await database.db
      .selectFrom('audit_log')
      .select(['actor', 'entity', 'entity_id', 'action', 'changes'])
      .where('action', '=', 'replay')
      .orderBy('id')
      .execute();
    expect(audit).toMatchObject([
      { actor: 'key:bootstrap', entity: 'queue', entity_id: `${QUEUE}.dead`, changes: { replayed: ['message-2'] } },
      { actor: 'key:bootstrap', entity: 'queue', entity_id: `${QUEUE}.dead`, changes: { replayed: ['message-2'] } },
      { changes: { replayed: [], notFound: ['message-2'] } },
    ]);
  });
});

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * The external queue is the one place outside systems publish, and a publisher can put any
 * header on its message. The real rabbit-consumer (its main.ts, as a process) dead-letters what
 * it cannot read: the dead letter's provenance must be the delivery's, and no replay through
 * the admin API may take the message to `alerts` or `audit`, where only SentryHub publishes.
 */
describe('a dead letter of the external queue with forged provenance headers', () => {
  const EXTERNAL = DEFAULT_EXTERNAL_QUEUE;
  const EXTERNAL_DEAD = deadLetterQueueName(EXTERNAL);
  const PROBES = { alerts: 'probe.alerts', audit: 'probe.audit' } as const;
  let vhost: TestVhost;
  let database: TestDatabase;
  let consumer: ChildProcess;
  const consumerOutput: string[] = [];
  let messaging: Messaging;
  let app: FastifyInstance;
  let connection: amqp.ChannelModel;
  let channel: amqp.ConfirmChannel;

  const post = (url: string, payload: object) =>
    app.inject({ method: 'POST', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` }, payload });
  const get = (url: string) => app.inject({ method: 'GET', url: `/api/v1${url}`, headers: { authorization: `Bearer ${BOOTSTRAP}` } });
  const depth = async (queue: string) => (await channel.checkQueue(queue)).messageCount;
  const forgeries = {
    'forged-alerts': { 'x-original-exchange': EXCHANGES.alerts, 'x-original-routing-key': ROUTING_KEYS.alertReceived('webhook') },
    'forged-audit': { 'x-original-exchange': EXCHANGES.audit, 'x-original-routing-key': 'audit.api_key.create' },
  } as const;

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('forged_dead_letters'), createTestVhost('forged-dead-letters')]);
    const port = await freePort();
    // The consumer declares the whole topology (the external queue and its `.dead` included) with the default retry delays.
    consumer = spawn(process.execPath, ['node_modules/.bin/tsx', 'apps/rabbit-consumer/src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, RABBITMQ_URL: vhost.url, HEALTH_PORT: String(port), LOG_LEVEL: 'warn', RABBITMQ_EXTERNAL_QUEUE: EXTERNAL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    consumer.stdout?.on('data', (chunk: Buffer) => consumerOutput.push(chunk.toString()));
    consumer.stderr?.on('data', (chunk: Buffer) => consumerOutput.push(chunk.toString()));
    await waitFor(
      async () => {
        if (consumer.exitCode !== null) throw new Error(`rabbit-consumer exited with ${consumer.exitCode}:\n${consumerOutput.join('')}`);
        const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null);
        return response?.status === 200 ? true : null;
      },
      60_000,
      'rabbit-consumer to be ready',
    );
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    app = await buildAdmin({
      logger,
      db: database.db,
      keys: store,
      messaging: () => messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('forged-dead-letters-test'),
      defaultChannel: '#general',
      management: { enabled: true, url: MANAGEMENT_URL, user: 'guest', password: 'guest', vhost: vhost.vhost, amqpUrl: vhost.url, publishTimeoutMs: 5_000 },
    });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createConfirmChannel();
    // Everything published to `alerts` or `audit` from now on lands in these.
    for (const [exchange, probe] of Object.entries(PROBES)) {
      await channel.assertQueue(probe, { durable: false });
      await channel.bindQueue(probe, exchange, '#');
    }
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await connection?.close().catch(() => undefined);
    await messaging?.shutdown();
    if (consumer && consumer.exitCode === null) {
      const exited = new Promise((resolve) => consumer.once('exit', resolve));
      consumer.kill('SIGTERM');
      await exited;
    }
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('the dead letter carries the true provenance, not the forged one', async () => {
    for (const [messageId, headers] of Object.entries(forgeries)) {
      // Not JSON: the consumer dead-letters it at once.
      channel.sendToQueue(EXTERNAL, Buffer.from(`{"labels": ${messageId}`), {
        messageId,
        contentType: 'application/json',
        headers: { ...headers, 'x-original-queue': QUEUES.adminAuditEvents, 'x-error': 'nothing wrong', 'x-error-path': '', 'x-retry-count': 0 },
      });
    }
    await channel.waitForConfirms();
    await waitFor(async () => ((await depth(EXTERNAL_DEAD)) === 2 ? true : null), 15_000, 'both dead letters');

    const list = await get(`/dead-letters/${EXTERNAL}`);
    expect(list.statusCode).toBe(200);
    const items = list.json().items as { messageId: string }[];
    expect(items.map((item) => item.messageId).sort()).toEqual(Object.keys(forgeries).sort());
    for (const item of items) {
      expect(item).toMatchObject({
        originalExchange: '',
        originalRoutingKey: EXTERNAL,
        originalQueue: EXTERNAL,
        error: expect.stringMatching(/^invalid JSON: /),
        retryCount: 0,
      });
    }
  });

  it('a replay never reaches alerts or audit: to the exchange it is refused, by default it goes back to the external queue', async () => {
    const ids = Object.keys(forgeries);
    const refused = await post(`/dead-letters/${EXTERNAL}/replay`, { messageIds: ids, to: 'exchange' });
    expect(refused.statusCode).toBe(200);
    const refusal = refused.json();
    expect(refusal.replayed).toEqual([]);
    expect(refusal.failed.map((failure: { messageId: string }) => failure.messageId).sort()).toEqual(ids.sort());
    for (const failure of refusal.failed) expect(failure.error).toMatch(/is not a SentryHub work queue.*"to": "queue"/);
    expect(await depth(EXTERNAL_DEAD)).toBe(2);

    const replayed = await post(`/dead-letters/${EXTERNAL}/replay`, { all: true });
    expect(replayed.statusCode).toBe(200);
    expect(replayed.json()).toMatchObject({ failed: [], notFound: [] });
    expect(replayed.json().replayed).toEqual(expect.arrayContaining(ids.map((messageId) => ({ messageId, exchange: '', routingKey: EXTERNAL }))));
    // Back through the consumer, still not JSON: dead-lettered again, marked as replayed.
    await waitFor(async () => ((await depth(EXTERNAL_DEAD)) === 2 ? true : null), 15_000, 'the replayed messages to be dead-lettered again');
    const again = (await get(`/dead-letters/${EXTERNAL}`)).json().items as { messageId: string; originalExchange: string }[];
    expect(again.map((item) => [item.messageId, item.originalExchange]).sort()).toEqual(ids.map((id) => [id, '']).sort());

    // Give anything misrouted time to arrive, then look at everything the probes caught.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await depth(PROBES.alerts)).toBe(0);
    const audit: amqp.GetMessage[] = [];
    for (let message = await channel.get(PROBES.audit, { noAck: true }); message; message = await channel.get(PROBES.audit, { noAck: true }))
      audit.push(message);
    // Only the admin's own audit events of the two replay requests: none of the forged messages.
    expect(audit.map((message) => message.fields.routingKey)).toEqual(['audit.queue.replay', 'audit.queue.replay']);
    for (const message of audit) {
      expect(ids).not.toContain(message.properties.messageId);
      expect(message.content.toString()).not.toContain('{"labels": forged');
    }
  });
});
