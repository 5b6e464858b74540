import { EXCHANGES } from '@sentryhub/contracts';
import { alertmanagerWebhook, createTestDatabase, createTestVhost, waitFor, webhookAlert, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningService } from './services';

const KIB = 1024;
const MIB = 1024 * KIB;
const REQUESTS = 20;
const ALERTS_PER_REQUEST = 110;
const TOKEN = 'bounds-token';

/**
 * Messages bounded in bytes, across the built gateway and processor as real processes: twenty
 * concurrent requests of almost 1 MiB (the default BODY_LIMIT_BYTES) are all stored, no
 * alert.received message is over GATEWAY_COALESCE_MAX_BYTES (4 MiB) nor any alert.processed one
 * over PROCESSOR_EVENT_MAX_BYTES (256 KiB), the defaults, and nothing stays in the outbox.
 */
describe('end to end: twenty concurrent 1 MiB requests', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const services: RunningService[] = [];
  let gatewayUrl: string;
  const OBSERVER = 'bounds-observer';

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('e2e_bounds'), createTestVhost('e2e-bounds')]);
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    // Sees every message of the alerts exchange, as the broker holds it.
    await channel.assertExchange(EXCHANGES.alerts, 'topic', { durable: true });
    await channel.assertQueue(OBSERVER, { durable: false });
    await channel.bindQueue(OBSERVER, EXCHANGES.alerts, '#');
    const stack = await startStack(['alert-processor'], {
      RABBITMQ_URL: vhost.url,
      DATABASE_URL: database.url,
      WEBHOOK_TOKENS: TOKEN,
      OUTBOX_SWEEP_MS: '1000',
    });
    services.push(...stack.services);
    gatewayUrl = stack.gatewayUrl;
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await connection?.close();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('stores every alert, publishes no message over its limit, and leaves nothing in the outbox', async () => {
    const bodies = Array.from({ length: REQUESTS }, (_, request) =>
      JSON.stringify(
        alertmanagerWebhook(
          Array.from({ length: ALERTS_PER_REQUEST }, (_, n) =>
            webhookAlert({
              labels: { alertname: `Bulk${request}`, instance: `host-${n}`, severity: 'warning' },
              annotations: { summary: `alert ${n}`, description: 'd'.repeat(8 * KIB) },
            }),
          ),
        ),
      ),
    );
    expect(Math.min(...bodies.map((body) => body.length))).toBeGreaterThan(0.85 * MIB);
    expect(Math.max(...bodies.map((body) => body.length))).toBeLessThan(MIB);
    const answers = await Promise.all(
      bodies.map((body) =>
        fetch(`${gatewayUrl}/api/v1/webhooks/alertmanager`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          body,
        }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(bodies.map(() => 202));

    const total = REQUESTS * ALERTS_PER_REQUEST;
    const count = async (query: ReturnType<typeof sql<{ n: string }>>) => Number((await query.execute(database.db)).rows[0]?.n ?? 0);
    await waitFor(
      async () => ((await count(sql<{ n: string }>`select count(*) as n from alert_instances where status = 'firing'`)) === total ? true : null),
      60_000,
      `${total} open episodes`,
    );
    expect(await count(sql<{ n: string }>`select count(*) as n from alert_groups`)).toBe(total);
    await waitFor(async () => ((await count(sql<{ n: string }>`select count(*) as n from alert_outbox`)) === 0 ? true : null), 30_000, 'an empty outbox');

    const sizes: Record<string, number[]> = { received: [], processed: [] };
    let processedChanges = 0;
    for (;;) {
      const message = await channel.get(OBSERVER, { noAck: true });
      if (!message) break;
      const kind = message.fields.routingKey.startsWith('alert.received.') ? 'received' : 'processed';
      sizes[kind]?.push(message.content.length);
      if (kind === 'processed') processedChanges += (JSON.parse(message.content.toString()) as { changes: unknown[] }).changes.length;
    }
    console.info(
      `alert.received: ${sizes['received']?.length} messages, largest ${((Math.max(...(sizes['received'] ?? [])) ?? 0) / MIB).toFixed(2)} MiB; ` +
        `alert.processed: ${sizes['processed']?.length} messages, largest ${((Math.max(...(sizes['processed'] ?? [])) ?? 0) / MIB).toFixed(2)} MiB`,
    );
    expect(sizes['received']?.length).toBeGreaterThan(0);
    expect(sizes['processed']?.length).toBeGreaterThan(0);
    expect(Math.max(...(sizes['received'] ?? []))).toBeLessThanOrEqual(4 * MIB);
    expect(Math.max(...(sizes['processed'] ?? []))).toBeLessThanOrEqual(256 * KIB);
    // Every change went out, once.
    expect(processedChanges).toBe(total);
  });
});
