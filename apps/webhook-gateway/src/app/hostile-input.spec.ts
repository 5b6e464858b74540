import { AlertReceived, MAX_ALERTS_PER_REQUEST, QUEUES } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, Readiness } from '@sentryhub/service-runtime';
import { createTestVhost, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildGateway } from './app';

const logger = createLogger('webhook-gateway-hostile-test', 'silent');
const json = { 'content-type': 'application/json' };

describe('webhook-gateway under hostile input, against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  /** The production body limit (BODY_LIMIT_BYTES default, 1 MiB). */
  let app: FastifyInstance;
  /** A gateway configured with a 32 MiB body limit: the schema's alert cap must still hold. */
  let roomy: FastifyInstance;

  async function drainReceived(): Promise<AlertReceived[]> {
    const out: AlertReceived[] = [];
    for (;;) {
      const message = await channel.get(QUEUES.alertProcessorAlertsReceived, { noAck: true });
      if (!message) return out;
      out.push(AlertReceived.parse(JSON.parse(message.content.toString())));
    }
  }

  const build = (bodyLimitBytes: number) =>
    buildGateway({
      logger,
      messaging,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('gw-hostile'),
      tokens: [],
      allowAnonymous: true,
      bodyLimitBytes,
    });

  beforeAll(async () => {
    vhost = await createTestVhost('gateway-hostile');
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000 });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    app = await build(1_048_576);
    roomy = await build(32 * 1_048_576);
  });

  afterAll(async () => {
    await app?.close();
    await roomy?.close();
    await connection?.close();
    await messaging?.shutdown();
    await vhost?.destroy();
  });

  beforeEach(async () => {
    await drainReceived();
  });

  it('answers 413 to a 10 MB body and publishes nothing', async () => {
    const payload = JSON.stringify([{ labels: { alertname: 'X', blob: 'x'.repeat(10 * 1024 * 1024) } }]);
    const response = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: json });
    expect(response.statusCode).toBe(413);
    expect(await drainReceived()).toHaveLength(0);
  });

  it(`refuses 100,000 alerts in one payload: 413 at the body limit, 400 over ${MAX_ALERTS_PER_REQUEST} alerts when the limit is raised`, async () => {
    const payload = JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ labels: { alertname: `A${i}` } })));
    expect((await app.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: json })).statusCode).toBe(413);
    const refused = await roomy.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: json });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error).toMatch(`at most ${MAX_ALERTS_PER_REQUEST} alerts per request`);
    const webhook = {
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'r',
      alerts: Array.from({ length: MAX_ALERTS_PER_REQUEST + 1 }, () => ({ status: 'firing', labels: { alertname: 'X' }, startsAt: '2026-11-26T08:00:00Z' })),
    };
    expect((await roomy.inject({ method: 'POST', url: '/api/v1/webhooks/alertmanager', payload: webhook })).statusCode).toBe(400);
    expect(await drainReceived()).toHaveLength(0);
  }, 60_000);

  it('answers 400 to deeply nested JSON, in a known field and in a kept unknown field', async () => {
    const depth = 100_000;
    const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    for (const payload of [`[{"labels":{"alertname":"X"},"extra":${nested}}]`, nested, `{"labels":${nested}}`]) {
      const response = await app.inject({ method: 'POST', url: '/api/v1/alerts', payload, headers: json });
      expect(response.statusCode).toBe(400);
    }
    expect(await drainReceived()).toHaveLength(0);
  });

  it('never answers 5xx to invalid UTF-8; what it accepts is published as well-formed text', async () => {
    const bytes = Buffer.concat([Buffer.from('[{"labels":{"alertname":"bad '), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from('"}}]')]);
    const response = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload: bytes, headers: json });
    expect(response.statusCode).toBeLessThan(500);
    const published = await drainReceived();
    if (response.statusCode === 202) expect(published[0]?.alerts[0]?.labels['alertname']).toMatch(/^bad \uFFFD/);
    else expect(published).toHaveLength(0);
  });

  it('refuses NUL and lone surrogates (PostgreSQL cannot store them) with 400', async () => {
    for (const payload of ['[{"labels":{"alertname":"a\\u0000b"}}]', '[{"labels":{"alertname":"a\\ud800b"}}]', '[{"labels":{"a\\u0000":"v"}}]']) {
      const response = await app.inject({ method: 'POST', url: '/api/v2/alerts', payload, headers: json });
      expect(response.statusCode).toBe(400);
      expect(response.json().issues.length).toBeGreaterThan(0);
    }
    expect(await drainReceived()).toHaveLength(0);
  });

  it('publishes control characters and SQL metacharacters in label values and annotations verbatim; refuses them in label names', async () => {
    const labels = { alertname: "x'); DROP TABLE alert_groups; --", weird: '%_\\"\r\n\u007f$1 OR 1=1\u0001\u001b[31m\t', sev: "O'Brien" };
    const annotations = { summary: "'; SELECT pg_sleep(10); --", "we'ird\u0001\u001b[31m\t\n": 'sev"; --' };
    const response = await app.inject({
      method: 'POST',
      url: '/api/v2/alerts',
      payload: [{ labels, annotations }, { labels: { alertname: 'X', "we'ird\u0001": 'v' } }],
    });
    expect(response.statusCode).toBe(202);
    expect(response.json().rejected).toEqual([{ index: 1, bound: 'label_name', reason: expect.stringMatching(/is not of the grammar/) }]);
    const [message] = await drainReceived();
    expect(message?.alerts).toHaveLength(1);
    expect(message?.alerts[0]?.labels).toEqual(labels);
    expect(message?.alerts[0]?.annotations).toEqual(annotations);
  });

  it('answers every arbitrary JSON body with 202 or a 4xx, never a 5xx (fast-check)', async () => {
    const alertLike = fc.record(
      { labels: fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), startsAt: fc.string(), extra: fc.jsonValue({ maxDepth: 3 }) },
      { requiredKeys: [] },
    );
    const body = fc.oneof(fc.jsonValue({ maxDepth: 4 }), alertLike, fc.array(alertLike, { maxLength: 3 }));
    const routes = fc.constantFrom('/api/v1/webhooks/alertmanager', '/api/v2/alerts', '/api/v1/alerts');
    await fc.assert(
      fc.asyncProperty(routes, body, async (url, payload) => {
        const response = await app.inject({ method: 'POST', url, payload: JSON.stringify(payload), headers: json });
        expect([202, 400, 413, 415]).toContain(response.statusCode);
      }),
      { numRuns: 300 },
    );
    await drainReceived();
  }, 60_000);
});
