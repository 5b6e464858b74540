import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { fingerprint } from '@sentryhub/alert-identity';
import { alertmanagerWebhook, createTestVhost, webhookAlert, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';

const logger = createLogger('webhook-gateway-test', 'silent');

const webhook = (overrides: Record<string, unknown> = {}) =>
  alertmanagerWebhook([webhookAlert({ generatorURL: 'http://prometheus/graph' })], overrides) as { alerts: Record<string, unknown>[] };

describe('webhook-gateway against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let channel: amqp.Channel;
  let connection: amqp.ChannelModel;
  let app: FastifyInstance;

  const build = (tokens: string[] = [], publisher: Pick<Messaging, 'publish'> = messaging) =>
    buildGateway({
      logger,
      messaging: publisher,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('gw-test'),
      tokens,
      allowAnonymous: tokens.length === 0,
      bodyLimitBytes: 64 * 1024,
    });

  /** Every message waiting in the processor's queue, parsed. */
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
    // No fingerprint given: the Alertmanager-identical one is computed.
    expect(message?.body.alerts[0]).toMatchObject({
      fingerprint: '0000b575cf5f7ad3',
      status: 'firing',
      endsAt: null,
      annotations: { summary: 'CPU above 90%' },
    });
  });

  it("keys every alert by the fingerprint of its labels: a sender's fingerprint is kept for reference only", async () => {
    const payload = webhook();
    const [first] = payload.alerts;
    if (first) first['fingerprint'] = 'abcdef0123456789';
    expect((await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload })).statusCode).toBe(202);
    expect((await drainReceived())[0]?.body.alerts[0]).toMatchObject({ fingerprint: '0000b575cf5f7ad3', senderFingerprint: 'abcdef0123456789' });
  });

  it("cannot be told to update another group: a sender fingerprint of group A on group B's labels keys group B", async () => {
    const groupA = { alertname: 'SpoofTarget', instance: 'a' };
    const groupB = { alertname: 'Spoofer', instance: 'b' };
    const payload = webhook({
      alerts: [webhookAlert({ labels: groupA }), webhookAlert({ labels: groupB, fingerprint: fingerprint(groupA) })],
    });
    expect((await app.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload })).statusCode).toBe(202);
    const [message] = await drainReceived();
    expect(message?.body.alerts.map((alert) => [alert.labels, alert.fingerprint, alert.senderFingerprint])).toEqual([
      [groupA, fingerprint(groupA), undefined],
      [groupB, fingerprint(groupB), fingerprint(groupA)],
    ]);
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
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/webhooks/alertmanager',
      payload: webhook({ alerts: [{ status: 'firing', labels: {} }] }),
    });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toMatch(/alerts\.0/);
    expect(body.issues).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'alerts.0.startsAt' }), expect.objectContaining({ path: 'alerts.0.labels' })]),
    );
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
      const wrong = await secured.inject({
        method: 'POST',
        url: '/api/v2/alerts',
        payload: [{ labels: { alertname: 'X' } }],
        headers: { authorization: 'Bearer nope' },
      });
      expect(wrong.statusCode).toBe(401);
      expect(await drainReceived()).toHaveLength(0);
      const bearer = await secured.inject({
        method: 'POST',
        url: '/api/v2/alerts',
        payload: [{ labels: { alertname: 'X' } }],
        headers: { authorization: 'Bearer s3cret' },
      });
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
    const down = await connectMessaging(buildBrokerConfig({ url: closedVhost.url, consumes: [] }), {
      logger,
      publishTimeoutMs: 1_000,
      dedicatedPublishChannel,
    });
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
    const notReady = await buildGateway({
      logger,
      messaging,
      readiness,
      registry: createMetricsRegistry('gw-test-2'),
      tokens: [],
      allowAnonymous: true,
      bodyLimitBytes: 1024,
    });
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

  describe('intake bounds: a bad alert is refused alone, the good one beside it is published', () => {
    /** A gateway with room for the largest bounds (annotations of 64 KiB), its own metrics, and the default INTAKE_MAX_FUTURE (10m). */
    let roomy: FastifyInstance;
    const registry = createMetricsRegistry('gw-bounds');
    const MINUTE = 60_000;

    /** `at` written with the offset +02:00 (the same instant), as a sender east of UTC may write it. */
    const plusTwo = (at: number) => new Date(at + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    const iso = (at: number) => new Date(at).toISOString();

    async function rejectedCount(source: string, reason: string): Promise<number> {
      const metric = await registry.getSingleMetric('sentryhub_gateway_alerts_rejected_total')?.get();
      return metric?.values.find((value) => value.labels['source'] === source && value.labels['reason'] === reason)?.value ?? 0;
    }

    beforeAll(async () => {
      roomy = await buildGateway({ logger, messaging, readiness: new Readiness([]), registry, tokens: [], allowAnonymous: true, bodyLimitBytes: 1_048_576 });
    });
    afterAll(async () => {
      await roomy?.close();
    });

    const manyLabels = (count: number) => Object.fromEntries([['alertname', 'Many'], ...Array.from({ length: count - 1 }, (_, i) => [`l${i}`, 'v'])]);

    /** A bad alert of each bound, as postable-alert fields (the webhook adds status firing and a startsAt unless given). */
    const badCases: { bound: string; fields: (now: number) => Record<string, unknown>; reason: RegExp }[] = [
      { bound: 'label_count', fields: () => ({ labels: manyLabels(129) }), reason: /^labels: at most 128 labels per alert \(got 129\)$/ },
      {
        bound: 'label_name',
        fields: () => ({ labels: { alertname: 'X', 'app.kubernetes.io/name': 'x' } }),
        reason: /label name "app\.kubernetes\.io\/name" is not of the grammar/,
      },
      { bound: 'label_name', fields: () => ({ labels: { alertname: 'X', '1st': 'x' } }), reason: /label name "1st"/ },
      { bound: 'label_name_size', fields: () => ({ labels: { alertname: 'X', ['n'.repeat(257)]: 'x' } }), reason: /longer than 256 bytes/ },
      // 8,193 characters, 16,386 bytes of UTF-8: the bound counts bytes.
      {
        bound: 'label_value_size',
        fields: () => ({ labels: { alertname: 'X', text: 'é'.repeat(8_193) } }),
        reason: /label value of "text" is 16386 bytes, over 16384/,
      },
      {
        bound: 'annotations_size',
        fields: () => ({ labels: { alertname: 'X' }, annotations: { a: 'x'.repeat(33_000), b: 'y'.repeat(33_000) } }),
        reason: /^annotations: annotations are 66002 bytes, over 65536 per alert$/,
      },
      {
        bound: 'starts_in_future',
        fields: () => ({ labels: { alertname: 'X' }, startsAt: '9999-12-31T00:00:00Z' }),
        reason: /^startsAt: startsAt 9999-12-31T00:00:00Z is more than 10m after the receipt time \(INTAKE_MAX_FUTURE\)$/,
      },
      // 11 minutes ahead, written with an offset: parsed to the instant, not read as text.
      {
        bound: 'starts_in_future',
        fields: (now) => ({ labels: { alertname: 'X' }, startsAt: plusTwo(now + 11 * MINUTE) }),
        reason: /more than 10m after the receipt time/,
      },
      {
        bound: 'ends_in_future',
        fields: (now) => ({ status: 'resolved', labels: { alertname: 'X' }, startsAt: iso(now - MINUTE), endsAt: iso(now + 11 * MINUTE) }),
        reason: /^endsAt: endsAt .* is more than 10m after the receipt time/,
      },
      {
        bound: 'ends_before_starts',
        fields: (now) => ({ status: 'resolved', labels: { alertname: 'X' }, startsAt: iso(now - MINUTE), endsAt: iso(now - 2 * MINUTE) }),
        reason: /^endsAt: endsAt .* is before startsAt/,
      },
      { bound: 'timestamp', fields: () => ({ labels: { alertname: 'X' }, startsAt: '2026-02-30T00:00:00Z' }), reason: /^startsAt: / },
      { bound: 'timestamp', fields: () => ({ labels: { alertname: 'X' }, startsAt: '2026-11-26 08:00' }), reason: /^startsAt: / },
    ];

    const routes = [
      {
        url: '/api/v1/webhooks/alertmanager',
        source: 'webhook',
        body: (alerts: Record<string, unknown>[]) =>
          webhook({ alerts: alerts.map((alert) => webhookAlert({ startsAt: iso(Date.now() - 5 * MINUTE), annotations: {}, ...alert })) }),
      },
      { url: '/api/v2/alerts', source: 'api', body: (alerts: Record<string, unknown>[]) => alerts.map(({ status: _status, ...alert }) => alert) },
    ];

    for (const route of routes) {
      it.each(badCases)(`${route.url}: $bound ($reason)`, async ({ bound, fields, reason }) => {
        const before = await rejectedCount(route.source, bound);
        const tag = Math.random().toString(36).slice(2);
        const good = { labels: { alertname: 'Good', tag } };
        const response = await roomy.inject({ method: 'POST', url: route.url, payload: route.body([good, fields(Date.now())]) });
        expect(response.statusCode).toBe(202);
        const answer = response.json();
        expect(answer).toEqual({ accepted: 1, id: expect.any(String), rejected: [{ index: 1, bound, reason: expect.stringMatching(reason) }] });
        const [message, ...rest] = await drainReceived();
        expect(rest).toHaveLength(0);
        expect(message?.body.alerts.map((alert) => alert.labels)).toEqual([good.labels]);
        expect(await rejectedCount(route.source, bound)).toBe(before + 1);
      });
    }

    it('keeps what is within the bounds: 128 labels, a 256-byte name, 16 KiB values, 64 KiB of annotations, times up to INTAKE_MAX_FUTURE ahead', async () => {
      const now = Date.now();
      const alerts = [
        { labels: manyLabels(128) },
        { labels: { alertname: 'Edge', ['n'.repeat(256)]: 'é'.repeat(8_192) }, annotations: { a: 'x'.repeat(65_535) } },
        // A sender's clock a little ahead, written with an offset.
        { labels: { alertname: 'Skewed' }, startsAt: plusTwo(now + 9 * MINUTE) },
        // Prometheus's lease: endsAt ahead of now, within INTAKE_MAX_FUTURE: still firing, as before.
        { labels: { alertname: 'Lease' }, startsAt: iso(now - MINUTE), endsAt: iso(now + 4 * MINUTE) },
        // Far in the past is no threat to the state and is kept.
        { labels: { alertname: 'Old' }, startsAt: '0001-01-01T00:00:00Z', endsAt: '1970-01-01T00:00:00Z' },
      ];
      const response = await roomy.inject({ method: 'POST', url: '/api/v2/alerts', payload: alerts });
      expect(response.json()).toEqual({ accepted: 5, id: expect.any(String) });
      const [message] = await drainReceived();
      expect(message?.body.alerts.map((alert) => [alert.labels['alertname'], alert.status])).toEqual([
        ['Many', 'firing'],
        ['Edge', 'firing'],
        ['Skewed', 'firing'],
        ['Lease', 'firing'],
        ['Old', 'resolved'],
      ]);
      expect(message?.body.alerts[2]?.startsAt).toBe(plusTwo(now + 9 * MINUTE));
      // The webhook's zero time means "not ended", never "in the past" or "before startsAt".
      const zero = await roomy.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook() });
      expect(zero.json()).toEqual({ accepted: 1, id: expect.any(String) });
      expect((await drainReceived())[0]?.body.alerts[0]?.endsAt).toBeNull();
    });

    it('honours INTAKE_MAX_FUTURE as configured', async () => {
      const strict = await buildGateway({
        logger,
        messaging,
        readiness: new Readiness([]),
        registry: createMetricsRegistry('gw-strict'),
        tokens: [],
        allowAnonymous: true,
        bodyLimitBytes: 65_536,
        intakeMaxFutureMs: 30_000,
      });
      try {
        const now = Date.now();
        const response = await strict.inject({
          method: 'POST',
          url: '/api/v2/alerts',
          payload: [
            { labels: { alertname: 'Soon' }, startsAt: iso(now + 10_000) },
            { labels: { alertname: 'Later' }, startsAt: iso(now + 5 * MINUTE) },
          ],
        });
        expect(response.json()).toMatchObject({
          accepted: 1,
          rejected: [{ index: 1, bound: 'starts_in_future', reason: expect.stringMatching(/more than 30s after/) }],
        });
        expect((await drainReceived())[0]?.body.alerts.map((alert) => alert.labels['alertname'])).toEqual(['Soon']);
      } finally {
        await strict.close();
      }
    });

    it('the far-future alert that took a group over is refused, and its good batch-mates still go through', async () => {
      const payload = webhook({
        alerts: [
          webhookAlert({ labels: { alertname: 'Takeover' }, startsAt: '9999-12-31T00:00:00Z' }),
          webhookAlert({ labels: { alertname: 'Takeover', instance: 'real' } }),
        ],
      });
      const response = await roomy.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload });
      expect(response.json()).toMatchObject({ accepted: 1, rejected: [{ index: 0, bound: 'starts_in_future' }] });
      const [message] = await drainReceived();
      expect(message?.body.alerts.map((alert) => alert.startsAt)).toEqual(['2026-11-26T08:00:00.123456789Z']);
    });

    it('answers 400 and publishes nothing when every alert is refused, naming each problem; a single alert is index 0', async () => {
      const before = await rejectedCount('api', 'starts_in_future');
      const all = await roomy.inject({
        method: 'POST',
        url: '/api/v2/alerts',
        payload: [{ labels: { alertname: 'A' }, startsAt: '9999-01-01T00:00:00Z' }, { labels: { 'bad-name': 'x' } }],
      });
      expect(all.statusCode).toBe(400);
      expect(all.json()).toEqual({
        error: expect.stringMatching(/^no alert accepted \(2 refused\): 0\.startsAt: startsAt 9999-01-01T00:00:00Z is more than 10m/),
        issues: [
          { path: '0.startsAt', message: expect.stringMatching(/INTAKE_MAX_FUTURE/) },
          { path: '1.labels.bad-name', message: expect.stringMatching(/not of the grammar/) },
        ],
      });
      expect(await rejectedCount('api', 'starts_in_future')).toBe(before + 1);
      const single = await roomy.inject({ method: 'POST', url: '/api/v1/alerts', payload: { labels: { alertname: 'A' }, startsAt: '9999-01-01T00:00:00Z' } });
      expect(single.statusCode).toBe(400);
      expect(single.json().issues).toEqual([{ path: 'startsAt', message: expect.stringMatching(/INTAKE_MAX_FUTURE/) }]);
      expect(await drainReceived()).toHaveLength(0);
    });

    it('still answers 400 to a body that is malformed as a whole, whatever its alerts', async () => {
      for (const [url, payload] of [
        ['/api/v1/webhooks/alertmanager', { ...webhook(), alerts: 'none' }],
        ['/api/v1/webhooks/alertmanager', { ...webhook(), version: '3' }],
        ['/api/v2/alerts', { labels: { alertname: 'not an array' } }],
        ['/api/v1/alerts', 'a string'],
      ] as const) {
        const response = await roomy.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
        expect(response.statusCode).toBe(400);
        expect(response.json().error).toMatch(/^invalid body: /);
      }
      expect(await drainReceived()).toHaveLength(0);
    });
  });
});
