import { randomBytes } from 'node:crypto';
import { DependencyUnavailableError } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, startSlackMock, type SlackMock, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackMetrics } from './metrics';
import { notificationRepo, type NotificationRepo } from './notification-repo';
import { createSlackSender } from './slack-client';
import { slackDelivery } from './slack-delivery';

const logger = createLogger('slack-delivery-test', 'silent');

/**
 * The database goes away between Slack's `ok` and the commit that marks the row sent (found
 * by the PostgreSQL-restart fault scenario: eight alerts notified twice). The row stays
 * pending; when its message comes back, it must be recorded, not sent again.
 */
describe('slack delivery when the database loses the record of a send', () => {
  let database: TestDatabase;
  let slack: SlackMock;

  beforeAll(async () => {
    [database, slack] = await Promise.all([createTestDatabase('slack_delivery'), startSlackMock()]);
  });
  afterAll(async () => {
    await Promise.all([database?.destroy(), slack?.close()]);
  });

  it('records the accepted notification on the next attempt without a second Slack request', async () => {
    const { db } = database;
    const rule = await db.insertInto('slack_rules').values({ name: 'r', match_criteria: '{}', message_template: 'x', updated_at: new Date() }).returning('id').executeTakeFirstOrThrow();
    const group = await db
      .insertInto('alert_groups')
      .values({ fingerprint: randomBytes(8).toString('hex'), name: 'DiskFull', labels: '{}', severity: 'warning', instance: null, source: 'api', current_status: 'firing', firing_count: 1, first_occurrence: new Date(), last_occurrence: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const instance = await db.insertInto('alert_instances').values({ group_id: group.id, status: 'firing', starts_at: new Date(), annotations: '{}', generator_url: null }).returning('id').executeTakeFirstOrThrow();
    const repo = notificationRepo(db);
    const { row } = await repo.ensurePending({ instanceId: instance.id, ruleId: rule.id, kind: 'firing', groupId: group.id, channel: '#ops', text: 'DiskFull on db-1' });

    // The first commit after Slack's answer fails, as when PostgreSQL restarts right then.
    let failNextCommit = true;
    const flaky: NotificationRepo = {
      ...repo,
      claimPending: (ids, attempt) =>
        repo.claimPending(ids, async (pending) => {
          const result = await attempt(pending);
          if (failNextCommit) {
            failNextCommit = false;
            throw new DependencyUnavailableError('PostgreSQL unavailable: Connection terminated unexpectedly');
          }
          return result;
        }),
    };
    const delivery = slackDelivery({ notifications: flaky, slack: createSlackSender({ endpoint: slack.url, timeoutMs: 2_000 }), metrics: slackMetrics(new Registry()), maxPerSecond: 100 });
    const request = { notificationId: row.id, lastAttempt: false, processedAt: new Date().toISOString(), logger };

    await expect(delivery.submit('#ops', request)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(slack.requests.map((sent) => sent.text)).toEqual(['DiskFull on db-1']);
    expect(await db.selectFrom('notifications').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).toEqual({ status: 'pending' });

    // The message comes back (broker retry): recorded as sent, Slack not asked again.
    await expect(delivery.submit('#ops', request)).resolves.toBe('sent');
    expect(slack.requests).toHaveLength(1);
    expect(await db.selectFrom('notifications').select(['status', 'attempts', 'delivered_via']).where('id', '=', row.id).executeTakeFirstOrThrow()).toEqual({ status: 'sent', attempts: 1, delivered_via: 'slack' });
  });
});
