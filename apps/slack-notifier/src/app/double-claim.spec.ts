import { randomBytes, randomUUID } from 'node:crypto';
import { AlertProcessed as AlertProcessedSchema, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import { ruleRepository } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { slackMetrics } from './metrics';
import { notificationRepo } from './notification-repo';
import { prepareChange } from './notify';
import { createSlackSender, type SlackSender } from './slack-client';
import { slackDelivery } from './slack-delivery';

/**
 * Two copies of one `alert.processed` event at once. In one process the channel pacer folds
 * them into one send, and a copy that arrives after the send finds its row `sent` already
 * (notify.ts): neither shows whether `claimPending` would send a row that is already `sent`.
 * Two replicas do: each prepares its copy while the row is pending, and the one that claims
 * second must find it settled.
 */
const logger = createLogger('double-claim-test', 'silent');
const STARTS_AT = '2026-11-26T08:00:00.000Z';

let database: TestDatabase;
let slackMock: SlackMock;
let slack: SlackSender;

beforeAll(async () => {
  [database, slackMock] = await Promise.all([createTestDatabase('double_claim'), startSlackMock()]);
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
});

afterAll(async () => {
  await slack?.close();
  await slackMock?.close();
  await database?.destroy();
});

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function insertRule(name: string, team: string, channel: string): Promise<number> {
  const row = await database.db
    .insertInto('slack_rules')
    .values({
      name,
      match_criteria: JSON.stringify({ team }),
      slack_channel: channel,
      message_template: '{{ status }} {{ alert_group.name }} #{{ latest_instance.id }}',
      updated_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** An episode (the rows the notification's foreign keys need) and its firing change. */
async function firingChange(team: string, name = 'DoubleDelivery'): Promise<AlertChange> {
  const labels = { alertname: name, team };
  const fingerprint = randomBytes(8).toString('hex');
  const group = await database.db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name,
      labels: JSON.stringify(labels),
      severity: 'critical',
      instance: null,
      source: 'webhook',
      current_status: 'firing',
      firing_count: 1,
      first_occurrence: STARTS_AT,
      last_occurrence: STARTS_AT,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const instance = await database.db
    .insertInto('alert_instances')
    .values({ group_id: group.id, status: 'firing', starts_at: STARTS_AT, annotations: '{}', generator_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return {
    change: 'created',
    group: {
      id: group.id,
      fingerprint,
      name,
      labels,
      severity: 'critical',
      instance: null,
      source: 'webhook',
      status: 'firing',
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: { id: instance.id, status: 'firing', startsAt: STARTS_AT, endsAt: null, annotations: {}, generatorURL: null, resolutionType: null },
  };
}

const rowsOf = (instanceId: number) => database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).execute();
const requestsTo = (channel: string) => slackMock.requests.filter((request) => request.channel === channel);

describe('claimPending', () => {
  it('never claims a row that is already sent, failed or suppressed: the attempt is not even called', async () => {
    const t = unique('claim');
    const ruleId = await insertRule(t, t, `#${t}`);
    const repo = notificationRepo(database.db);
    const changes = await Promise.all([firingChange(t), firingChange(t), firingChange(t), firingChange(t)]);
    const drafts = changes.map((change) => ({
      instanceId: change.instance.id,
      ruleId,
      kind: 'firing' as const,
      groupId: change.group.id,
      channel: `#${t}`,
      text: `row ${change.instance.id}`,
    }));
    const [sentDraft, failedDraft, suppressedDraft, pendingDraft] = drafts;
    if (!sentDraft || !failedDraft || !suppressedDraft || !pendingDraft) throw new Error('four drafts expected');
    const sent = (await repo.ensurePending(sentDraft)).row;
    const failed = (await repo.ensurePending(failedDraft)).row;
    expect(await repo.recordSuppressed(suppressedDraft)).toBe(true);
    const suppressed = await database.db
      .selectFrom('notifications')
      .selectAll()
      .where('instance_id', '=', suppressedDraft.instanceId)
      .executeTakeFirstOrThrow();
    const pending = (await repo.ensurePending(pendingDraft)).row;

    // First attempt: `sent` is sent, `failed` is rejected by Slack.
    const first = await repo.claimPending([sent.id, failed.id], async (rows) => ({
      records: new Map(
        rows.map((row) => [
          row.id,
          row.id === sent.id
            ? { status: 'sent' as const, lastError: null, deliveredVia: 'slack' as const }
            : { status: 'failed' as const, lastError: '400 invalid_payload' },
        ]),
      ),
      digest: null,
      result: 'first',
    }));
    expect(first.attempted.map((row) => [row.id, row.status])).toEqual([
      [sent.id, 'sent'],
      [failed.id, 'failed'],
    ]);

    // Claimed again, with one row still pending: only that one is attempted.
    const offered: number[][] = [];
    const second = await repo.claimPending([sent.id, failed.id, suppressed.id, pending.id], async (rows) => {
      offered.push(rows.map((row) => row.id));
      return {
        records: new Map(rows.map((row) => [row.id, { status: 'sent' as const, lastError: null, deliveredVia: 'slack' as const }])),
        digest: null,
        result: 'second',
      };
    });
    expect(offered).toEqual([[pending.id]]);
    expect(second.attempted.map((row) => row.id)).toEqual([pending.id]);
    expect(second.locked.map((row) => row.id).sort((a, b) => a - b)).toEqual([sent.id, failed.id, suppressed.id, pending.id].sort((a, b) => a - b));

    // Nothing pending at all: no attempt, no result.
    let called = false;
    const third = await repo.claimPending([sent.id, failed.id, suppressed.id, pending.id], async () => {
      called = true;
      return { records: new Map(), digest: null, result: 'third' };
    });
    expect(called).toBe(false);
    expect(third).toMatchObject({ attempted: [], result: null });
    expect(third.locked).toHaveLength(4);

    const after = await database.db
      .selectFrom('notifications')
      .select(['id', 'status', 'attempts'])
      .where('id', 'in', [sent.id, failed.id, suppressed.id, pending.id])
      .orderBy('id')
      .execute();
    expect(after).toEqual(
      [
        { id: sent.id, status: 'sent', attempts: 1 },
        { id: failed.id, status: 'failed', attempts: 1 },
        { id: suppressed.id, status: 'suppressed', attempts: 0 },
        { id: pending.id, status: 'sent', attempts: 1 },
      ].sort((a, b) => a.id - b.id),
    );
  });
});

describe('two copies of one alert.processed event at once, on two slack-notifier replicas', () => {
  /**
   * A replica's path for one event, as the handler runs it: every change prepared (rule,
   * `notifications` row), then submitted to the replica's own pacer and delivery.
   */
  function replica(maxPerSecond: number) {
    const notifications = notificationRepo(database.db);
    const metrics = slackMetrics(new Registry());
    const deps = { db: database.db, rules: ruleRepository(database.db, { cacheMs: 0 }), notifications, metrics, defaultChannel: '#default' };
    const delivery = slackDelivery({ notifications, slack, metrics, maxPerSecond });
    return async (event: AlertProcessed) => {
      const options = { logger, lastAttempt: false, processedAt: event.processedAt };
      const prepared = (await Promise.all(event.changes.map((change) => prepareChange(deps, change, options)))).flat();
      return Promise.all(prepared.map((item) => ('settled' in item ? item.settled : delivery.submit(item.deliver.channel, item.deliver.request))));
    };
  }

  it('sends one Slack message and records one sent row when the second replica claims after the first committed', async () => {
    const t = unique('replicas');
    const channel = `#${t}`;
    await insertRule(t, t, channel);
    const fast = replica(100);
    // One message per channel every 1.5 s: after the warm-up below, its next send to the channel waits for that slot.
    const paced = replica(1 / 1.5);
    const warmUp = await firingChange(t, 'WarmUp');
    expect(await paced({ id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes: [warmUp] })).toEqual(['sent']);

    const change = await firingChange(t);
    const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes: [change] };
    // Both copies are prepared while the row is pending; the fast replica sends and commits at
    // once, the paced one reaches its claim about a second later and must find the row sent.
    const [viaFast, viaPaced] = await Promise.all([fast(structuredClone(event)), paced(structuredClone(event))]);

    expect(viaFast).toEqual(['sent']);
    expect(viaPaced).toEqual(['already-settled']);
    expect(requestsTo(channel).map((request) => request.text)).toEqual([
      `firing WarmUp #${warmUp.instance.id}`,
      `firing DoubleDelivery #${change.instance.id}`,
    ]);
    const rows = await rowsOf(change.instance.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 1 });
  });

  describe('through RabbitMQ', () => {
    let vhost: TestVhost;
    const replicas: { messaging: Messaging; subscription: Subscription }[] = [];
    const handled: string[] = [];

    beforeAll(async () => {
      vhost = await createTestVhost('double-claim');
      for (const name of ['a', 'b']) {
        const messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), {
          logger: logger.child({ replica: name }),
        });
        const handler = alertProcessedHandler({
          db: database.db,
          slack,
          registry: new Registry(),
          defaultChannel: '#default',
          rulesCacheMs: 0,
          maxPerSecond: 100,
        });
        const subscription = await subscribe(messaging, {
          queue: QUEUES.slackNotifierAlertsProcessed,
          parse: (json) => AlertProcessedSchema.safeParse(json),
          logger,
          handler: async (event, context) => {
            await handler(event, context);
            handled.push(event.id);
          },
        });
        replicas.push({ messaging, subscription });
      }
    });

    afterAll(async () => {
      for (const { subscription, messaging } of replicas) {
        await subscription.cancel();
        await messaging.shutdown();
      }
      await vhost?.destroy();
    });

    it('delivers each of 20 events published twice at once exactly once, whichever replica took each copy', async () => {
      const t = unique('broker');
      const channel = `#${t}`;
      await insertRule(t, t, channel);
      const [publisher] = replicas;
      if (!publisher) throw new Error('no replica');
      const changes: AlertChange[] = [];
      for (let round = 0; round < 20; round++) {
        const change = await firingChange(t);
        changes.push(change);
        const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes: [change] };
        const copy = () => publisher.messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { messageId: event.id });
        await Promise.all([copy(), copy()]);
        await waitFor(() => (handled.filter((id) => id === event.id).length >= 2 ? true : null), 20_000, `both copies of round ${round} handled`);
        // Vary the phase between rounds, so that the copies meet at different points of a send.
        await sleep((round % 4) * 7);
      }

      const texts = requestsTo(channel).map((request) => request.text);
      // A message may be a digest of several rounds' rows; each alert appears in exactly one.
      const mentions = changes.map((change) => texts.filter((text) => text.split('\n').some((line) => line.endsWith(`#${change.instance.id}`))).length);
      expect(mentions).toEqual(changes.map(() => 1));
      const rows = await database.db
        .selectFrom('notifications')
        .select(['instance_id', 'status', 'attempts'])
        .where(
          'instance_id',
          'in',
          changes.map((change) => change.instance.id),
        )
        .execute();
      expect(rows).toHaveLength(changes.length);
      expect(rows.every((row) => row.status === 'sent' && row.attempts === 1)).toBe(true);
    });
  });
});
