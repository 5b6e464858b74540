import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { alertmanagerWebhook, createTestVhost, webhookAlert, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';
import type { CoalescingOptions } from '@sentryhub/intake';

const logger = createLogger('coalescing-bounds-test', 'silent');
const KIB = 1024;
const MIB = 1024 * KIB;

/** A webhook of `count` alerts of about `alertBytes` each (an 8 KiB-ish description), named after the request. */
function bulkyWebhook(request: number, count: number, alertBytes: number) {
  return alertmanagerWebhook(
    Array.from({ length: count }, (_, n) =>
      webhookAlert({
        labels: { alertname: `Bulky${request}`, instance: `host-${n}`, severity: 'warning' },
        annotations: { summary: `request ${request} alert ${n}`, description: 'd'.repeat(alertBytes) },
      }),
    ),
    { groupKey: `bulky-${request}` },
  );
}

describe('gateway messages bounded in bytes, and waiters capped (real RabbitMQ)', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const apps: FastifyInstance[] = [];

  async function build(coalescing: CoalescingOptions, publisher: Pick<Messaging, 'publish'> = messaging, bodyLimitBytes = MIB): Promise<FastifyInstance> {
    const app = await buildGateway({
      logger,
      messaging: publisher,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('bounds'),
      tokens: [],
      allowAnonymous: true,
      bodyLimitBytes,
      coalescing,
    });
    apps.push(app);
    return app;
  }

  /** Every alert.received message as the broker holds it: its size, ids and body. */
  async function drainReceived(): Promise<{ bytes: number; messageId: string; correlationId: string; body: AlertReceived }[]> {
    const out = [];
    for (;;) {
      const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
      if (!message) return out;
      out.push({
        bytes: message.content.length,
        messageId: message.properties.messageId as string,
        correlationId: message.properties.correlationId as string,
        body: AlertReceived.parse(JSON.parse(message.content.toString())),
      });
    }
  }

  beforeAll(async () => {
    vhost = await createTestVhost('coalesce-bounds');
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), {
      logger,
      publishTimeoutMs: 10_000,
      dedicatedPublishChannel: true,
    });
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
  });

  it('twenty concurrent requests of almost 1 MiB: all accepted, every alert once, no message over 4 MiB', async () => {
    // One slot, so that the requests gather while it is busy: only the byte bound keeps groups small.
    const app = await build({ maxAlerts: 2_000, maxWaitMs: 20, maxInFlight: 1 });
    const bodies = Array.from({ length: 20 }, (_, n) => JSON.stringify(bulkyWebhook(n, 110, 8 * KIB)));
    for (const body of bodies) {
      expect(body.length).toBeGreaterThan(0.85 * MIB);
      expect(body.length).toBeLessThan(MIB);
    }
    const answers = await Promise.all(
      bodies.map((payload, n) =>
        app.inject({
          method: 'POST',
          url: '/api/v1/webhooks/alertmanager',
          payload,
          headers: { 'content-type': 'application/json', 'x-request-id': `bulky-${n}` },
        }),
      ),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual(bodies.map(() => 202));

    const messages = await drainReceived();
    const sizes = messages.map((message) => message.bytes);
    console.info(
      `20 requests of ~${bodies[0]?.length ?? 0} bytes -> ${messages.length} messages of ${sizes.map((size) => (size / MIB).toFixed(2)).join(', ')} MiB`,
    );
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4 * MIB);
    // They were coalesced (a message carries several requests), up to the bound.
    expect(messages.length).toBeLessThan(20);
    expect(Math.max(...sizes)).toBeGreaterThan(3 * MIB);
    const seen = new Map<string, number>();
    for (const message of messages) {
      for (const alert of message.body.alerts) {
        const key = `${alert.correlationId}/${alert.labels['instance']}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    expect(seen.size).toBe(20 * 110);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
  });

  it('splits one request bigger than a message over several, and answers once all are confirmed', async () => {
    const app = await build({ maxAlerts: 2_000, maxWaitMs: 0, maxInFlight: 4, maxBytes: 256 * KIB });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks/alertmanager',
      payload: bulkyWebhook(99, 100, 8 * KIB),
      headers: { 'x-request-id': 'split-me' },
    });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toMatchObject({ accepted: 100, id: 'split-me' });
    const messages = await drainReceived();
    expect(messages.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...messages.map((message) => message.bytes))).toBeLessThanOrEqual(256 * KIB);
    expect(messages.map((message) => message.messageId).sort()).toEqual(messages.map((_, index) => `split-me:${index + 1}`).sort());
    expect(messages.every((message) => message.correlationId === 'split-me' && message.body.meta['groupKey'] === 'bulky-99')).toBe(true);
    const instances = messages.flatMap((message) => message.body.alerts.map((alert) => alert.labels['instance']));
    expect(instances.sort()).toEqual(Array.from({ length: 100 }, (_, n) => `host-${n}`).sort());
  });

  it('answers 413, publishing nothing, when one alert alone cannot fit in a message', async () => {
    const app = await build({ maxAlerts: 2_000, maxWaitMs: 0, maxInFlight: 4, maxBytes: 48 * KIB });
    const response = await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: bulkyWebhook(7, 1, 50 * KIB) });
    expect(response.statusCode).toBe(413);
    expect(response.json<{ error: string }>().error).toMatch(/^alert 0 is \d+ bytes of JSON; a message holds at most 49152 \(GATEWAY_COALESCE_MAX_BYTES\)$/);
    expect(await drainReceived()).toEqual([]);
  });

  it('answers 503 with Retry-After past GATEWAY_MAX_WAITING_REQUESTS, and the waiting requests still go', async () => {
    // The real broker, with its confirms held back until the test lets them through.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held: Pick<Messaging, 'publish'> = { publish: async (...args) => (await gate, messaging.publish(...args)) };
    const app = await build({ maxAlerts: 2_000, maxWaitMs: 0, maxInFlight: 1, maxWaitingRequests: 3 }, held);
    const post = (n: number) =>
      app.inject({ method: 'POST', url: '/api/v2/alerts', payload: [{ labels: { alertname: `Waiter${n}` } }], headers: { 'x-request-id': `waiter-${n}` } });

    // One in flight, then three waiting for the slot.
    const first = post(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waiting = [post(1), post(2), post(3)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    const refused = await Promise.all([post(4), post(5)]);
    for (const answer of refused) {
      expect(answer.statusCode).toBe(503);
      expect(answer.headers['retry-after']).toBe('5');
      expect(answer.json<{ error: string }>().error).toMatch(/GATEWAY_MAX_WAITING_REQUESTS=3/);
    }
    const metrics = await app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/sentryhub_gateway_requests_waiting(\{[^}]*\})? 3/);
    expect(metrics.body).toMatch(/sentryhub_gateway_requests_rejected_total\{[^}]*reason="busy"[^}]*\} 2/);

    release();
    const accepted = await Promise.all([first, ...waiting]);
    expect(accepted.map((answer) => answer.statusCode)).toEqual([202, 202, 202, 202]);
    const names = (await drainReceived()).flatMap((message) => message.body.alerts.map((alert) => alert.labels['alertname']));
    expect(names.sort()).toEqual(['Waiter0', 'Waiter1', 'Waiter2', 'Waiter3']);
    // Once the queue drained, requests are taken again.
    expect((await post(6)).statusCode).toBe(202);
  });
});
