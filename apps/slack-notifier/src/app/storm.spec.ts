import { randomUUID } from 'node:crypto';
import { AlertProcessed as AlertProcessedSchema, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, parseConfig, Registry } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  seedFiringAlerts,
  startSlackMock,
  waitFor,
  type SlackMock,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackNotifierConfig } from './config';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

/**
 * An alert storm against the real broker, database and an HTTP Slack stand-in, with the
 * service's defaults (SLACK_MAX_PER_SECOND=1, NOTIFIER_PREFETCH): 200 alerts for one channel
 * within a second must become a few messages, not 200 messages over 200 seconds.
 */
const CHANNEL = '#storm';
const ALERTS = 200;
const STARTS_AT = '2026-11-26T08:00:00.000Z';

let database: TestDatabase;
let vhost: TestVhost;
let slackMock: SlackMock;
let slack: SlackSender;
let messaging: Messaging;
let subscription: Subscription;
const registry = new Registry();

const defaults = parseConfig(SlackNotifierConfig, {});
if (!defaults.ok) throw new Error(`the default config is invalid: ${defaults.problems.join('; ')}`);
const { NOTIFIER_PREFETCH, SLACK_MAX_PER_SECOND } = defaults.config;

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_storm'), createTestVhost('slack-storm'), startSlackMock()]);
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
  const logger = createLogger('slack-storm-test', 'silent');
  messaging = await connectMessaging(
    buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], prefetch: NOTIFIER_PREFETCH, retryDelayMs: 200 }),
    { logger },
  );
  subscription = await subscribe(messaging, {
    queue: QUEUES.slackNotifierAlertsProcessed,
    parse: (json) => AlertProcessedSchema.safeParse(json),
    logger,
    handler: alertProcessedHandler({ db: database.db, slack, registry, defaultChannel: '#general', rulesCacheMs: 0, maxPerSecond: SLACK_MAX_PER_SECOND }),
  });
});

afterAll(async () => {
  await subscription?.cancel();
  await messaging?.shutdown();
  await slack?.close();
  await slackMock?.close();
  await database?.destroy();
  await vhost?.destroy();
});

const nameOf = (index: number, prefix = 'Storm') => `${prefix}-${String(index).padStart(3, '0')}`;

/** `count` groups with one firing instance each, as the alert processor leaves them. */
async function seedStorm(count = ALERTS, prefix = 'Storm'): Promise<AlertChange[]> {
  const alerts = Array.from({ length: count }, (_, i) => ({
    name: nameOf(i + 1, prefix),
    labels: { alertname: nameOf(i + 1, prefix), team: prefix.toLowerCase(), instance: `host-${i + 1}` },
    instance: `host-${i + 1}`,
  }));
  return seedFiringAlerts(database.db, alerts, STARTS_AT);
}

async function metric(name: string): Promise<number> {
  return (await registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
}

describe('slack-notifier: an alert storm for one channel', () => {
  it('sends 200 alerts fired within a second as a few paced messages, each alert in exactly one, each row sent', async () => {
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'storm',
        match_criteria: JSON.stringify({ team: 'storm' }),
        slack_channel: CHANNEL,
        message_template: '{{ status }} {{ alert_group.name }} on {{ labels.instance }}',
        updated_at: new Date(),
      })
      .execute();
    const changes = await seedStorm();

    // As the alert processor publishes a storm: some batches of many changes, some single ones, interleaved.
    const events: AlertChange[][] = [];
    for (let next = 0; next < changes.length;) {
      const size = events.length % 2 === 0 ? 30 : 1;
      events.push(changes.slice(next, next + size));
      next += size;
    }
    const started = Date.now();
    await Promise.all(
      events.map((eventChanges) => {
        const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes: eventChanges };
        return messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { correlationId: `storm-${event.id}` });
      }),
    );

    // Every alert has a `sent` row: nothing was dropped.
    const rows = await waitFor(
      async () => {
        const found = await database.db.selectFrom('notifications').selectAll().where('status', '=', 'sent').execute();
        return found.length === ALERTS ? found : null;
      },
      30_000,
      `${ALERTS} sent notifications`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1_200)); // nothing more may follow
    const messages = slackMock.requests.filter((request) => request.channel === CHANNEL);

    // A few messages (not 200), at most SLACK_MAX_PER_SECOND apart. Usually two: the first
    // event's 30 alerts at once, the rest a second later. (No assertion on elapsed time: the
    // count of messages is what pacing with digests guarantees, whatever the machine's load.)
    expect(messages.length).toBeLessThanOrEqual(6);
    expect(slackMock.requests).toHaveLength(messages.length);
    const firstSecondsMessages = messages.filter((message) => message.receivedAt - started < 3_000);
    expect(firstSecondsMessages.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < messages.length; i += 1) {
      expect((messages[i]?.receivedAt ?? 0) - (messages[i - 1]?.receivedAt ?? Infinity)).toBeGreaterThanOrEqual(1_000 / SLACK_MAX_PER_SECOND - 50);
    }

    // Each of the 200 alerts appears in exactly one delivered message, as its own line or message.
    const seen = new Map<string, number>();
    for (const message of messages) {
      expect(message.text.length).toBeLessThan(40_000);
      for (const name of message.text.match(/Storm-\d{3}/g) ?? []) seen.set(name, (seen.get(name) ?? 0) + 1);
    }
    expect(seen.size).toBe(ALERTS);
    expect([...seen.entries()].filter(([, count]) => count !== 1)).toEqual([]);
    for (let i = 1; i <= ALERTS; i += 1) expect(seen.get(nameOf(i))).toBe(1);
    const digests = messages.filter((message) => message.text.startsWith('[SentryHub] '));
    for (const digest of digests) {
      const count = Number(/^\[SentryHub\] (\d+) notifications/.exec(digest.text)?.[1]);
      expect(digest.text.split('\n').filter((line) => line.startsWith('• firing Storm-'))).toHaveLength(count);
      expect(digest.text).not.toMatch(/\+\d+ more/);
    }

    // The rows say which digest carried them, and the digests account for all of them.
    const byDigest = new Map<string, number>();
    for (const row of rows) if (row.digest_id) byDigest.set(row.digest_id, (byDigest.get(row.digest_id) ?? 0) + 1);
    expect(byDigest.size).toBe(digests.length);
    for (const row of rows) {
      expect(row).toMatchObject({ channel: CHANNEL, attempts: 1 });
      if (row.digest_id) expect(row.digest_size).toBe(byDigest.get(row.digest_id));
    }
    expect(rows.filter((row) => row.digest_id === null)).toHaveLength(messages.length - digests.length);
    expect(await metric('sentryhub_slack_digests_total')).toBe(digests.length);
    expect(await metric('sentryhub_slack_digest_notifications_total')).toBe(rows.filter((row) => row.digest_id !== null).length);
  });

  it('folds a steady trickle of one-change events into digests: the prefetch lets the change budget, not the message count, bound a digest', async () => {
    // At a steady pace the processor publishes small events (a batch of a few requests each).
    // Only messages in flight can be folded, so with too small a prefetch one hot channel
    // would take prefetch x (changes per event) per slot and fall ever further behind.
    const TRICKLE = 400;
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'trickle',
        match_criteria: JSON.stringify({ team: 'trickle' }),
        slack_channel: '#trickle',
        message_template: '{{ status }} {{ alert_group.name }}',
        updated_at: new Date(),
      })
      .execute();
    const changes = await seedStorm(TRICKLE, 'Trickle');
    await Promise.all(
      changes.map((change) => {
        const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes: [change] };
        return messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { correlationId: `trickle-${event.id}` });
      }),
    );
    await waitFor(
      async () => {
        const sent = await database.db.selectFrom('notifications').select('id').where('channel', '=', '#trickle').where('status', '=', 'sent').execute();
        return sent.length === TRICKLE ? sent : null;
      },
      30_000,
      `${TRICKLE} sent notifications in #trickle`,
    );
    const messages = slackMock.requests.filter((request) => request.channel === '#trickle');
    // 400 one-change events: a prefetch of 25 took 16 digests or more; the defaults take a few.
    expect(messages.length).toBeLessThanOrEqual(4);
    const names = messages.flatMap((message) => message.text.match(/Trickle-\d{3}/g) ?? []);
    expect(new Set(names).size).toBe(TRICKLE);
    expect(names).toHaveLength(TRICKLE);
  });
});
