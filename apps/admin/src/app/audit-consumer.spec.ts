import { randomUUID } from 'node:crypto';
import { EXCHANGES, HEADERS, QUEUES, ROUTING_KEYS, type AuditEvent } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditTrail } from './audit';
import { subscribeAuditEvents } from './audit-consumer';

const logger = createLogger('audit-consumer-test', 'silent');

describe('the admin audit consumer on a real RabbitMQ and PostgreSQL', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let subscription: Subscription;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const registry = createMetricsRegistry('audit-consumer-test');

  const counted = async (outcome: 'stored' | 'duplicate') => {
    const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === 'sentryhub_admin_audit_events_total');
    return metric?.values.find((value) => value.labels['outcome'] === outcome)?.value ?? 0;
  };
  const rowsOf = (eventId: string) => database.db.selectFrom('audit_log').selectAll().where('event_id', '=', eventId).execute();
  const event = (overrides: Partial<AuditEvent> = {}): AuditEvent => ({
    id: randomUUID(),
    actor: 'service:alert-processor',
    entity: 'silence',
    entityId: '42',
    action: 'expire',
    changes: { endsAt: '2026-11-26T10:00:00.000Z' },
    at: '2026-11-26T10:00:00.000Z',
    ...overrides,
  });
  const publish = (body: AuditEvent) => messaging.publish(EXCHANGES.audit, ROUTING_KEYS.audit(body.entity, body.action), body, { messageId: body.id });

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('audit_consumer'), createTestVhost('audit-consumer')]);
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.adminAuditEvents] }), { logger, registry });
    subscription = await subscribeAuditEvents(messaging, { db: database.db, logger, registry });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await subscription?.cancel();
    await connection?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it("stores another service's event once, even when it is delivered twice", async () => {
    const expired = event();
    const before = await counted('duplicate');
    await publish(expired);
    await waitFor(async () => ((await rowsOf(expired.id)).length === 1 ? true : null), 10_000, 'the audit row');
    await publish(expired);
    await waitFor(async () => ((await counted('duplicate')) >= before + 1 ? true : null), 10_000, 'the duplicate to be consumed');
    const rows = await rowsOf(expired.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor: 'service:alert-processor',
      entity: 'silence',
      entity_id: '42',
      action: 'expire',
      changes: { endsAt: '2026-11-26T10:00:00.000Z' },
    });
    expect(rows[0]?.at.toISOString()).toBe('2026-11-26T10:00:00.000Z');
  });

  it('stores two copies arriving together (one batch) once', async () => {
    const twice = event({ entity: 'slack_rule', action: 'update', entityId: '7' });
    const before = await counted('duplicate');
    await Promise.all([publish(twice), publish(twice)]);
    await waitFor(
      async () => ((await counted('duplicate')) >= before + 1 && (await rowsOf(twice.id)).length === 1 ? true : null),
      10_000,
      'both copies to be consumed',
    );
    expect(await rowsOf(twice.id)).toHaveLength(1);
  });

  it("keeps the admin's own events once: the API writes the row, the consumer finds it there", async () => {
    const trail = auditTrail(() => messaging, logger);
    const before = await counted('duplicate');
    const own = await trail.record(database.db, { actor: 'key:bootstrap', entity: 'api_key', entityId: 3, action: 'create', changes: { role: 'viewer' } });
    await trail.publish(own, 'request-1');
    await waitFor(async () => ((await counted('duplicate')) >= before + 1 ? true : null), 10_000, 'the own event to be consumed');
    expect(await rowsOf(own.id)).toHaveLength(1);
  });

  it('dead-letters an event that does not match the AuditEvent schema, with the reason', async () => {
    const bad = { ...event(), actor: '' };
    await messaging.publish(EXCHANGES.audit, 'audit.silence.create', bad, { messageId: bad.id });
    const dead = await waitFor(async () => (await channel.get(`${QUEUES.adminAuditEvents}.dead`, { noAck: true })) || null, 10_000, 'the dead letter');
    expect(dead.properties.messageId).toBe(bad.id);
    expect(dead.properties.headers?.[HEADERS.errorPath]).toBe('actor');
    expect(await rowsOf(bad.id)).toHaveLength(0);
  });
});
