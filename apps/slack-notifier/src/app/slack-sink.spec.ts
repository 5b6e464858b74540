import { randomBytes, randomUUID } from 'node:crypto';
import { AlertProcessed, EXCHANGES, QUEUES, ROUTING_KEYS } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, waitFor, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender } from './slack-client';

/** Without SLACK_INTERNAL_ENDPOINT the message goes to the log, with the event's correlationId. */
describe('slack-notifier without SLACK_INTERNAL_ENDPOINT (Slack sink)', () => {
  let database: TestDatabase;
  let vhost: TestVhost;
  let messaging: Messaging;
  let subscription: Subscription;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    [database, vhost] = await Promise.all([createTestDatabase('slack_sink'), createTestVhost('slack-sink')]);
    const logger = createLogger('slack-notifier-test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
    subscription = await subscribe(messaging, {
      queue: QUEUES.slackNotifierAlertsProcessed,
      parse: (json) => AlertProcessed.safeParse(json),
      handler: alertProcessedHandler({
        db: database.db,
        slack: createSlackSender({ endpoint: undefined, timeoutMs: 1_000 }),
        registry: new Registry(),
        defaultChannel: '#general',
        rulesCacheMs: 0,
      }),
      logger,
    });
  });

  afterAll(async () => {
    await subscription?.cancel();
    await messaging?.shutdown();
    await database?.destroy();
    await vhost?.destroy();
  });

  it('logs {slackSink, channel, text} at info with the correlationId and marks the row sent', async () => {
    const { db } = database;
    await db
      .insertInto('slack_rules')
      .values({
        name: 'sink-rule',
        match_criteria: JSON.stringify({ job: 'node' }),
        message_template: '{{ alert_group.name }}: {{ summary }}',
        updated_at: new Date(),
      })
      .execute();
    const group = await db
      .insertInto('alert_groups')
      .values({
        fingerprint: randomBytes(8).toString('hex'),
        name: 'HighCPU',
        labels: JSON.stringify({ alertname: 'HighCPU', job: 'node' }),
        severity: 'warning',
        instance: null,
        source: 'api',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const instance = await db
      .insertInto('alert_instances')
      .values({ group_id: group.id, status: 'firing', starts_at: new Date(), annotations: JSON.stringify({ summary: 'CPU at 97%' }), generator_url: null })
      .returningAll()
      .executeTakeFirstOrThrow();
    const event: AlertProcessed = {
      id: randomUUID(),
      processedAt: new Date().toISOString(),
      status: 'firing',
      changes: [
        {
          change: 'created',
          group: {
            id: group.id,
            fingerprint: group.fingerprint,
            name: group.name,
            labels: group.labels,
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
            id: instance.id,
            status: 'firing',
            startsAt: instance.starts_at.toISOString(),
            endsAt: null,
            annotations: instance.annotations,
            generatorURL: null,
            resolutionType: null,
          },
        },
      ],
    };
    const correlationId = `req-${randomUUID()}`;
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { correlationId });

    const row = await waitFor(() =>
      db.selectFrom('notifications').selectAll().where('instance_id', '=', instance.id).where('status', '=', 'sent').executeTakeFirst(),
    );
    expect(row).toMatchObject({ channel: '#general', text: 'HighCPU: CPU at 97%', attempts: 1, delivered_via: 'sink' });
    expect(lines.filter((line) => line['slackSink'] === true)).toEqual([
      expect.objectContaining({ level: 30, slackSink: true, channel: '#general', text: 'HighCPU: CPU at 97%', correlationId }),
    ]);
    expect(lines.find((line) => line['msg'] === 'slack notification sent')).toMatchObject({ correlationId, ruleId: row.rule_id, notificationId: row.id });
  });
});
