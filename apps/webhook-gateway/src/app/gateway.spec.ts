import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { alertmanagerWebhook, createTestVhost, webhookAlert, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';

const logger = createLogger('webhook-gateway-test', 'silent');

const webhook = (overrides: Record<string, unknown> = {}) => alertmanagerWebhook([webhookAlert({ generatorURL: 'http://prometheus/graph' })], overrides) as { alerts: Record<string, unknown>[] };

describe('webhook-gateway against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let channel: amqp.Channel;
  let connection: amqp.ChannelModel;
  let app: FastifyInstance;

  const build = (tokens: string[] = [], publisher: Pick<Messaging, 'publish'> = messaging) =>
    buildGateway({ logger, messaging: publisher, readiness: new Readiness([]), registry: createMetricsRegistry('gw-test'), tokens, allowAnonymous: tokens.length === 0, bodyLimitBytes: 64 * 1024 });

  /** Every message waiting in the processor's queue, parsed. */
  async function drainReceived(): Promise<{ body: AlertReceived; routingKey: string; correlationId: string }[]> {
    const out = [];
    for (;;) {
      const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
      if (!message) return out;
      out.push({ body: AlertReceived.parse(JSON.parse(message.content.toString())), routingKey: message.fields.routingKey, correlationId: message.properties.correlationId });
    }
  }

  beforeAll(async () => {
    vhost = await createTestVhost('gateway');
    // As the gateway connects (main.ts): publishes go through a dedicated confirm channel.
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000, dedicatedPublishChannel: true });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    app = await build();
  });

  afterAll(async () => {
    await app?.close();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  beforeEach(async () => {
    await drainReceived();
  });

  it('publishes a webhook as alert.received.webhook and answers 202 with the message id', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook(), headers: { 'x-request-id': 'req-123' } });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ accepted: 1, id: 'req-123' });
    const [message, ...rest] = await drainReceived();
    expect(rest).toHaveLength(0);
    expect(message?.routingKey).toBe('alert.received.webhook');
    expect(message?.correlationId).toBe('req-123');
    expect(message?.body.source).toBe('webhook');
    expect(message?.body.meta).toMatchObject({ receiver: 'sentryhub', notification_reason: 'new' });
    // No fingerprint given: the Alertmanager-identical one is computed (SPEC section 2 vector).
    expect(message?.body.alerts[0]).toMatchObject({ fingerprint: '0000b575cf5f7ad3', status: 'firing', endsAt: null, annotations: { summary: 'CPU above 90%' } });
  });

  it('keeps a fingerprint that Alertmanager sent', async () => {
    const payload = webhook();
    const [first] = payload.alerts;
    if (first) first['fingerprint'] = 'abcdef0123456789';
    expect((await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload })).statusCode).toBe(202);
    expect((await drainReceived())[0]?.body.alerts[0]?.fingerprint).toBe('abcdef0123456789');
  });

  it('accepts Alertmanager API v2 postable alerts and single alerts on /api/v1/alerts', async () => {
    const v2 = await app.inject({
      method: 'POST',
      url: '/api/v2/alerts',
      payload: [{ labels: { alertname: 'X' } }, { labels: { alertname: 'Y' }, endsAt: '2020-01-01T00:00:00Z', startsAt: '2019-12-31T00:00:00Z' }],
    });
    expect(v2.statusCode).toBe(202);
    expect(v2.json().accepted).toBe(2);
    const single = await app.inject({ method: 'POST', url: '/api/v1/alerts', payload: { labels: { alertname: 'Z' } } });
    expect(single.statusCode).toBe(202);
    const [first, second] = await drainReceived();
    expect(first?.routingKey).toBe('alert.received.api');
    expect(first?.body.alerts.map((a) => [a.fingerprint, a.status])).toEqual([
      ['d2aeefc389ca7746', 'firing'],
      [expect.any(String), 'resolved'],
    ]);
    expect(second?.body.alerts).toHaveLength(1);
  });

  it('answers 400 with the error shape and publishes nothing for a malformed webhook', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook({ alerts: [{ status: 'firing', labels: {} }] }) });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toMatch(/alerts\.0/);
    expect(body.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'alerts.0.startsAt' }), expect.objectContaining({ path: 'alerts.0.labels' })]));
    const empty = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload: [] });
    expect(empty.statusCode).toBe(400);
    expect(await drainReceived()).toHaveLength(0);
  });

  it('answers 415 for a body that is not JSON, 400 for broken JSON and 413 over the body limit', async () => {
    const text = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload: 'alertname=X', headers: { 'content-type': 'text/plain' } });
    expect(text.statusCode).toBe(415);
    expect(text.json().error).toBeTruthy();
    const broken = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload: '[{"labels":', headers: { 'content-type': 'application/json' } });
    expect(broken.statusCode).toBe(400);
    const huge = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: 'X', blob: 'x'.repeat(70 * 1024) } }] });
    expect(huge.statusCode).toBe(413);
    expect(await drainReceived()).toHaveLength(0);
  });

  it('requires one of WEBHOOK_TOKENS as a bearer token or a basic-auth password', async () => {
    const secured = await build(['s3cret', 'other']);
    try {
      const none = await secured.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: 'X' } }] });
      expect(none.statusCode).toBe(401);
      const wrong = await secured.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: 'X' } }], headers: { authorization: 'Bearer nope' } });
      expect(wrong.statusCode).toBe(401);
      expect(await drainReceived()).toHaveLength(0);
      const bearer = await secured.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: 'X' } }], headers: { authorization: 'Bearer s3cret' } });
      expect(bearer.statusCode).toBe(202);
      const basic = await secured.inject({
        method: 'POST',
        url: '/api/v2/alerts',
        payload: [{ labels: { alertname: 'X' } }],
        headers: { authorization: `Basic ${Buffer.from('alertmanager:other').toString('base64')}` },
      });
      expect(basic.statusCode).toBe(202);
      expect(await drainReceived()).toHaveLength(2);
    } finally {
      await secured.close();
    }
  });

  it.each([
    ['a dedicated confirm channel', true],
    ["rascal's publish path", false],
  ])('answers 503 with Retry-After, never 202, when the broker does not confirm (%s)', async (_path, dedicatedPublishChannel) => {
    const closedVhost = await createTestVhost('gateway-down');
    const down = await connectMessaging(buildBrokerConfig({ url: closedVhost.url, consumes: [] }), { logger, publishTimeoutMs: 1_000, dedicatedPublishChannel });
    await down.shutdown();
    const gateway = await build([], down);
    try {
      const response = await gateway.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook() });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json().error).toMatch(/not accepted/);
    } finally {
      await gateway.close();
      await closedVhost.destroy();
    }
  });

  it('serves /healthz, /readyz and an OpenAPI document generated from the schemas', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const readiness = new Readiness(['broker']);
    const notReady = await buildGateway({ logger, messaging, readiness, registry: createMetricsRegistry('gw-test-2'), tokens: [], allowAnonymous: true, bodyLimitBytes: 1024 });
    const ready503 = await notReady.inject({ method: 'GET', url: '/readyz' });
    expect(ready503.statusCode).toBe(503);
    expect(ready503.json().reasons).toEqual({ broker: 'starting' });
    readiness.ready('broker');
    expect((await notReady.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    await notReady.close();
    const openapi = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/api/v1/webhooks/alertmanager', '/api/v2/alerts', '/api/v1/alerts']));
    expect(openapi.paths['/api/v1/webhooks/alertmanager'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('groupKey');
  });
});
