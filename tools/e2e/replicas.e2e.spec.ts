import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningService } from './services';

const run = promisify(execFile);

/**
 * Scaling past one process (docs/scaling.md): two alert-processors and two slack-notifiers
 * compete for the same quorum queues of one vhost and write to one database, behind one
 * gateway, all real processes. A few hundred alerts, each sent twice at once and again later,
 * must be stored once and notified once. The notifier may fold several notifications for one
 * channel into one digest message, so delivery is checked per notification row and per alert
 * name in the texts that reached Slack, not per HTTP request.
 */
const ALERTS = 300;
const RESOLVED = 100;
const CHANNELS = 20;
const PER_WEBHOOK = 10;
const STARTS_AT = Date.parse('2026-11-26T06:00:00Z');

const alertName = (index: number) => `ReplicaAlert${String(index).padStart(4, '0')}`;

function alert(index: number, status: 'firing' | 'resolved') {
  const startsAt = new Date(STARTS_AT + index * 1000).toISOString();
  return {
    status,
    labels: { alertname: alertName(index), instance: `host-${index % 7}`, severity: 'warning', team: 'replicas', channel: `#replicas-${index % CHANNELS}` },
    annotations: { summary: `alert ${index}` },
    startsAt,
    endsAt: status === 'resolved' ? new Date(STARTS_AT + index * 1000 + 3_600_000).toISOString() : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus/graph',
  };
}

function webhook(indexes: number[], status: 'firing' | 'resolved') {
  return {
    version: '4',
    groupKey: `{}:{team="replicas"}:${indexes[0]}`,
    truncatedAlerts: 0,
    status,
    receiver: 'sentryhub',
    groupLabels: { team: 'replicas' },
    commonLabels: { team: 'replicas' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: indexes.map((index) => alert(index, status)),
  };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, offset) => from + offset);
const chunks = (indexes: number[]) =>
  range(0, Math.ceil(indexes.length / PER_WEBHOOK)).map((chunk) => indexes.slice(chunk * PER_WEBHOOK, (chunk + 1) * PER_WEBHOOK));

/** How many of the delivered Slack texts mention `line` (a whole word sequence). */
const occurrences = (texts: string[], line: string) =>
  texts.reduce((count, text) => count + (text.match(new RegExp(`(^|\\W)${line}(?!\\w)`, 'g'))?.length ?? 0), 0);

describe('two replicas of alert-processor and slack-notifier: every alert stored once, every notification sent once', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let slack: SlackMock;
  const services: RunningService[] = [];
  let gatewayUrl: string;

  const post = async (payload: unknown) => {
    const response = await fetch(`${gatewayUrl}/api/v1/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    expect(response.status).toBe(202);
  };

  /** Each webhook twice at the same moment (a redelivery racing the original), a few webhooks at a time. */
  const sendTwiceAtOnce = async (indexes: number[], status: 'firing' | 'resolved') => {
    const batches = chunks(indexes);
    for (let start = 0; start < batches.length; start += 5) {
      await Promise.all(batches.slice(start, start + 5).flatMap((batch) => [post(webhook(batch, status)), post(webhook(batch, status))]));
    }
  };

  const sentNotifications = (count: number) =>
    waitFor(
      async () => {
        const rows = await database.db.selectFrom('notifications').select(['instance_id', 'rule_id', 'kind', 'status']).execute();
        return rows.length >= count && rows.every((row) => row.status === 'sent') ? rows : null;
      },
      120_000,
      `${count} notifications sent`,
    );

  const deliveredTexts = () => slack.requests.map((request) => request.text);

  beforeAll(async () => {
    [database, vhost, slack] = await Promise.all([createTestDatabase('replicas'), createTestVhost('replicas'), startSlackMock()]);
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'replicas',
        priority: 0,
        match_criteria: JSON.stringify({ team: 'replicas' }),
        message_template: 'firing {{ alert_group.name }}',
        resolved_message_template: 'resolved {{ alert_group.name }}',
        updated_at: new Date(),
      })
      .execute();
    const env = { RABBITMQ_URL: vhost.url, DATABASE_URL: database.url, SLACK_INTERNAL_ENDPOINT: slack.url, WEBHOOK_ALLOW_ANONYMOUS: 'true' };
    // The competing consumers first, so that both replicas of each are subscribed before work arrives.
    const stack = await startStack(['alert-processor', 'alert-processor', 'slack-notifier', 'slack-notifier'], env);
    services.push(...stack.services);
    gatewayUrl = stack.gatewayUrl;
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all([database?.destroy(), vhost?.destroy(), slack?.close()]);
  });

  it('has two consumers on each work queue', async () => {
    // list_consumers, not list_queues: a quorum queue's consumer count there lags behind.
    const { stdout } = await run('rabbitmqctl', ['-q', 'list_consumers', '-p', vhost.vhost, 'queue_name', '--no-table-headers'], { timeout: 60_000 });
    const queues = stdout
      .trim()
      .split('\n')
      .map((line) => line.trim());
    expect(queues.filter((queue) => queue === 'alert-processor.alerts-received')).toHaveLength(2);
    expect(queues.filter((queue) => queue === 'slack-notifier.alerts-processed')).toHaveLength(2);
  });

  it('stores every firing alert once and notifies it once, though each was sent twice at once and again later', async () => {
    const all = range(0, ALERTS);
    await sendTwiceAtOnce(all, 'firing');
    await sentNotifications(ALERTS);
    // The same alerts once more, after they are stored: duplicates, no change, no notification.
    const secondWave = new Date();
    await sendTwiceAtOnce(all, 'firing');
    await waitFor(
      async () => {
        const stale = await database.db.selectFrom('alert_groups').select('id').where('last_occurrence', '<', secondWave).limit(1).execute();
        return stale.length === 0 ? true : null;
      },
      30_000,
      'every group to be seen again',
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const groups = await database.db.selectFrom('alert_groups').select(['fingerprint', 'name', 'current_status', 'firing_count']).execute();
    expect(groups).toHaveLength(ALERTS);
    expect(new Set(groups.map((group) => group.name))).toEqual(new Set(all.map(alertName)));
    expect(groups.every((group) => group.current_status === 'firing' && group.firing_count === 1)).toBe(true);
    const instances = await database.db.selectFrom('alert_instances').select(['group_id', 'status']).execute();
    expect(instances).toHaveLength(ALERTS);
    expect(new Set(instances.map((instance) => instance.group_id)).size).toBe(ALERTS);

    const notifications = await database.db.selectFrom('notifications').select(['instance_id', 'rule_id', 'kind', 'status']).execute();
    expect(notifications).toHaveLength(ALERTS);
    expect(notifications.every((row) => row.kind === 'firing' && row.status === 'sent')).toBe(true);
    const texts = await waitFor(
      () => (all.every((index) => occurrences(deliveredTexts(), `firing ${alertName(index)}`) > 0) ? deliveredTexts() : null),
      60_000,
      'every firing alert in a Slack text',
    );
    expect(all.filter((index) => occurrences(texts, `firing ${alertName(index)}`) !== 1).map(alertName), 'alerts not delivered exactly once').toEqual([]);
  });

  it('resolves a third of them once, and notifies each resolution once', async () => {
    const resolved = range(0, RESOLVED);
    await sendTwiceAtOnce(resolved, 'resolved');
    await sendTwiceAtOnce(resolved, 'resolved');
    await sentNotifications(ALERTS + RESOLVED);
    await waitFor(
      () => (resolved.every((index) => occurrences(deliveredTexts(), `resolved ${alertName(index)}`) > 0) ? true : null),
      60_000,
      'every resolution in a Slack text',
    );
    // Give a second delivery, if there were one, the time to show itself.
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const instances = await database.db.selectFrom('alert_instances').select(['status', 'resolution_type']).execute();
    expect(instances).toHaveLength(ALERTS);
    expect(instances.filter((instance) => instance.status === 'resolved').map((instance) => instance.resolution_type)).toEqual(resolved.map(() => 'normal'));

    const notifications = await database.db.selectFrom('notifications').select(['instance_id', 'rule_id', 'kind', 'status', 'sent_at']).execute();
    expect(notifications).toHaveLength(ALERTS + RESOLVED);
    expect(notifications.filter((row) => row.status !== 'sent' || row.sent_at === null)).toEqual([]);
    expect(new Set(notifications.map((row) => `${row.instance_id}/${row.rule_id}/${row.kind}`)).size, 'no (instance, rule, kind) twice').toBe(
      notifications.length,
    );
    expect(notifications.filter((row) => row.kind === 'resolved')).toHaveLength(RESOLVED);

    const texts = deliveredTexts();
    const all = range(0, ALERTS);
    expect(all.filter((index) => occurrences(texts, `firing ${alertName(index)}`) !== 1).map(alertName), 'firing not delivered exactly once').toEqual([]);
    expect(
      all.filter((index) => occurrences(texts, `resolved ${alertName(index)}`) !== (index < RESOLVED ? 1 : 0)).map(alertName),
      'resolution not delivered exactly as often as it happened',
    ).toEqual([]);
    // With per-channel pacing, digests fold several notifications into one message.
    console.info(`${slack.requests.length} Slack requests delivered ${notifications.length} notifications`);
    const outbox = await database.db.selectFrom('alert_outbox').select('id').execute();
    expect(outbox, 'every processed event left the outbox').toEqual([]);
  });

  it('shared the work between both processors, and stops every replica gracefully', async () => {
    const processed = await Promise.all(
      services
        .filter((service) => service.name === 'alert-processor')
        .map(async (service) => {
          const metrics = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
          return Number(metrics.match(/^sentryhub_processor_alerts_total(?:\{[^}]*\})? (\d+)/m)?.[1] ?? 0);
        }),
    );
    expect(processed).toHaveLength(2);
    expect(
      processed.every((count) => count > 0),
      `alerts per processor: ${processed.join(', ')}`,
    ).toBe(true);
    const codes = await Promise.all(services.map((service) => service.stop()));
    expect(codes).toEqual(services.map(() => 0));
  });
});
