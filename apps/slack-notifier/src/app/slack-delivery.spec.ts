import { randomBytes } from 'node:crypto';
import { DependencyUnavailableError } from '@sentryhub/messaging';
import { timerRepo } from '@sentryhub/db';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, startSlackMock, type SlackMock, type TestDatabase } from '@sentryhub/testing';
import type { KyselyPlugin, RootOperationNode } from 'kysely';
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
    const rule = await db
      .insertInto('slack_rules')
      .values({ name: 'r', match_criteria: '{}', message_template: 'x', updated_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const group = await db
      .insertInto('alert_groups')
      .values({
        fingerprint: randomBytes(8).toString('hex'),
        name: 'DiskFull',
        labels: '{}',
        severity: 'warning',
        instance: null,
        source: 'api',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const instance = await db
      .insertInto('alert_instances')
      .values({ group_id: group.id, status: 'firing', starts_at: new Date(), annotations: '{}', generator_url: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    const repo = notificationRepo(db);
    const { row } = await repo.ensurePending({
      instanceId: instance.id,
      ruleId: rule.id,
      kind: 'firing',
      groupId: group.id,
      channel: '#ops',
      text: 'DiskFull on db-1',
    });

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
    const delivery = slackDelivery({
      notifications: flaky,
      slack: createSlackSender({ endpoint: slack.url, timeoutMs: 2_000 }),
      metrics: slackMetrics(new Registry()),
      maxPerSecond: 100,
    });
    const request = { notificationId: row.id, lastAttempt: false, processedAt: new Date().toISOString(), logger };

    await expect(delivery.submit('#ops', request)).rejects.toBeInstanceOf(DependencyUnavailableError);
    expect(slack.requests.map((sent) => sent.text)).toEqual(['DiskFull on db-1']);
    expect(await db.selectFrom('notifications').select('status').where('id', '=', row.id).executeTakeFirstOrThrow()).toEqual({ status: 'pending' });

    // The message comes back (broker retry): recorded as sent, Slack not asked again.
    await expect(delivery.submit('#ops', request)).resolves.toBe('sent');
    expect(slack.requests).toHaveLength(1);
    expect(await db.selectFrom('notifications').select(['status', 'attempts', 'delivered_via']).where('id', '=', row.id).executeTakeFirstOrThrow()).toEqual({
      status: 'sent',
      attempts: 1,
      delivered_via: 'slack',
    });
  });
});

describe('notification rows of one event-loop turn', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('slack_rows');
  });
  afterAll(async () => {
    await database?.destroy();
  });

  /** A rule, a group and twenty episodes of it. */
  async function seed() {
    const { db } = database;
    const rule = await db
      .insertInto('slack_rules')
      .values({ name: `rows-${randomBytes(4).toString('hex')}`, match_criteria: '{}', message_template: 'x', updated_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    const group = await db
      .insertInto('alert_groups')
      .values({
        fingerprint: randomBytes(8).toString('hex'),
        name: 'Rows',
        labels: '{}',
        severity: 'warning',
        instance: null,
        source: 'api',
        current_status: 'firing',
        firing_count: 1,
        first_occurrence: new Date(),
        last_occurrence: new Date(),
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const instances = await db
      .insertInto('alert_instances')
      .values(
        Array.from({ length: 20 }, (_, index) => ({
          group_id: group.id,
          status: 'resolved' as const,
          starts_at: new Date(Date.UTC(2026, 10, 26, 0, index)),
          annotations: '{}',
          generator_url: null,
        })),
      )
      .returning('id')
      .execute();
    return { rule, group, instances };
  }

  /** The kinds of the statements run through the plugin, in order. */
  function counted() {
    const statements: string[] = [];
    const counting: KyselyPlugin = {
      transformQuery: ({ node }: { node: RootOperationNode }) => (statements.push(node.kind), node),
      transformResult: async ({ result }) => result,
    };
    return { statements, counting };
  }

  it('are created with one INSERT, found again with one INSERT and one SELECT, each change getting its own row', async () => {
    const { db } = database;
    const { statements, counting } = counted();
    const { rule, group, instances } = await seed();
    const repo = notificationRepo(db.withPlugin(counting));
    const drafts = instances.map((instance) => ({
      instanceId: instance.id,
      ruleId: rule.id,
      kind: 'firing' as const,
      groupId: group.id,
      channel: '#rows',
      text: `row ${instance.id}`,
    }));
    const [firstDraft] = drafts;
    if (!firstDraft) throw new Error('no drafts');

    // Twenty changes and a second copy of the first, as two deliveries of one event would ask.
    const first = await Promise.all([...drafts, firstDraft].map((draft) => repo.ensurePending(draft)));
    // The INSERT is raw SQL (one array a column, unnest), hence a RawNode.
    expect(statements).toEqual(['RawNode']);
    expect(first.map((result) => result.created)).toEqual([...drafts.map(() => true), false]);
    expect(first.map((result) => result.row.instance_id)).toEqual([...drafts, firstDraft].map((draft) => draft.instanceId));
    expect(first.at(-1)?.row.id).toBe(first[0]?.row.id);

    statements.length = 0;
    const again = await Promise.all(drafts.map((draft) => repo.ensurePending(draft)));
    expect(statements).toEqual(['RawNode', 'SelectQueryNode']);
    expect(again.map((result) => [result.created, result.row.id])).toEqual(first.slice(0, 20).map((result) => [false, result.row.id]));
  });
  it('have their timers scheduled with one INSERT a turn; a timer that exists stays as it was', async () => {
    const { db } = database;
    const { statements, counting } = counted();
    const { rule, group, instances } = await seed();
    const timers = timerRepo(db.withPlugin(counting));
    const firstDue = new Date(Date.now() + 60_000);
    const ask = (dueAt: Date) =>
      Promise.all(
        instances.map((instance) =>
          timers.scheduleAll(
            'slack',
            [
              { kind: 'repeat', ruleId: rule.id, dueAt, sequence: 1 },
              // A grouped rule's repeat: the group's, one for all twenty episodes.
              { kind: 'repeat', ruleId: rule.id, dueAt, sequence: 1, groupKey: 'g' },
            ],
            { groupId: group.id, instanceId: instance.id },
          ),
        ),
      );

    await ask(firstDue);
    expect(statements).toEqual(['RawNode']);
    const stored = await db.selectFrom('notification_timers').selectAll().where('rule_id', '=', rule.id).orderBy('id').execute();
    expect(stored.filter((timer) => timer.instance_id !== null).map((timer) => timer.instance_id)).toEqual(instances.map((instance) => instance.id));
    expect(stored.filter((timer) => timer.instance_id === null).map((timer) => [timer.group_key, timer.group_id])).toEqual([['g', null]]);
    expect(new Set(stored.map((timer) => timer.due_at.getTime()))).toEqual(new Set([firstDue.getTime()]));

    // Asked again (a redelivered event), later: nothing moves.
    statements.length = 0;
    await ask(new Date(firstDue.getTime() + 60_000));
    expect(statements).toEqual(['RawNode']);
    const again = await db.selectFrom('notification_timers').selectAll().where('rule_id', '=', rule.id).orderBy('id').execute();
    expect(again.map((timer) => [timer.id, timer.due_at.getTime()])).toEqual(stored.map((timer) => [timer.id, firstDue.getTime()]));
  });
});
