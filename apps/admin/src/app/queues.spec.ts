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
import { replayRoute, topicMatches } from './queue-operations';
import type { ManagementSettings } from './rabbitmq-management';

const logger = createLogger('queues-test', 'silent');
const BOOTSTRAP = 'queues-admin-key-0123456789abcdef';
const MANAGEMENT_URL = process.env['TEST_RABBITMQ_MANAGEMENT_URL'] ?? 'http://127.0.0.1:15672';
const SLACK = QUEUES.slackNotifierAlertsProcessed;
const EMAIL = QUEUES.emailNotifierAlertsProcessed;

/** Queue management routes (docs/contracts.md §3.4) against the real broker and its management API. */
describe('queue management routes', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let subscription: Subscription;
  let app: FastifyInstance;
  let disabled: FastifyInstance;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const keys = { admin: BOOTSTRAP, editor: '', viewer: '' };

  type Role = keyof typeof keys;
  const call = (method: 'GET' | 'POST', url: string, role: Role | null, payload?: object, target: () => FastifyInstance = () => app) =>
    target().inject({
      method,
      url: `/api/v1${url}`,
      headers: role ? { authorization: `Bearer ${keys[role]}` } : {},
      ...(payload === undefined ? {} : { payload }),
    });
  const messagesIn = async (queue: string) => (await channel.checkQueue(queue)).messageCount;
  const auditRows = (action: string) => database.db.selectFrom('audit_log').selectAll().where('entity', '=', 'queue').where('action', '=', action).execute();

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('queues'), createTestVhost('queues')]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [SLACK] }), { logger });
    // Stands in for the slack-notifier: every body it cannot parse is dead-lettered with the reason.
    subscription = await subscribe(messaging, {
      queue: SLACK,
      parse: (json) => z.object({ changes: z.array(z.unknown()) }).safeParse(json),
      logger,
      handler: async () => undefined,
    });
    const store = apiKeyStore(database.db);
    await store.ensureBootstrap(BOOTSTRAP);
    keys.editor = (await store.create('editor', 'editor')).key;
    keys.viewer = (await store.create('viewer', 'viewer')).key;
    // A cluster whose first node refuses connections (nothing listens on port 1): purge, test publish and replay go to the next.
    const refusingNode = `amqp://guest:guest@127.0.0.1:1/${encodeURIComponent(vhost.vhost)}`;
    const management: ManagementSettings = {
      enabled: true,
      url: MANAGEMENT_URL,
      user: 'guest',
      password: 'guest',
      vhost: vhost.vhost,
      amqpUrl: [refusingNode, vhost.url],
      publishTimeoutMs: 5_000,
    };
    const deps = { logger, db: database.db, keys: store, messaging: () => messaging, readiness: new Readiness([]), defaultChannel: '#general' };
    app = await buildAdmin({ ...deps, registry: createMetricsRegistry('queues-test'), management });
    disabled = await buildAdmin({ ...deps, registry: createMetricsRegistry('queues-test-disabled'), management: { ...management, enabled: false } });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await Promise.all([app?.close(), disabled?.close()]);
    await subscription?.cancel();
    await connection?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  const everyRoute: [method: 'GET' | 'POST', url: string, body?: object][] = [
    ['GET', '/queues'],
    ['POST', `/queues/${EMAIL}/publish`, {}],
    ['POST', `/queues/${EMAIL}/purge`, { confirm: EMAIL }],
    ['GET', `/dead-letters/${SLACK}`],
    ['POST', `/dead-letters/${SLACK}/replay`, { all: true }],
  ];

  it('needs a key (401) and the admin role (403 for editors and viewers)', async () => {
    for (const [method, url, body] of everyRoute) {
      expect((await call(method, url, null, body)).statusCode).toBe(401);
      for (const role of ['viewer', 'editor'] as const) {
        const refused = await call(method, url, role, body);
        expect(refused.statusCode, `${role} ${method} ${url}`).toBe(403);
        expect(refused.json().error).toMatch(/needs the admin role/);
      }
    }
  });

  it('answers 404 with the reason on every route while RABBITMQ_MANAGEMENT_ENABLED is false', async () => {
    for (const [method, url, body] of everyRoute) {
      const response = await call(method, url, 'admin', body, () => disabled);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json().error).toMatch(/RABBITMQ_MANAGEMENT_ENABLED=true/);
    }
    expect(await messagesIn(EMAIL)).toBe(0);
  });

  it('lists the queues of its vhost with type, messages, consumers and rates', async () => {
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), { changes: [] }, { messageId: 'listed-1' });
    // The management plugin refreshes its statistics every few seconds.
    const listed = await waitFor(
      async () => {
        const response = await call('GET', '/queues', 'admin');
        expect(response.statusCode).toBe(200);
        const body = response.json() as { vhost: string; items: { name: string; messages: number; consumers: number; type: string }[] };
        const email = body.items.find((queue) => queue.name === EMAIL);
        const slack = body.items.find((queue) => queue.name === SLACK);
        return email?.messages === 1 && slack?.consumers === 1 ? body : null;
      },
      20_000,
      'the queue statistics',
    );
    expect(listed.vhost).toBe(vhost.vhost);
    // Every queue the topology declares (each work queue with its .dead and .retry.<n> queues), and nothing else.
    const declared = Object.values(buildBrokerConfig({ url: vhost.url, consumes: [SLACK] }).vhosts ?? {}).flatMap((config) => Object.keys(config.queues ?? {}));
    expect(listed.items.map((queue) => queue.name).sort()).toEqual([...declared].sort());
    expect(listed.items.find((queue) => queue.name === EMAIL)).toMatchObject({
      type: 'quorum',
      durable: true,
      messagesReady: 1,
      consumers: 0,
      arguments: { 'x-message-ttl': 86_400_000 },
    });
    expect(listed.items.find((queue) => queue.name === `${EMAIL}.dead`)).toMatchObject({ type: 'quorum', messages: 0 });
    const rates = listed.items.find((queue) => queue.name === SLACK) as unknown as { rates: Record<string, number> };
    expect(Object.keys(rates.rates).sort()).toEqual(['ack', 'deliver', 'publish', 'redeliver']);
  });

  it('purges only with the queue name as confirmation, and audits it', async () => {
    expect(await messagesIn(EMAIL)).toBe(1);
    const missing = await call('POST', `/queues/${EMAIL}/purge`, 'admin', {});
    expect(missing.statusCode).toBe(400);
    const wrong = await call('POST', `/queues/${EMAIL}/purge`, 'admin', { confirm: SLACK });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error).toBe(`purging deletes every ready message of ${EMAIL}: send {"confirm": "${EMAIL}"} to confirm`);
    expect(await messagesIn(EMAIL)).toBe(1);
    const purged = await call('POST', `/queues/${EMAIL}/purge`, 'admin', { confirm: EMAIL });
    expect(purged.statusCode).toBe(200);
    expect(purged.json()).toEqual({ queue: EMAIL, purged: 1 });
    expect(await messagesIn(EMAIL)).toBe(0);
    expect(await auditRows('purge')).toMatchObject([{ actor: 'key:bootstrap', entity_id: EMAIL, changes: { purged: 1 } }]);
    expect((await call('POST', '/queues/no-such-queue/purge', 'admin', { confirm: 'no-such-queue' })).statusCode).toBe(404);
  });

  it('publishes a confirmed test message straight to a queue, and audits it', async () => {
    const published = await call('POST', `/queues/${EMAIL}/publish`, 'admin', {
      payload: { hello: 'queue' },
      messageId: 'test-message-1',
      headers: { 'x-test': true },
    });
    expect(published.statusCode).toBe(202);
    expect(published.json()).toEqual({ queue: EMAIL, messageId: 'test-message-1' });
    const message = await waitFor(async () => (await channel.get(EMAIL, { noAck: true })) || null, 5_000, 'the test message');
    expect(JSON.parse(message.content.toString())).toEqual({ hello: 'queue' });
    expect(message.properties).toMatchObject({ messageId: 'test-message-1', contentType: 'application/json', deliveryMode: 2, headers: { 'x-test': true } });
    expect(await auditRows('publish')).toMatchObject([{ entity_id: EMAIL, changes: { messageId: 'test-message-1' } }]);
    const missing = await call('POST', '/queues/no-such-queue/publish', 'admin', {});
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('queue no-such-queue does not exist');
  });

  it("lists a dead-letter queue's messages with their reasons and origins, without consuming them", async () => {
    // Dead-lettered by the recovery policy: not JSON.
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), Buffer.from('{not json'), {
      messageId: 'bad-json',
      correlationId: 'corr-1',
    });
    // Dead-lettered by RabbitMQ itself: expired before anyone took it.
    await channel.purgeQueue(EMAIL);
    channel.sendToQueue(EMAIL, Buffer.from('{"changes": []}'), { messageId: 'expired-1', expiration: '1', persistent: true, contentType: 'application/json' });
    await waitFor(
      async () => ((await messagesIn(`${SLACK}.dead`)) === 1 && (await messagesIn(`${EMAIL}.dead`)) === 1 ? true : null),
      10_000,
      'both dead letters',
    );

    const slack = await call('GET', `/dead-letters/${SLACK}`, 'admin');
    expect(slack.statusCode).toBe(200);
    expect(slack.json()).toMatchObject({
      queue: SLACK,
      deadLetterQueue: `${SLACK}.dead`,
      total: 1,
      items: [
        {
          messageId: 'bad-json',
          correlationId: 'corr-1',
          error: expect.stringMatching(/^invalid JSON: /),
          errorPath: '',
          originalExchange: 'alerts',
          originalRoutingKey: 'alert.processed.firing',
          originalQueue: SLACK,
          retryCount: 0,
          payload: '{not json',
          payloadEncoding: 'string',
        },
      ],
    });
    // The .dead name works as well, and listing left the message where it was.
    const again = await call('GET', `/dead-letters/${SLACK}.dead?limit=5`, 'admin');
    expect(again.json().items.map((item: { messageId: string }) => item.messageId)).toEqual(['bad-json']);
    // A quorum queue takes back what the management API's peek requeued a moment later.
    await waitFor(async () => ((await messagesIn(`${SLACK}.dead`)) === 1 ? true : null), 5_000, 'the listed dead letter back in its queue');

    const email = (await call('GET', `/dead-letters/${EMAIL}`, 'admin')).json();
    expect(email.items).toMatchObject([
      {
        messageId: 'expired-1',
        error: 'dead-lettered by RabbitMQ: expired',
        originalExchange: '',
        originalRoutingKey: EMAIL,
        originalQueue: EMAIL,
        deaths: [{ queue: EMAIL, reason: 'expired', count: 1 }],
      },
    ]);

    expect((await call('GET', '/dead-letters/no-such-queue', 'admin')).statusCode).toBe(404);
    expect((await call('GET', `/dead-letters/${SLACK}?limit=0`, 'admin')).statusCode).toBe(400);
  });

  it('replays a dead letter to its queue once (the default), and audits it', async () => {
    expect((await call('POST', `/dead-letters/${EMAIL}/replay`, 'admin', {})).statusCode).toBe(400);
    const replayed = await call('POST', `/dead-letters/${EMAIL}/replay`, 'admin', { messageIds: ['expired-1', 'never-there'] });
    expect(replayed.statusCode).toBe(200);
    expect(replayed.json()).toEqual({
      queue: EMAIL,
      deadLetterQueue: `${EMAIL}.dead`,
      replayed: [{ messageId: 'expired-1', exchange: '', routingKey: EMAIL }],
      notFound: ['never-there'],
      failed: [],
      duplicates: [],
    });
    expect(await messagesIn(`${EMAIL}.dead`)).toBe(0);
    const back = await waitFor(async () => (await channel.get(EMAIL, { noAck: true })) || null, 5_000, 'the replayed message');
    expect(back.properties.messageId).toBe('expired-1');
    expect(back.properties.headers).toMatchObject({ 'x-replayed-from': `${EMAIL}.dead`, 'x-replay-count': 1 });
    expect(back.properties.headers?.['x-death']).toBeUndefined();
    expect(await channel.get(EMAIL, { noAck: true })).toBe(false);

    const twice = await call('POST', `/dead-letters/${EMAIL}/replay`, 'admin', { messageIds: ['expired-1'] });
    expect(twice.json()).toMatchObject({ replayed: [], notFound: ['expired-1'] });
    expect(await auditRows('replay')).toMatchObject([
      { entity_id: `${EMAIL}.dead`, changes: { replayed: ['expired-1'], notFound: ['never-there'] } },
      { entity_id: `${EMAIL}.dead`, changes: { replayed: [], notFound: ['expired-1'] } },
    ]);
  });

  it('replays every dead letter with "all", leaving none behind', async () => {
    const replayed = await call('POST', `/dead-letters/${SLACK}/replay`, 'admin', { all: true, to: 'queue' });
    expect(replayed.json()).toMatchObject({ replayed: [{ messageId: 'bad-json', exchange: '', routingKey: SLACK }], failed: [] });
    // Still not JSON: the consumer dead-letters it again, now marked as replayed once.
    const dead = await waitFor(async () => (await channel.get(`${SLACK}.dead`, { noAck: true })) || null, 10_000, 'the dead letter again');
    expect(dead.properties.headers).toMatchObject({ 'x-replay-count': 1, 'x-error': expect.stringMatching(/^invalid JSON/) });
  });
});

describe('where a replay may send a dead letter', () => {
  it('matches topic binding keys as RabbitMQ does', () => {
    expect(topicMatches('alert.received.*', 'alert.received.webhook')).toBe(true);
    expect(topicMatches('alert.received.*', 'alert.received')).toBe(false);
    expect(topicMatches('alert.received.*', 'alert.received.webhook.x')).toBe(false);
    expect(topicMatches('audit.#', 'audit')).toBe(true);
    expect(topicMatches('audit.#', 'audit.api_key.create')).toBe(true);
    expect(topicMatches('audit.#', 'alerts.audit')).toBe(false);
  });

  it('to the queue by default; to the exchange only on a route the work queue is bound by', () => {
    const processor = QUEUES.alertProcessorAlertsReceived;
    expect(replayRoute(processor, 'queue', { exchange: EXCHANGES.audit, routingKey: 'audit.x.y' })).toEqual({ exchange: '', routingKey: processor });
    expect(replayRoute(processor, 'exchange', { exchange: EXCHANGES.alerts, routingKey: 'alert.received.api' })).toEqual({
      exchange: EXCHANGES.alerts,
      routingKey: 'alert.received.api',
    });
    // Recorded headers naming another exchange, or a key the queue is not bound by, choose nothing.
    expect(replayRoute(processor, 'exchange', { exchange: EXCHANGES.audit, routingKey: 'audit.api_key.create' })).toEqual({
      refused: expect.stringMatching(/is not one that alert-processor.alerts-received is bound by/),
    });
    expect(replayRoute(processor, 'exchange', { exchange: EXCHANGES.alerts, routingKey: 'alert.processed.firing' })).toHaveProperty('refused');
    expect(replayRoute(processor, 'exchange', { exchange: null, routingKey: null })).toEqual({ refused: expect.stringMatching(/no original exchange/) });
    expect(replayRoute(QUEUES.adminAuditEvents, 'exchange', { exchange: EXCHANGES.audit, routingKey: 'audit.rule.update' })).toEqual({
      exchange: EXCHANGES.audit,
      routingKey: 'audit.rule.update',
    });
    // The external queue and any other queue: never an exchange.
    expect(replayRoute('sentryhub_alerts_external', 'exchange', { exchange: EXCHANGES.alerts, routingKey: 'alert.received.webhook' })).toEqual({
      refused: expect.stringMatching(/not a SentryHub work queue/),
    });
  });
});
