import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { alertmanagerWebhook, createTestVhost, waitFor, webhookAlert, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';
import type { CoalescingOptions } from '@sentryhub/intake';

const logger = createLogger('coalescing-test', 'silent');

/** A webhook of `count` alerts named after the request. */
const webhook = (request: number, count: number) =>
  alertmanagerWebhook(
    Array.from({ length: count }, (_, n) => webhookAlert({ labels: { alertname: `Coalesce${request}`, instance: `host-${n}`, severity: 'warning' } })),
    { groupKey: `group-${request}` },
  );

describe('gateway group commit against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const apps: FastifyInstance[] = [];

  /** The real messaging, recording which correlation ids a confirmed message carried, at confirm time. */
  const confirmedRequests = new Set<string>();
  let publishes = 0;
  const recording: Pick<Messaging, 'publish'> = {
    publish: async (exchange, routingKey, body, meta) => {
      publishes++;
      const id = await messaging.publish(exchange, routingKey, body, meta);
      for (const alert of AlertReceived.parse(JSON.parse(String(body))).alerts) if (alert.correlationId) confirmedRequests.add(alert.correlationId);
      return id;
    },
  };

  async function build(publisher: Pick<Messaging, 'publish'>, coalescing?: CoalescingOptions): Promise<FastifyInstance> {
    const app = await buildGateway({
      logger,
      messaging: publisher,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('coalescing-test'),
      tokens: [],
      allowAnonymous: true,
      bodyLimitBytes: 1024 * 1024,
      ...(coalescing ? { coalescing } : {}),
    });
    apps.push(app);
    return app;
  }

  async function drainReceived(): Promise<{ body: AlertReceived; routingKey: string; correlationId: string }[]> {
    const out = [];
    for (;;) {
      const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
      if (!message) return out;
      out.push({
        body: AlertReceived.parse(JSON.parse(message.content.toString())),
        routingKey: message.fields.routingKey,
        correlationId: message.properties.correlationId,
      });
    }
  }

  beforeAll(async () => {
    vhost = await createTestVhost('coalesce');
    // As the gateway connects (main.ts): publishes go through a dedicated confirm channel.
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000, dedicatedPublishChannel: true });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  beforeEach(async () => {
    await drainReceived();
    confirmedRequests.clear();
    publishes = 0;
  });

  it('answers concurrent requests only after the confirm of the message carrying their alerts, in fewer messages, every alert once', async () => {
    // A long wait: the groups close by size or when the lane is idle, hardly by the clock.
    const app = await build(recording, { maxAlerts: 60, maxWaitMs: 1_000, maxInFlight: 1 });
    const requests = 40;
    const answered = await Promise.all(
      Array.from({ length: requests }, (_, n) =>
        app
          .inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook(n, 3), headers: { 'x-request-id': `req-${n}` } })
          .then((response) => ({
            n,
            status: response.statusCode,
            body: response.json<{ accepted: number; id: string }>(),
            // Read at the moment the answer arrived: the confirm of its message must have come first.
            confirmedBefore: confirmedRequests.has(`req-${n}`),
          })),
      ),
    );
    for (const answer of answered) {
      expect(answer.status).toBe(202);
      expect(answer.body).toEqual({ accepted: 3, id: `req-${answer.n}` });
      expect(answer.confirmedBefore).toBe(true);
    }

    const messages = await drainReceived();
    expect(messages.length).toBe(publishes);
    expect(messages.length).toBeLessThan(requests);
    expect(messages.every((message) => message.routingKey === 'alert.received.webhook' && message.body.alerts.length <= 60)).toBe(true);
    const seen = new Map<string, number>();
    for (const message of messages) {
      for (const alert of message.body.alerts) {
        const key = `${alert.correlationId}/${alert.labels['alertname']}/${alert.labels['instance']}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
        expect(alert.labels['alertname']).toBe(`Coalesce${alert.correlationId?.slice(4)}`);
      }
      if (message.body.alerts.length > 3) {
        // A coalesced message keeps every request's id and meta.
        const coalesced = message.body.meta['coalesced'] as { correlationId: string; meta: Record<string, unknown> }[];
        expect(coalesced.map((entry) => entry.correlationId).sort()).toEqual([...new Set(message.body.alerts.map((alert) => alert.correlationId))].sort());
        expect(coalesced.every((entry) => entry.meta['groupKey'] === `group-${entry.correlationId.slice(4)}`)).toBe(true);
        expect(message.correlationId).toBe(message.body.id);
      }
    }
    expect(seen.size).toBe(requests * 3);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  });

  it('coalesces per source: webhooks and API alerts never share a message', async () => {
    const app = await build(recording, { maxAlerts: 1_000, maxWaitMs: 5, maxInFlight: 1 });
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, (_, n) =>
        app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook(n, 2), headers: { 'x-request-id': `req-${n}` } }),
      ),
      ...Array.from({ length: 10 }, (_, n) =>
        app.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: `Api${n}` } }], headers: { 'x-request-id': `api-${n}` } }),
      ),
    ]);
    expect(answers.map((answer) => answer.statusCode)).toEqual(Array.from({ length: 20 }, () => 202));
    const messages = await drainReceived();
    const webhookAlerts = messages.filter((m) => m.routingKey === 'alert.received.webhook').flatMap((m) => m.body.alerts);
    const apiAlerts = messages.filter((m) => m.routingKey === 'alert.received.api').flatMap((m) => m.body.alerts);
    expect(webhookAlerts).toHaveLength(20);
    expect(apiAlerts).toHaveLength(10);
    expect(messages.every((m) => m.body.source === (m.routingKey === 'alert.received.api' ? 'api' : 'webhook'))).toBe(true);
    expect(apiAlerts.every((alert) => alert.correlationId?.startsWith('api-'))).toBe(true);
  });

  it('keeps the one-request message as it was: the request id is the message and correlation id', async () => {
    const app = await build(recording);
    const response = await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook(7, 1), headers: { 'x-request-id': 'alone-1' } });
    expect(response.statusCode).toBe(202);
    const [message, ...rest] = await drainReceived();
    expect(rest).toHaveLength(0);
    expect(message?.body.id).toBe('alone-1');
    expect(message?.correlationId).toBe('alone-1');
    expect(message?.body.meta).toMatchObject({ groupKey: 'group-7' });
  });

  it.each([
    ['a dedicated confirm channel', true],
    ["rascal's publish path", false],
  ])('answers every request waiting on a group 503 when the broker fails the publish (%s)', async (_path, dedicatedPublishChannel) => {
    // Its own vhost, deleted under a connected client: a real broker failure.
    const doomed = await createTestVhost('coalesce-fail');
    const doomedMessaging = await connectMessaging(buildBrokerConfig({ url: doomed.url, consumes: [], retryDelayMs: 60_000 }), {
      logger,
      publishTimeoutMs: 5_000,
      dedicatedPublishChannel,
      retryDelayMs: 60_000,
    });
    try {
      const app = await build(doomedMessaging, { maxAlerts: 1_000, maxWaitMs: 5, maxInFlight: 1 });
      await promisify(execFile)('rabbitmqctl', ['-q', 'delete_vhost', doomed.vhost], { timeout: 60_000 });
      await waitFor(() => (doomedMessaging.isConnected() ? null : true), 30_000, 'the client to notice the vhost is gone');
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, n) =>
          app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook(n, 2), headers: { 'x-request-id': `doomed-${n}` } }),
        ),
      );
      for (const answer of answers) {
        expect(answer.statusCode).toBe(503);
        expect(answer.headers['retry-after']).toBe('5');
        expect(answer.json<{ error: string }>().error).toMatch(/not accepted/);
      }
    } finally {
      await doomedMessaging.shutdown().catch(() => undefined);
    }
  });
});
