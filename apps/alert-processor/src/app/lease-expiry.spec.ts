import { randomUUID } from 'node:crypto';
import {
  AlertProcessed,
  AlertReceived,
  EXCHANGES,
  parseIntakeAlerts,
  QUEUES,
  ROUTING_KEYS,
  type AlertChange,
  type AlertSource,
  type IntakeShape,
  type NormalizedAlert,
} from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribeBatch, type Messaging, type Subscription } from '@sentryhub/messaging';
import { fingerprint, normalizeIntakeAlerts, SENDER_LEASE_ONLY, type LeasePolicy } from '@sentryhub/alert-identity';
import { createLogger, createMetricsRegistry, type Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertBatchHandler } from './handle-alert-batch';
import { expireLeases, startLeaseExpiry } from './lease-expiry';

const logger = createLogger('lease-test', 'silent');
const RESOLVE_TIMEOUT_MS = 5 * 60_000;
const V2: LeasePolicy = { resolveTimeoutMs: RESOLVE_TIMEOUT_MS };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MAX_FUTURE_MS = 10 * 60_000;

/**
 * Leases (Alertmanager's semantics) through two in-process alert-processor replicas, each with
 * its batch consumer and its lease expiry loop, on a real RabbitMQ vhost and PostgreSQL database.
 * Alerts are judged and normalised by the same intake code the gateway runs, then published as
 * `alert.received` messages; every `alert.processed` event is read from the slack-notifier's queue.
 */
describe('leases and their expiry on a real PostgreSQL and RabbitMQ', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  const replicas: { messaging: Messaging; subscription: Subscription; stopExpiry: () => Promise<void>; registry: Registry }[] = [];
  let connection: amqp.ChannelModel;
  let channel: amqp.Channel;
  const changes: AlertChange[] = [];
  let names = 0;

  const publisher = (): Messaging => {
    const first = replicas[0];
    if (!first) throw new Error('no replica started');
    return first.messaging;
  };

  /** What the gateway would publish for this body on this door, received at `receivedAt`. */
  function intake(shape: IntakeShape, body: unknown, lease: LeasePolicy, receivedAt = new Date()): { alerts: NormalizedAlert[]; receivedAt: Date } {
    const parsed = parseIntakeAlerts(shape, body, { receivedAt, maxFutureMs: MAX_FUTURE_MS });
    if (!parsed.success) throw new Error(`intake refused the test body: ${parsed.error.message}`);
    return { alerts: normalizeIntakeAlerts(parsed.data, receivedAt, lease).alerts, receivedAt };
  }

  async function publish(source: AlertSource, sent: { alerts: NormalizedAlert[]; receivedAt: Date }): Promise<void> {
    const message: AlertReceived = { id: randomUUID(), receivedAt: sent.receivedAt.toISOString(), source, meta: {}, alerts: sent.alerts };
    await publisher().publish(EXCHANGES.alerts, ROUTING_KEYS.alertReceived(source), message, { messageId: message.id });
  }

  const labelsOf = (base: string) => ({ alertname: `${base}-${++names}`, severity: 'warning', instance: 'host-1' });
  const changesOf = (labels: Record<string, string>) => changes.filter((change) => change.group.fingerprint === fingerprint(labels));
  const episodes = (labels: Record<string, string>) =>
    database.db
      .selectFrom('alert_instances')
      .innerJoin('alert_groups', 'alert_groups.id', 'alert_instances.group_id')
      .select([
        'alert_instances.id',
        'alert_instances.status',
        'alert_instances.starts_at',
        'alert_instances.ends_at',
        'alert_instances.resolution_type',
        'alert_instances.lease_ends_at',
        'alert_groups.current_status',
      ])
      .where('alert_groups.fingerprint', '=', fingerprint(labels))
      .orderBy('alert_instances.starts_at')
      .execute();
  const changeOf = (labels: Record<string, string>, kind: AlertChange['change'], count = 1) =>
    waitFor(
      () => {
        const found = changesOf(labels).filter((change) => change.change === kind);
        return found.length >= count ? found : null;
      },
      20_000,
      `${count} ${kind} change(s) of ${labels['alertname']}`,
    );

  /** A counter summed over both replicas. */
  const counterOfReplicas = async (name: string) => {
    let total = 0;
    for (const replica of replicas) total += (await replica.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
    return total;
  };
  const expiredMetric = () => counterOfReplicas('sentryhub_processor_leases_expired_total');
  const processedMetric = () => counterOfReplicas('sentryhub_processor_alerts_total');

  async function startReplica(): Promise<void> {
    const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.alertProcessorAlertsReceived], prefetch: 200 }), { logger });
    const registry = createMetricsRegistry('lease-test');
    const subscription = await subscribeBatch(messaging, {
      queue: QUEUES.alertProcessorAlertsReceived,
      parse: (json) => AlertReceived.safeParse(json),
      handler: alertBatchHandler(database.db, messaging, registry, logger),
      weight: (message) => message.alerts.length,
      maxWeight: 200,
      maxWaitMs: 5,
      logger,
    });
    // Small rounds, so that the two replicas' expiry loops contend for the same due episodes.
    const stopExpiry = startLeaseExpiry(database.db, messaging, logger, { intervalMs: 100, batchSize: 25, registry });
    replicas.push({ messaging, subscription, stopExpiry, registry });
  }

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('leases'), createTestVhost('leases')]);
    await startReplica();
    await startReplica();
    connection = await amqp.connect(vhost.url);
    channel = await connection.createChannel();
    await channel.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
      if (!message) return;
      changes.push(...AlertProcessed.parse(JSON.parse(message.content.toString())).changes);
      channel.ack(message);
    });
  });

  afterAll(async () => {
    await connection?.close();
    for (const replica of replicas) {
      await replica.stopExpiry();
      await replica.subscription.cancel();
      await replica.messaging.shutdown();
    }
    await Promise.all([database?.destroy(), vhost?.destroy()]);
  });

  it('POST /api/v2/alerts: a future endsAt is the lease; without endsAt the lease is the receipt + RESOLVE_TIMEOUT', async () => {
    const withEnd = labelsOf('LeaseFromEndsAt');
    const withoutEnd = labelsOf('LeaseFromResolveTimeout');
    const receivedAt = new Date();
    const endsAt = new Date(receivedAt.getTime() + 4 * 60_000).toISOString();
    await publish('api', intake('alerts', [{ labels: withEnd, endsAt }, { labels: withoutEnd }], V2, receivedAt));
    await changeOf(withEnd, 'created');
    await changeOf(withoutEnd, 'created');
    expect(await episodes(withEnd)).toMatchObject([{ status: 'firing', ends_at: null, lease_ends_at: new Date(endsAt) }]);
    expect(await episodes(withoutEnd)).toMatchObject([{ status: 'firing', ends_at: null, lease_ends_at: new Date(receivedAt.getTime() + RESOLVE_TIMEOUT_MS) }]);
  });

  it('a re-sent alert (same fingerprint and startsAt) extends the lease without an alert.processed event', async () => {
    const labels = labelsOf('LeaseRenewed');
    const startsAt = new Date(Date.now() - 60_000).toISOString();
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: new Date(Date.now() + 1_500).toISOString() }], V2));
    await changeOf(labels, 'created');
    // Re-sent twice before the lease ends, as Prometheus does; the first re-send alone would keep it.
    const renewedTo = new Date(Date.now() + 5 * 60_000);
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: renewedTo.toISOString() }], V2));
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: new Date(Date.now() + 4 * 60_000).toISOString() }], V2));
    await waitFor(async () => ((await episodes(labels))[0]?.lease_ends_at?.getTime() === renewedTo.getTime() ? true : null), 10_000, 'the lease renewed');
    // Past the first lease end, with the expiry loops running: still firing, and no other event.
    await sleep(2_500);
    expect(await episodes(labels)).toMatchObject([{ status: 'firing', lease_ends_at: renewedTo, current_status: 'firing' }]);
    expect(changesOf(labels).map((change) => change.change)).toEqual(['created']);
  });

  it('a lease that ends without renewal resolves the episode: endsAt = the lease end, type expired, one resolved alert.processed', async () => {
    const labels = labelsOf('LeaseExpired');
    const lease = new Date(Date.now() + 2_000);
    await publish('api', intake('alerts', [{ labels, endsAt: lease.toISOString() }], V2));
    const [created] = await changeOf(labels, 'created');
    // Not before its end.
    expect((await episodes(labels))[0]?.status).toBe('firing');
    const [resolved] = await changeOf(labels, 'resolved');
    expect(Date.now()).toBeGreaterThanOrEqual(lease.getTime());
    expect(resolved).toMatchObject({
      change: 'resolved',
      group: { status: 'resolved' },
      instance: { id: created?.instance.id, status: 'resolved', endsAt: lease.toISOString(), resolutionType: 'expired' },
    });
    expect(await episodes(labels)).toMatchObject([{ status: 'resolved', ends_at: lease, resolution_type: 'expired', current_status: 'resolved' }]);
    // Both replicas kept looking: still exactly one resolved event.
    await sleep(1_000);
    expect(changesOf(labels).map((change) => change.change)).toEqual(['created', 'resolved']);
  });

  it("webhook alerts never expire, and /api/v1/alerts or the external queue only with a sender's endsAt", async () => {
    const webhook = labelsOf('WebhookNoLease');
    const v1 = labelsOf('V1NoEndsAt');
    const v1WithEnd = labelsOf('V1WithEndsAt');
    const external = labelsOf('ExternalNoEndsAt');
    const soon = () => new Date(Date.now() + 1_000).toISOString();
    const payload = {
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'sentryhub',
      alerts: [{ status: 'firing', labels: webhook, startsAt: new Date().toISOString(), endsAt: soon() }],
    };
    await publish('webhook', intake('webhook', payload, SENDER_LEASE_ONLY));
    await publish('api', intake('alert-or-alerts', [{ labels: v1 }, { labels: v1WithEnd, endsAt: soon() }], SENDER_LEASE_ONLY));
    await publish('external', intake('any', { labels: external }, SENDER_LEASE_ONLY));
    for (const labels of [webhook, v1, external]) await changeOf(labels, 'created');
    await changeOf(v1WithEnd, 'resolved');
    expect(await episodes(v1WithEnd)).toMatchObject([{ status: 'resolved', resolution_type: 'expired' }]);
    await sleep(1_500);
    for (const labels of [webhook, v1, external]) {
      expect(await episodes(labels)).toMatchObject([{ status: 'firing', lease_ends_at: null, current_status: 'firing' }]);
      expect(changesOf(labels).map((change) => change.change)).toEqual(['created']);
    }
  });

  it('a lease renewed by a door without leases (a webhook) no longer expires', async () => {
    const labels = labelsOf('LeaseCleared');
    const startsAt = new Date(Date.now() - 5_000).toISOString();
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: new Date(Date.now() + 1_500).toISOString() }], V2));
    await changeOf(labels, 'created');
    await publish(
      'webhook',
      intake('webhook', { version: '4', groupKey: 'k', status: 'firing', receiver: 'r', alerts: [{ status: 'firing', labels, startsAt }] }, SENDER_LEASE_ONLY),
    );
    await waitFor(async () => ((await episodes(labels))[0]?.lease_ends_at === null ? true : null), 10_000, 'the lease cleared');
    await sleep(2_000);
    expect(await episodes(labels)).toMatchObject([{ status: 'firing', lease_ends_at: null }]);
  });

  it('a re-send after the episode expired, with a lease still running, re-opens it (refired), as Alertmanager takes it as active again', async () => {
    const labels = labelsOf('LeaseReopened');
    const startsAt = new Date(Date.now() - 10_000).toISOString();
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: new Date(Date.now() + 500).toISOString() }], V2));
    const [created] = await changeOf(labels, 'created');
    await changeOf(labels, 'resolved');
    // A re-send whose endsAt has passed is a resolved for an episode already resolved: nothing.
    // It is processed before the next one is sent: two replicas compete for the queue, and a
    // message is not ordered against one another replica holds (Prometheus sends them 15 s apart).
    const processedBefore = await processedMetric();
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: new Date(Date.now() - 100).toISOString() }], V2));
    await waitFor(async () => ((await processedMetric()) > processedBefore ? true : null), 20_000, 'the resolved re-send to be processed');
    const renewedTo = new Date(Date.now() + 5 * 60_000);
    await publish('api', intake('alerts', [{ labels, startsAt, endsAt: renewedTo.toISOString() }], V2));
    const [refired] = await changeOf(labels, 'refired');
    expect(refired).toMatchObject({
      group: { status: 'firing', firingCount: 2 },
      instance: { id: created?.instance.id, status: 'firing', endsAt: null, resolutionType: null },
    });
    expect(await episodes(labels)).toMatchObject([
      { status: 'firing', ends_at: null, resolution_type: null, lease_ends_at: renewedTo, current_status: 'firing' },
    ]);
    expect(changesOf(labels).map((change) => change.change)).toEqual(['created', 'resolved', 'refired']);
  });

  it('two replicas expire 300 due episodes, each once: one resolved change per episode', async () => {
    const metricBefore = await expiredMetric();
    const labels = Array.from({ length: 300 }, () => labelsOf('LeaseReplicas'));
    const lease = new Date(Date.now() + 2_000);
    await publish(
      'api',
      intake(
        'alerts',
        labels.map((set) => ({ labels: set, endsAt: lease.toISOString() })),
        V2,
      ),
    );
    const fingerprints = new Set(labels.map((set) => fingerprint(set)));
    const ofThese = () => changes.filter((change) => fingerprints.has(change.group.fingerprint));
    await waitFor(() => (ofThese().filter((change) => change.change === 'resolved').length >= labels.length ? true : null), 30_000, 'every episode expired');
    await sleep(1_000);
    const resolved = ofThese().filter((change) => change.change === 'resolved');
    expect(resolved).toHaveLength(labels.length);
    expect(new Set(resolved.map((change) => change.instance.id)).size).toBe(labels.length);
    expect(resolved.every((change) => change.instance.resolutionType === 'expired' && change.instance.endsAt === lease.toISOString())).toBe(true);
    const counts = await sql<{ expired: number; open: number }>`
      select count(*) filter (where i.resolution_type = 'expired')::int as expired, count(*) filter (where i.status = 'firing')::int as open
      from alert_instances i join alert_groups g on g.id = i.group_id where g.fingerprint = any(${[...fingerprints]}::text[])`.execute(database.db);
    expect(counts.rows[0]).toEqual({ expired: labels.length, open: 0 });
    expect((await expiredMetric()) - metricBefore).toBe(labels.length);
  });

  it('expireLeases racing itself: every due episode expired by exactly one of the concurrent rounds', async () => {
    // Stored directly with a lease already over, then expired by eight rounds at once.
    const labels = Array.from({ length: 120 }, () => labelsOf('LeaseRace'));
    const past = new Date(Date.now() - 1_000);
    await Promise.all(replicas.map((replica) => replica.stopExpiry()));
    await publish(
      'api',
      intake(
        'alerts',
        labels.map((set) => ({ labels: set, endsAt: new Date(Date.now() + 60_000).toISOString() })),
        V2,
      ),
    );
    const fingerprints = labels.map((set) => fingerprint(set));
    await waitFor(
      async () => {
        const { rows } = await sql<{
          n: number;
        }>`select count(*)::int as n from alert_instances i join alert_groups g on g.id = i.group_id where g.fingerprint = any(${fingerprints}::text[]) and i.status = 'firing'`.execute(
          database.db,
        );
        return rows[0]?.n === labels.length ? true : null;
      },
      20_000,
      'every episode stored',
    );
    await sql`update alert_instances i set lease_ends_at = ${past.toISOString()}::timestamptz from alert_groups g where g.id = i.group_id and g.fingerprint = any(${fingerprints}::text[])`.execute(
      database.db,
    );
    const now = new Date();
    const rounds = await Promise.all(Array.from({ length: 8 }, () => expireLeases(database.db, now, 40)));
    const again = await expireLeases(database.db, now, 500);
    const ours = new Set(fingerprints);
    const expired = [...rounds, again]
      .flatMap((round) => round.events.flatMap((event) => event.payload.changes))
      .filter((change) => ours.has(change.group.fingerprint));
    expect(expired).toHaveLength(labels.length);
    expect(new Set(expired.map((change) => change.instance.id)).size).toBe(labels.length);
    expect(rounds.filter((round) => round.expired > 0).length).toBeGreaterThan(1);
    expect(await expireLeases(database.db, now, 500)).toMatchObject({ expired: 0, events: [] });
  });
});
