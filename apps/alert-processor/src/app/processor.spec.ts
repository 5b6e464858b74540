import { randomUUID } from 'node:crypto';
import { AlertProcessed, AlertReceived, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange, type NormalizedAlert } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribeBatch, type Messaging, type Subscription } from '@sentryhub/messaging';
import { fingerprint } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeBatch } from '@sentryhub/alert-state';
import { alertBatchHandler } from './handle-alert-batch';
import { heldEvent, relayOutbox } from './outbox-relay';

const logger = createLogger('processor-test', 'silent');
const FINGERPRINTS = 500;
const MESSAGES = 1_000;
const ALERTS_PER_MESSAGE = 10;
const T1 = '2026-11-26T10:00:00.000Z';
const T2 = '2026-11-26T11:00:00.000Z';

describe('alert-processor replicas on a real RabbitMQ and PostgreSQL', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  const replicas: { messaging: Messaging; subscription: Subscription }[] = [];
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const changes: AlertChange[] = [];
  const eventIds: string[] = [];

  const labelsOf = (n: number) => ({ alertname: `Load${n}`, instance: `host-${n % 7}`, severity: 'warning' });
  const alertOf = (n: number, status: 'firing' | 'resolved'): NormalizedAlert => ({
    fingerprint: fingerprint(labelsOf(n)),
    status,
    labels: labelsOf(n),
    annotations: {},
    startsAt: T1,
    endsAt: status === 'resolved' ? T2 : null,
    generatorURL: null,
    extra: {},
  });

  const firstReplica = (): Messaging => {
    const [first] = replicas;
    if (!first) throw new Error('no replica started');
    return first.messaging;
  };

  async function startReplica(): Promise<void> {
    const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.alertProcessorAlertsReceived], prefetch: 300 }), { logger });
    const subscription = await subscribeBatch(messaging, {
      queue: QUEUES.alertProcessorAlertsReceived,
      parse: (json) => AlertReceived.safeParse(json),
      handler: alertBatchHandler(database.db, messaging, createMetricsRegistry('processor-test'), logger),
      weight: (message) => message.alerts.length,
      maxWeight: 200,
      maxWaitMs: 5,
      logger,
    });
    replicas.push({ messaging, subscription });
  }

  /**
   * 10,000 alerts over 500 fingerprints: every fingerprint 20 times, in messages of 10, at most
   * 100 unconfirmed at a time (a thousand at once can wait longer than the publish timeout for
   * their confirms on a machine busy with the rest of the suite).
   */
  async function publishAll(status: 'firing' | 'resolved'): Promise<void> {
    const publisher = firstReplica();
    for (let first = 0; first < MESSAGES; first += 100) {
      const sends: Promise<string>[] = [];
      for (let m = first; m < Math.min(first + 100, MESSAGES); m++) {
        const alerts = Array.from({ length: ALERTS_PER_MESSAGE }, (_, j) => alertOf((m * ALERTS_PER_MESSAGE + j) % FINGERPRINTS, status));
        const message: AlertReceived = { id: randomUUID(), receivedAt: new Date().toISOString(), source: 'api', meta: {}, alerts };
        sends.push(publisher.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), message, { messageId: message.id }));
      }
      await Promise.all(sends);
    }
  }

  async function queueDrained(): Promise<boolean> {
    const { messageCount } = await channel.checkQueue(QUEUES.alertProcessorAlertsReceived);
    return messageCount === 0;
  }

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('processor'), createTestVhost('processor')]);
    await startReplica();
    await startReplica();
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    await channel.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
      if (!message) return;
      const event = AlertProcessed.parse(JSON.parse(message.content.toString()));
      eventIds.push(event.id);
      changes.push(...event.changes);
      channel.ack(message);
    });
  });

  afterAll(async () => {
    await connection?.close();
    for (const replica of replicas) {
      await replica.subscription.cancel();
      await replica.messaging.shutdown();
    }
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('two replicas store 10,000 duplicate-heavy firing alerts as exactly 500 groups, 500 instances and 500 "created" changes', async () => {
    await publishAll('firing');
    await waitFor(async () => ((await queueDrained()) && changes.length >= FINGERPRINTS ? true : null), 60_000, 'all firing alerts processed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const counts = await sql<{ groups: number; instances: number; firing: number; counted: number }>`
      select (select count(*)::int from alert_groups) as groups, (select count(*)::int from alert_instances) as instances,
             (select count(*)::int from alert_instances where status = 'firing') as firing,
             (select count(*)::int from alert_groups where firing_count = 1) as counted`.execute(database.db);
    expect(counts.rows[0]).toEqual({ groups: FINGERPRINTS, instances: FINGERPRINTS, firing: FINGERPRINTS, counted: FINGERPRINTS });
    expect(changes.filter((c) => c.change === 'created')).toHaveLength(FINGERPRINTS);
    expect(changes).toHaveLength(FINGERPRINTS);
    expect(new Set(changes.map((c) => c.group.fingerprint)).size).toBe(FINGERPRINTS);
  });

  it('and the 10,000 resolved alerts as exactly 500 "resolved" changes, every episode closed "normal"', async () => {
    changes.length = 0;
    await publishAll('resolved');
    await waitFor(async () => ((await queueDrained()) && changes.length >= FINGERPRINTS ? true : null), 60_000, 'all resolved alerts processed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(changes).toHaveLength(FINGERPRINTS);
    expect(changes.every((c) => c.change === 'resolved' && c.instance.resolutionType === 'normal' && c.instance.endsAt === T2)).toBe(true);
    const open = await database.db.selectFrom('alert_instances').select('id').where('status', '=', 'firing').execute();
    expect(open).toHaveLength(0);
    expect(await database.db.selectFrom('alert_outbox').select('id').execute()).toHaveLength(0);
  });

  it('a crash between commit and ack loses nothing and sends nothing twice: the outbox relay publishes once', async () => {
    changes.length = 0;
    eventIds.length = 0;
    const batch = [{ alert: { ...alertOf(10_001, 'firing') }, source: 'api', receivedAt: new Date(), correlationId: 'crash-1' }];
    // The first delivery commits its state and outbox rows, then the process "dies" before publishing or acking.
    const stored = await storeBatch(database.db, 'crashed-batch', batch);
    expect(stored).toHaveLength(1);
    // The redelivered message finds the state already applied: no new event.
    expect(await storeBatch(database.db, 'redelivered-batch', batch)).toEqual([]);
    // The relay publishes what the crashed batch left, once.
    const messaging = firstReplica();
    expect(await relayOutbox(database.db, messaging, { olderThanMs: 0, limit: 100 })).toMatchObject({ rows: 1, published: 1 });
    expect(await relayOutbox(database.db, messaging, { olderThanMs: 0, limit: 100 })).toMatchObject({ rows: 0 });
    await waitFor(() => (eventIds.length >= 1 ? true : null), 10_000, 'the relayed event');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventIds).toEqual(['crashed-batch:firing']);
    expect(changes[0]).toMatchObject({ change: 'created', correlationId: 'crash-1' });
  });

  it("publishes a batch's events from the bodies in memory, once, and keeps the outbox rows when a publish fails", async () => {
    changes.length = 0;
    eventIds.length = 0;
    const batch = [{ alert: { ...alertOf(30_003, 'firing') }, source: 'api', receivedAt: new Date(), correlationId: 'memory-1' }];
    const events = await storeBatch(database.db, 'memory-batch', batch);
    expect(events.map((event) => event.messageId)).toEqual(['memory-batch:firing']);
    const outboxRows = () => database.db.selectFrom('alert_outbox').select('message_id').where('message_id', '=', 'memory-batch:firing').execute();

    // The publish fails (not a refusal of the message by the broker): the row is put back for the sweeper.
    const refusing = { publish: () => Promise.reject(new Error('broker unreachable')) };
    await expect(relayOutbox(database.db, refusing, { events: events.map(heldEvent) })).resolves.toMatchObject({ rows: 1, published: 0, kept: 1 });
    expect(await outboxRows()).toHaveLength(1);

    expect(await relayOutbox(database.db, firstReplica(), { events: events.map(heldEvent) })).toMatchObject({ published: 1 });
    expect(await outboxRows()).toHaveLength(0);
    // Its row is gone: the same events are not published again.
    expect(await relayOutbox(database.db, firstReplica(), { events: events.map(heldEvent) })).toMatchObject({ rows: 0 });
    await waitFor(() => (eventIds.length >= 1 ? true : null), 10_000, 'the published event');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventIds).toEqual(['memory-batch:firing']);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ change: 'created', correlationId: 'memory-1', group: { fingerprint: alertOf(30_003, 'firing').fingerprint } });
  });

  it('dead-letters a message that fails its schema without failing the rest of its batch', async () => {
    changes.length = 0;
    const publisher = firstReplica();
    await publisher.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), { id: 'broken', alerts: 'none' }, { messageId: 'broken' });
    const good: AlertReceived = { id: 'good', receivedAt: new Date().toISOString(), source: 'api', meta: {}, alerts: [alertOf(20_002, 'firing')] };
    await publisher.publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), good, { messageId: 'good' });
    await waitFor(() => (changes.length >= 1 ? true : null), 10_000, 'the good message');
    const dead = await waitFor(
      () => channel.get(`${QUEUES.alertProcessorAlertsReceived}.dead`, { noAck: true }).then((m) => m || null),
      10_000,
      'the dead letter',
    );
    expect(dead.properties.messageId).toBe('broken');
    expect(String(dead.properties.headers?.['x-error'])).toMatch(/invalid message/);
  });

  /** Publishes alerts on the alerts exchange as an intake would, and waits until the processor has taken them. */
  async function deliver(...alerts: NormalizedAlert[]): Promise<void> {
    const message: AlertReceived = { id: randomUUID(), receivedAt: new Date().toISOString(), source: 'api', meta: {}, alerts };
    await firstReplica().publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived('api'), message, { messageId: message.id });
    await waitFor(async () => ((await queueDrained()) ? true : null), 10_000, 'the message processed');
    // Drained from the queue is not yet committed: wait for the batch's transaction too.
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const episodesOf = async (labels: Record<string, string>) =>
    sql<{ status: string; starts_at: Date; ends_at: Date | null; resolution_type: string | null; current_status: string }>`
      select i.status, i.starts_at, i.ends_at, i.resolution_type, g.current_status from alert_instances i join alert_groups g on g.id = i.group_id
      where g.fingerprint = ${fingerprint(labels)} order by i.starts_at`
      .execute(database.db)
      .then((result) => result.rows);

  it('a far-future episode (sent around intake, or stored before its bounds) cannot take its group over', async () => {
    const labels = { alertname: 'Takeover', instance: 'processor' };
    const alert = (status: 'firing' | 'resolved', startsAt: string, endsAt: string | null = null): NormalizedAlert => ({
      fingerprint: fingerprint(labels),
      status,
      labels,
      annotations: {},
      startsAt,
      endsAt,
      generatorURL: null,
      extra: {},
    });
    const earlier = new Date(Date.now() - 3_600_000).toISOString();
    await deliver(alert('firing', earlier));
    await deliver(alert('firing', '9999-12-31T00:00:00.000Z'));
    // The open episode was closed when the 9999 one arrived, at that time: not with an end in year 9999.
    const [first] = await episodesOf(labels);
    expect(first).toMatchObject({ status: 'resolved', resolution_type: 'inferred' });
    expect(first?.ends_at?.getTime()).toBeLessThanOrEqual(Date.now());

    // A real firing now opens its episode, and its resolved closes it: the group is not wedged.
    const now = new Date(Date.now() - 1_000).toISOString();
    await deliver(alert('firing', now));
    await deliver(alert('resolved', now, new Date().toISOString()));
    const episodes = await episodesOf(labels);
    expect(episodes.map((episode) => [episode.starts_at.toISOString(), episode.status, episode.resolution_type])).toEqual([
      [earlier, 'resolved', 'inferred'],
      [now, 'resolved', 'normal'],
      ['9999-12-31T00:00:00.000Z', 'resolved', 'inferred'],
    ]);
    // The 9999 episode ended where it started: no episode ends before it starts, nor in year 9999 for another.
    expect(episodes[2]?.ends_at?.toISOString()).toBe('9999-12-31T00:00:00.000Z');
    expect(episodes[0]?.current_status).toBe('resolved');
  });

  it("a message's fingerprint never decides the group: labels of group B with group A's fingerprint do not rewrite group A", async () => {
    const groupA = { alertname: 'SpoofTarget', team: 'a' };
    const groupB = { alertname: 'Spoofer', team: 'b' };
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    await deliver({
      fingerprint: fingerprint(groupA),
      status: 'firing',
      labels: groupA,
      annotations: {},
      startsAt,
      endsAt: null,
      generatorURL: null,
      extra: {},
    });
    // As an intake before this change passed a sender's field on, or a publisher on the alerts exchange would.
    await deliver({
      fingerprint: fingerprint(groupA),
      status: 'resolved',
      labels: groupB,
      annotations: {},
      startsAt,
      endsAt: new Date().toISOString(),
      generatorURL: null,
      extra: {},
    });
    const groups = await database.db
      .selectFrom('alert_groups')
      .select(['fingerprint', 'labels', 'name', 'current_status'])
      .where('fingerprint', 'in', [fingerprint(groupA), fingerprint(groupB)])
      .orderBy('name')
      .execute();
    expect(groups).toEqual([
      { fingerprint: fingerprint(groupA), labels: groupA, name: 'SpoofTarget', current_status: 'firing' },
      { fingerprint: fingerprint(groupB), labels: groupB, name: 'Spoofer', current_status: 'resolved' },
    ]);
  });
});
