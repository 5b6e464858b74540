import { DEFAULT_EXTERNAL_QUEUE } from '@sentryhub/contracts';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningService } from './services';

/**
 * The first end-to-end path (issue 2), across the built services as real processes talking
 * only over RabbitMQ: webhook -> gateway -> alert-processor -> slack-notifier -> Slack.
 */
describe('end to end: an Alertmanager webhook becomes one Slack message', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let slack: SlackMock;
  const services: RunningService[] = [];
  let gatewayUrl: string;

  const webhook = (status: 'firing' | 'resolved', instance = 'host-1') => ({
    version: '4',
    groupKey: '{}:{alertname="DiskFull"}',
    truncatedAlerts: 0,
    status,
    receiver: 'sentryhub',
    groupLabels: { alertname: 'DiskFull' },
    commonLabels: { alertname: 'DiskFull' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels: { alertname: 'DiskFull', instance, severity: 'critical', team: 'storage' },
        annotations: { summary: `Disk almost full on ${instance}` },
        startsAt: '2026-11-26T08:00:00Z',
        endsAt: status === 'resolved' ? '2026-11-26T09:00:00Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus/graph',
      },
    ],
  });

  const post = (payload: unknown) =>
    fetch(`${gatewayUrl}/api/v1/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer e2e-token' },
      body: JSON.stringify(payload),
    });

  beforeAll(async () => {
    [database, vhost, slack] = await Promise.all([createTestDatabase('e2e'), createTestVhost('e2e'), startSlackMock()]);
    await database.db
      .insertInto('slack_rules')
      .values([
        {
          name: 'storage-team',
          priority: 10,
          match_criteria: JSON.stringify({ team: 'storage' }),
          slack_channel: '#storage',
          message_template: ':fire: {{ alert_group.name }} on {{ labels.instance }}: {{ summary }}',
          resolved_message_template: ':white_check_mark: {{ alert_group.name }} on {{ labels.instance }} resolved',
          updated_at: new Date(),
        },
        { name: 'catch-all', priority: 0, match_criteria: JSON.stringify({}), message_template: 'catch-all {{ alert_group.name }}', updated_at: new Date() },
      ])
      .execute();
    const env = {
      RABBITMQ_URL: vhost.url,
      DATABASE_URL: database.url,
      SLACK_INTERNAL_ENDPOINT: slack.url,
      WEBHOOK_TOKENS: 'e2e-token',
      RABBITMQ_EXTERNAL_QUEUE: DEFAULT_EXTERNAL_QUEUE,
    };
    const stack = await startStack(['alert-processor', 'slack-notifier', 'rabbit-consumer'], env);
    services.push(...stack.services);
    gatewayUrl = stack.gatewayUrl;
  });

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all([database?.destroy(), vhost?.destroy(), slack?.close()]);
  });

  it('delivers a firing webhook to Slack through the winning rule', async () => {
    const response = await post(webhook('firing'));
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ accepted: 1 });
    const [message] = await slack.waitForRequests(1);
    expect(message).toMatchObject({ channel: '#storage', text: ':fire: DiskFull on host-1: Disk almost full on host-1' });
  });

  it('sends no second message for the same payload sent again', async () => {
    // Wait until the duplicate has certainly been processed: the group's last occurrence moves
    // (read before the post, so that a duplicate stored before the read is not waited for in vain).
    const before = await database.db.selectFrom('alert_groups').select('last_occurrence').executeTakeFirstOrThrow();
    expect((await post(webhook('firing'))).status).toBe(202);
    await waitFor(
      async () => {
        const row = await database.db.selectFrom('alert_groups').select('last_occurrence').executeTakeFirstOrThrow();
        return row.last_occurrence > before.last_occurrence ? row : null;
      },
      10_000,
      'the duplicate to be processed',
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(slack.requests).toHaveLength(1);
    const instances = await database.db.selectFrom('alert_instances').selectAll().execute();
    expect(instances).toHaveLength(1);
  });

  it('delivers the resolved message when the resolved webhook arrives', async () => {
    expect((await post(webhook('resolved'))).status).toBe(202);
    const requests = await slack.waitForRequests(2);
    expect(requests[1]).toMatchObject({ channel: '#storage', text: ':white_check_mark: DiskFull on host-1 resolved' });
    // Slack answers before the notifier commits the row as sent: wait for the commit.
    const notifications = await waitFor(
      async () => {
        const rows = await database.db.selectFrom('notifications').select(['kind', 'status', 'channel']).orderBy('id').execute();
        return rows.every((row) => row.status !== 'pending') ? rows : null;
      },
      10_000,
      'the notifications to be recorded',
    );
    expect(notifications).toEqual([
      { kind: 'firing', status: 'sent', channel: '#storage' },
      { kind: 'resolved', status: 'sent', channel: '#storage' },
    ]);
    const instance = await database.db.selectFrom('alert_instances').selectAll().executeTakeFirstOrThrow();
    expect(instance).toMatchObject({ status: 'resolved', resolution_type: 'normal' });
  });

  it('answers 400 to a malformed webhook and nothing is published', async () => {
    const groupsBefore = await database.db.selectFrom('alert_groups').select('id').execute();
    const response = await post({ ...webhook('firing', 'host-2'), alerts: [{ status: 'firing', labels: { alertname: 'Broken' } }] });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { issues: unknown[] }).issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: 'alerts.0.startsAt' })]));
    const unauthorised = await fetch(`${gatewayUrl}/api/v1/webhooks/alertmanager`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(webhook('firing', 'host-3')),
    });
    expect(unauthorised.status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await database.db.selectFrom('alert_groups').select('id').execute()).toEqual(groupsBefore);
    expect(slack.requests).toHaveLength(2);
  });

  it('takes alerts from the external queue through the rabbit-consumer, and dead-letters bad ones', async () => {
    const connection = await amqp.connect(vhost.url);
    try {
      const channel = await connection.createConfirmChannel();
      channel.sendToQueue(
        DEFAULT_EXTERNAL_QUEUE,
        Buffer.from(JSON.stringify({ labels: { alertname: 'QueueAlert', team: 'other' }, annotations: { summary: 'from the queue' } })),
        { persistent: true, contentType: 'application/json' },
      );
      channel.sendToQueue(DEFAULT_EXTERNAL_QUEUE, Buffer.from('{not json'), { persistent: true, messageId: 'bad-1' });
      await channel.waitForConfirms();
      const requests = await slack.waitForRequests(3);
      expect(requests[2]).toMatchObject({ channel: '#general', text: 'catch-all QueueAlert' });
      const dead = await waitFor(() => channel.get(`${DEFAULT_EXTERNAL_QUEUE}.dead`, { noAck: true }).then((m) => m || null), 10_000, 'the dead letter');
      expect(dead.properties.messageId).toBe('bad-1');
      expect(String(dead.properties.headers?.['x-error'])).toMatch(/invalid JSON/);
    } finally {
      await connection.close();
    }
  });

  it('stops every service gracefully on SIGTERM with exit code 0', async () => {
    const codes = await Promise.all(services.map((service) => service.stop()));
    expect(codes).toEqual(services.map(() => 0));
  });
});
