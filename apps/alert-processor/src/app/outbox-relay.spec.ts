import { AlertProcessed, EXCHANGES, ROUTING_KEYS, type AlertChange } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, WORK_QUEUES, type Messaging } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { outboxMetrics, relayOutbox, splitEvent } from './outbox-relay';
import { outboxSweep } from './outbox-sweeper';

const logger = createLogger('outbox-relay-test', 'silent');
const KIB = 1024;
/** Every notifier's queue: all the work queues bound to `alert.processed.*` (slack, email, webhook). */
const NOTIFIER_QUEUES = WORK_QUEUES.filter((queue) => queue.exchange === EXCHANGES.alerts && queue.bindingKeys.includes(ROUTING_KEYS.allAlertsProcessed)).map(
  (queue) => queue.name,
);

/** A change whose annotation makes it about `bytes` long. */
function change(n: number, bytes = 1_000): AlertChange {
  return {
    change: 'created',
    correlationId: `req-${n}`,
    group: {
      id: n,
      fingerprint: n.toString(16).padStart(16, '0'),
      name: `Bound${n}`,
      labels: { alertname: `Bound${n}` },
      severity: 'warning',
      instance: null,
      source: 'api',
      status: 'firing',
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: {
      id: n,
      status: 'firing',
      startsAt: '2026-11-26T10:00:00.000Z',
      endsAt: null,
      annotations: { blob: 'x'.repeat(Math.max(0, bytes - 600)) },
      generatorURL: null,
      resolutionType: null,
    },
  };
}

function event(id: string, status: 'firing' | 'resolved', changes: AlertChange[]): AlertProcessed {
  return { id, processedAt: '2026-11-26T10:00:01.000Z', status, changes };
}

describe('outbox relay: bounded messages, refused events set aside, stuck rows passed over (real RabbitMQ and PostgreSQL)', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;

  /** Outbox rows, written as the batch store writes them, `ageMs` old. */
  async function insertRows(events: AlertProcessed[], ageMs = 60_000): Promise<void> {
    await database.db
      .insertInto('alert_outbox')
      .values(
        events.map((e) => ({
          message_id: e.id,
          routing_key: `alert.processed.${e.status}`,
          correlation_id: e.changes[0]?.correlationId ?? null,
          payload: JSON.stringify(e),
          created_at: new Date(Date.now() - ageMs),
        })),
      )
      .execute();
  }

  const outbox = async () =>
    (await sql<{ id: string; message_id: string; created_at: Date }>`select id, message_id, created_at from alert_outbox order by id`.execute(database.db))
      .rows;

  async function drain(queue: string): Promise<amqp.GetMessage[]> {
    const messages: amqp.GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (!message) return messages;
      messages.push(message);
    }
  }

  /**
   * Firing events become unroutable (the broker returns them: refused), resolved ones still go:
   * the notifier queues are bound to `alert.processed.resolved` only, for the duration of `work`.
   */
  async function withFiringUnroutable(work: () => Promise<void>): Promise<void> {
    for (const queue of NOTIFIER_QUEUES) {
      await channel.bindQueue(queue, EXCHANGES.alerts, 'alert.processed.resolved');
      await channel.unbindQueue(queue, EXCHANGES.alerts, 'alert.processed.*');
    }
    try {
      await work();
    } finally {
      for (const queue of NOTIFIER_QUEUES) {
        await channel.bindQueue(queue, EXCHANGES.alerts, 'alert.processed.*');
        await channel.unbindQueue(queue, EXCHANGES.alerts, 'alert.processed.resolved');
      }
    }
  }

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('outbox_relay'), createTestVhost('outbox-relay')]);
    // As the processor connects: rascal's confirmed publish path, the whole topology declared.
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000 });
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
  });

  afterAll(async () => {
    await connection?.close();
    await messaging?.shutdown();
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  beforeEach(async () => {
    await sql`delete from alert_outbox`.execute(database.db);
    for (const queue of NOTIFIER_QUEUES) await Promise.all([drain(queue), drain(`${queue}.dead`)]);
  });

  it('splits an event over the byte limit into parts under it, every change once, with stable ids', () => {
    const big = event(
      'batch-1:firing',
      'firing',
      Array.from({ length: 40 }, (_, n) => change(n, 4 * KIB)),
    );
    const body = JSON.stringify(big);
    expect(Buffer.byteLength(body)).toBeGreaterThan(128 * KIB);
    const parts = splitEvent(big.id, body, 64 * KIB);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) {
      expect(part.bytes).toBeLessThanOrEqual(64 * KIB);
      expect(Buffer.byteLength(part.body)).toBe(part.bytes);
      const parsed = AlertProcessed.parse(JSON.parse(part.body));
      expect(parsed.id).toBe(part.messageId);
      expect(parsed).toMatchObject({ status: 'firing', processedAt: big.processedAt });
    }
    expect(parts.map((part) => part.messageId)).toEqual(parts.map((_, index) => `batch-1:firing:${index + 1}`));
    expect(parts.flatMap((part) => AlertProcessed.parse(JSON.parse(part.body)).changes)).toEqual(big.changes);
    expect(splitEvent(big.id, body, 64 * KIB)).toEqual(parts);
    // A batch just stored holds its changes serialised: cut along them, the same parts, nothing parsed.
    const held = { processedAt: big.processedAt, status: big.status, changeBodies: big.changes.map((c) => JSON.stringify(c)) };
    const parse = vi.spyOn(JSON, 'parse');
    expect(splitEvent(big.id, body, 64 * KIB, held)).toEqual(parts);
    expect(parse).not.toHaveBeenCalled();
    parse.mockRestore();
    // One that fits is published as it is.
    expect(splitEvent('small', '{"id":"small"}', 64 * KIB)).toEqual([{ messageId: 'small', body: '{"id":"small"}', bytes: 14 }]);
  });

  it('publishes a big event as parts under PROCESSOR_EVENT_MAX_BYTES, each consumer queue getting every change once', async () => {
    const big = event(
      'big-batch:firing',
      'firing',
      Array.from({ length: 60 }, (_, n) => change(n, 3 * KIB)),
    );
    await insertRows([big]);
    const registry = createMetricsRegistry('outbox-relay-test');
    const result = await relayOutbox(
      database.db,
      messaging,
      { olderThanMs: 0, limit: 10 },
      { maxEventBytes: 64 * KIB, logger, events: outboxMetrics(registry) },
    );
    expect(result).toMatchObject({ rows: 1, published: 1, setAside: 0, kept: 0 });
    expect(await outbox()).toEqual([]);
    for (const queue of NOTIFIER_QUEUES) {
      const messages = await drain(queue);
      expect(messages.length).toBeGreaterThanOrEqual(3);
      // Sizes as the broker holds them.
      expect(Math.max(...messages.map((message) => message.content.length))).toBeLessThanOrEqual(64 * KIB);
      const changes = messages.flatMap((message) => AlertProcessed.parse(JSON.parse(message.content.toString())).changes);
      expect(changes.map((c) => c.group.id).sort((a, b) => a - b)).toEqual(big.changes.map((c) => c.group.id));
      expect(new Set(messages.map((message) => message.properties.messageId)).size).toBe(messages.length);
    }
    expect(await registry.getSingleMetricAsString('sentryhub_processor_outbox_events_total')).toMatch(/outcome="published"[^}]*} 1/);
  });

  it('sets aside an event the broker refuses, with its reason, in the consumers’ dead letters, and the newer events still go', async () => {
    await withFiringUnroutable(async () => {
      await insertRows([event('old:firing', 'firing', [change(1)]), event('new:resolved', 'resolved', [change(2)])]);
      const registry = createMetricsRegistry('outbox-relay-refused');
      const sweep = outboxSweep(database.db, messaging, logger, {
        leftoverAgeMs: 0,
        relay: { maxEventBytes: 64 * KIB, maxRefusals: 1, logger, events: outboxMetrics(registry) },
      });
      expect(await sweep()).toEqual({ published: 1, setAside: 1, kept: 0 });
      expect(await outbox()).toEqual([]);
      for (const queue of NOTIFIER_QUEUES) {
        expect((await drain(queue)).map((message) => message.properties.messageId)).toEqual(['new:resolved']);
        const [dead, ...more] = await drain(`${queue}.dead`);
        expect(more).toHaveLength(0);
        expect(dead?.properties.messageId).toBe('old:firing');
        expect(dead?.properties.headers).toMatchObject({
          'x-original-exchange': 'alerts',
          'x-original-routing-key': 'alert.processed.firing',
          'x-original-queue': queue,
        });
        expect(String(dead?.properties.headers?.['x-error'])).toMatch(/^the broker refused the event \(\d+ bytes\): unroutable/);
        expect(AlertProcessed.parse(JSON.parse(dead?.content.toString() ?? '')).changes[0]?.group.id).toBe(1);
      }
      const counted = await registry.getSingleMetricAsString('sentryhub_processor_outbox_events_total');
      expect(counted).toMatch(/outcome="set_aside"[^}]*} 1/);
      expect(counted).toMatch(/outcome="published"[^}]*} 1/);
    });
  });

  /** A queue bound to firing events that rejects every publish: the broker nacks them, as a quorum queue without a leader does. */
  async function withFiringNacked(work: (queue: string) => Promise<void>): Promise<void> {
    const refusing = `refuse-firing-${Date.now()}`;
    await channel.assertQueue(refusing, { durable: false, arguments: { 'x-max-length': 0, 'x-overflow': 'reject-publish' } });
    await channel.bindQueue(refusing, EXCHANGES.alerts, 'alert.processed.firing');
    try {
      await work(refusing);
    } finally {
      await channel.deleteQueue(refusing);
    }
  }

  const refusalsOf = async (messageId: string) =>
    (await sql<{ refusals: number }>`select refusals from alert_outbox where message_id = ${messageId}`.execute(database.db)).rows[0]?.refusals;

  it('keeps a nacked event in the outbox, counting its refusals in the row, and sets it aside at the maxRefusals-th', async () => {
    await withFiringNacked(async () => {
      await insertRows([event('nacked:firing', 'firing', [change(1)]), event('fine:resolved', 'resolved', [change(2)])]);
      const registry = createMetricsRegistry('outbox-relay-nacked');
      const sweep = outboxSweep(database.db, messaging, logger, {
        leftoverAgeMs: 0,
        relay: { maxEventBytes: 64 * KIB, maxRefusals: 3, logger, events: outboxMetrics(registry) },
      });
      // Refusals 1 and 2: kept (same row, same age), the newer event goes meanwhile.
      const before = (await outbox()).filter((row) => row.message_id === 'nacked:firing');
      expect(await sweep()).toEqual({ published: 1, setAside: 0, kept: 1 });
      expect(await refusalsOf('nacked:firing')).toBe(1);
      expect(await sweep()).toEqual({ published: 0, setAside: 0, kept: 1 });
      expect(await refusalsOf('nacked:firing')).toBe(2);
      expect(await outbox()).toEqual(before);
      for (const queue of NOTIFIER_QUEUES) {
        // A nack from one queue does not take the copies the others accepted: each attempt
        // delivers one more with the same message id, which the notifiers deduplicate.
        expect((await drain(queue)).map((message) => message.properties.messageId).sort()).toEqual(['fine:resolved', 'nacked:firing', 'nacked:firing']);
        expect(await drain(`${queue}.dead`)).toEqual([]);
      }
      // Refusal 3 of 3: set aside with the reason and the count.
      expect(await sweep()).toEqual({ published: 0, setAside: 1, kept: 0 });
      expect(await outbox()).toEqual([]);
      for (const queue of NOTIFIER_QUEUES) {
        const [dead, ...more] = await drain(`${queue}.dead`);
        expect(more).toHaveLength(0);
        expect(dead?.properties.messageId).toBe('nacked:firing');
        expect(String(dead?.properties.headers?.['x-error'])).toMatch(/^the broker refused the event \(\d+ bytes\): .*nack.*\(refusal 3 of 3 allowed\)$/i);
      }
      const counted = await registry.getSingleMetricAsString('sentryhub_processor_outbox_events_total');
      expect(counted).toMatch(/outcome="kept"[^}]*} 2/);
      expect(counted).toMatch(/outcome="set_aside"[^}]*} 1/);
    });
  });

  it('publishes a nacked event once the broker takes it again (a failover over), refusals so far notwithstanding, without setting it aside', async () => {
    let refusing = '';
    await withFiringNacked(async (queue) => {
      refusing = queue;
      await insertRows([event('failover:firing', 'firing', [change(1)])]);
      // The batch path: relayed at once from memory-held bodies or by id; refused once.
      expect(await relayOutbox(database.db, messaging, { messageIds: ['failover:firing'] }, { maxEventBytes: 64 * KIB, maxRefusals: 2, logger })).toMatchObject(
        { rows: 1, kept: 1, setAside: 0, unavailable: 0 },
      );
      expect(await refusalsOf('failover:firing')).toBe(1);
    });
    // The nacking queue is gone: the next sweep publishes it to the notifiers, nothing dead-lettered.
    expect(refusing).not.toBe('');
    const sweep = outboxSweep(database.db, messaging, logger, { leftoverAgeMs: 0, relay: { maxEventBytes: 64 * KIB, maxRefusals: 2, logger } });
    expect(await sweep()).toEqual({ published: 1, setAside: 0, kept: 0 });
    expect(await outbox()).toEqual([]);
    for (const queue of NOTIFIER_QUEUES) {
      // The refused attempt's copy and the confirmed one: the same message id, deduplicated downstream.
      expect((await drain(queue)).map((message) => message.properties.messageId)).toEqual(['failover:firing', 'failover:firing']);
      expect(await drain(`${queue}.dead`)).toEqual([]);
    }
  });

  it('the refusal count survives a restart: a new relay (another process) sets aside at the count stored in the row', async () => {
    await withFiringNacked(async () => {
      await insertRows([event('restart:firing', 'firing', [change(1)])]);
      await sql`update alert_outbox set refusals = 4 where message_id = 'restart:firing'`.execute(database.db);
      // A fresh connection and sweeper, as after a restart: the fifth refusal of five sets it aside.
      const restarted = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 5_000 });
      try {
        const sweep = outboxSweep(database.db, restarted, logger, { leftoverAgeMs: 0, relay: { maxEventBytes: 64 * KIB, maxRefusals: 5, logger } });
        expect(await sweep()).toEqual({ published: 0, setAside: 1, kept: 0 });
      } finally {
        await restarted.shutdown();
      }
      for (const queue of NOTIFIER_QUEUES)
        expect(String((await drain(`${queue}.dead`))[0]?.properties.headers?.['x-error'])).toContain('(refusal 5 of 5 allowed)');
    });
  });

  it('passes over rows that can neither be published nor set aside: newer rows go in the same sweep, the stuck ones stay as they were', async () => {
    // Firing events are refused (unroutable), and without the dead-letter bindings their
    // set-aside is unroutable too: those rows are stuck.
    for (const queue of NOTIFIER_QUEUES) await channel.unbindQueue(`${queue}.dead`, EXCHANGES.deadLetter, queue);
    await withFiringUnroutable(async () => {
      const stuck = Array.from({ length: 4 }, (_, n) => event(`stuck-${n}:firing`, 'firing', [change(100 + n)]));
      await insertRows(stuck, 120_000);
      await insertRows(Array.from({ length: 5 }, (_, n) => event(`newer-${n}:resolved`, 'resolved', [change(200 + n)])));
      const before = await outbox();
      // Pages of 3 rows: the first page is all stuck rows; the rows behind them must still go.
      const sweep = outboxSweep(database.db, messaging, logger, { leftoverAgeMs: 0, pageRows: 3, relay: { maxEventBytes: 64 * KIB, maxRefusals: 1, logger } });
      expect(await sweep()).toEqual({ published: 5, setAside: 0, kept: 4 });
      const left = await outbox();
      expect(left).toEqual(before.filter((row) => row.message_id.startsWith('stuck-')));
      for (const queue of NOTIFIER_QUEUES)
        expect((await drain(queue)).map((message) => message.properties.messageId).sort()).toEqual([
          'newer-0:resolved',
          'newer-1:resolved',
          'newer-2:resolved',
          'newer-3:resolved',
          'newer-4:resolved',
        ]);

      // Rows that arrive later go out on the next sweep, past the stuck ones again.
      await insertRows([event('later:resolved', 'resolved', [change(300)])]);
      expect(await sweep()).toEqual({ published: 1, setAside: 0, kept: 4 });
      for (const queue of NOTIFIER_QUEUES) expect((await drain(queue)).map((message) => message.properties.messageId)).toEqual(['later:resolved']);

      // Once the cause is gone (the dead-letter queues are back), the stuck rows are set aside.
      for (const queue of NOTIFIER_QUEUES) await channel.bindQueue(`${queue}.dead`, EXCHANGES.deadLetter, queue);
      expect(await sweep()).toEqual({ published: 0, setAside: 4, kept: 0 });
      expect(await outbox()).toEqual([]);
      for (const queue of NOTIFIER_QUEUES)
        expect((await drain(`${queue}.dead`)).map((message) => message.properties.messageId).sort()).toEqual(stuck.map((e) => e.id));
    }).finally(async () => {
      for (const queue of NOTIFIER_QUEUES) await channel.bindQueue(`${queue}.dead`, EXCHANGES.deadLetter, queue);
    });
  });

  it('keeps every row, untouched, while the broker is unreachable', async () => {
    await insertRows([event('a:firing', 'firing', [change(1)]), event('b:resolved', 'resolved', [change(2)])]);
    const before = await outbox();
    const down = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger, publishTimeoutMs: 1_000 });
    await down.shutdown();
    const sweep = outboxSweep(database.db, down, logger, { leftoverAgeMs: 0, relay: { maxEventBytes: 64 * KIB, logger } });
    expect(await sweep()).toEqual({ published: 0, setAside: 0, kept: 2 });
    expect(await outbox()).toEqual(before);
    for (const queue of NOTIFIER_QUEUES) expect(await drain(`${queue}.dead`)).toEqual([]);
  });
});
