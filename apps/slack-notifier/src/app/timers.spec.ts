import { randomBytes, randomUUID } from 'node:crypto';
import {
  AlertProcessed as AlertProcessedSchema,
  deadLetterQueueName,
  EXCHANGES,
  HEADERS,
  QUEUES,
  ROUTING_KEYS,
  type AlertChange,
  type AlertProcessed,
} from '@sentryhub/contracts';
import amqplib from 'amqplib';
import { createDb, groupDeadLetterPublisher, timerLoop, type Database, type TimerLoop } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  firingChange,
  insertSilence,
  resolvedChange,
  seedAlert,
  startSlackMock,
  waitFor,
  type SeededAlert,
  type SlackMock,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

/**
 * Timers in PostgreSQL through the real slack-notifier handler, RabbitMQ, PostgreSQL and an
 * HTTP server standing in for Slack, with two notifier "replicas" (each its own handler,
 * database pool and timer loop) sharing the timers: repeats stop on acknowledgement, a silence
 * that ends (or is deleted) tells the held-back episode once, an inhibition source that
 * resolves tells its held-back target, escalation tells the other rule once and only while
 * unacknowledged, and no timer message goes out twice.
 */
const RECHECK_MS = 400;
/** The retry delays of a group's message that Slack does not take (MESSAGE_RETRY_DELAYS_MS in a deployment). */
const GROUP_RETRY_DELAYS_MS = [300, 600];
let database: TestDatabase;
let secondDb: Kysely<Database>;
let vhost: TestVhost;
let slackMock: SlackMock;
let slack: SlackSender;
let messaging: Messaging;
let subscription: Subscription;
const loops: TimerLoop[] = [];
const handledEvents: string[] = [];
const timersHandled = [0, 0];

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_timers'), createTestVhost('slack-timers'), startSlackMock()]);
  secondDb = createDb(database.url, { maxConnections: 5, applicationName: 'slack-timers-replica-2' });
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
  const logger = createLogger('slack-timers-test', 'silent');
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
  // A channel named `#down-...` stands for a Slack that stays down.
  slackMock.respondWith((request) => (request.channel.startsWith('#down-') ? { status: 503, body: 'service unavailable' } : { status: 200, body: 'ok' }));
  const replicas = [database.db, secondDb].map((db) =>
    alertProcessedHandler({
      db,
      slack,
      registry: new Registry(),
      defaultChannel: '#default',
      rulesCacheMs: 0,
      maxPerSecond: 100,
      logger,
      heldRecheckMs: RECHECK_MS,
      retryDelaysMs: GROUP_RETRY_DELAYS_MS,
      deadLetter: groupDeadLetterPublisher(() => messaging, QUEUES.slackNotifierAlertsProcessed),
    }),
  );
  const [first] = replicas;
  if (!first) throw new Error('no replica');
  subscription = await subscribe(messaging, {
    queue: QUEUES.slackNotifierAlertsProcessed,
    parse: (json) => AlertProcessedSchema.safeParse(json),
    logger,
    handler: async (event, context) => {
      await first(event, context);
      handledEvents.push(event.id);
    },
  });
  replicas.forEach((replica, index) => {
    const loop = timerLoop({
      db: index === 0 ? database.db : secondDb,
      notifier: 'slack',
      pollMs: 100,
      logger,
      handle: async (timer) => {
        const outcome = await replica.handleTimer(timer);
        timersHandled[index] = (timersHandled[index] ?? 0) + 1;
        return outcome;
      },
    });
    loop.start();
    loops.push(loop);
  });
});

afterAll(async () => {
  await Promise.all(loops.map((loop) => loop.stop()));
  await subscription?.cancel();
  await messaging?.shutdown();
  await slack?.close();
  await slackMock?.close();
  await secondDb?.destroy();
  await database?.destroy();
  await vhost?.destroy();
});

const tag = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function insertRule(
  name: string,
  criteria: Record<string, string>,
  channel: string | null,
  options: {
    repeatInterval?: string;
    escalateTo?: number;
    escalateAfter?: string;
    priority?: number;
    groupBy?: string[];
    groupWait?: string;
    groupInterval?: string;
    template?: string;
  } = {},
): Promise<number> {
  const row = await database.db
    .insertInto('slack_rules')
    .values({
      name,
      priority: options.priority ?? 0,
      match_criteria: JSON.stringify(criteria),
      slack_channel: channel,
      message_template: options.template ?? `${name}: {{ alert_group.name }} {{ alert_group.labels.instance }} {{ status }}`,
      repeat_interval: options.repeatInterval ?? null,
      escalate_to: options.escalateTo ?? null,
      escalate_after: options.escalateAfter ?? null,
      group_by: options.groupBy ?? null,
      group_wait: options.groupWait ?? null,
      group_interval: options.groupInterval ?? null,
      updated_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** A firing group with a firing episode, as the alert processor stores them. */
const seed = (labels: Record<string, string>) => seedAlert(database.db, labels);

async function deliver(...changes: AlertChange[]): Promise<void> {
  const status = changes[0]?.instance.status ?? 'firing';
  const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status, changes };
  await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(event.status), event, { messageId: event.id });
  await waitFor(() => (handledEvents.includes(event.id) ? true : null), 20_000, `event ${event.id} handled`);
}

const rowsOf = (instanceId: number) => database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();
const timersOf = (instanceId: number) => database.db.selectFrom('notification_timers').selectAll().where('instance_id', '=', instanceId).execute();
const textsTo = (channel: string) => slackMock.requests.filter((request) => request.channel === channel).map((request) => request.text);
const silenceOn = (labels: Record<string, string>, endsAt: Date) => insertSilence(database.db, labels, endsAt, 'timers test');

describe('repeats', () => {
  it('tell a still-firing episode again at repeatInterval, numbered, until it is acknowledged', async () => {
    const t = tag();
    await insertRule(`rep-${t}`, { team: t }, `#rep-${t}`, { repeatInterval: '1s' });
    const alert = await seed({ alertname: 'HighCPU', instance: `web-${t}`, team: t });
    await deliver(firingChange(alert));
    const text = `rep-${t}: HighCPU web-${t} firing`;
    await waitFor(() => (textsTo(`#rep-${t}`).length >= 3 ? true : null), 20_000, 'the firing and two repeats');
    // A row is recorded just after Slack answered: wait until the three are settled.
    const rows = await waitFor(
      async () => {
        const all = await rowsOf(alert.instanceId);
        return all.length >= 3 && all.slice(0, 3).every((row) => row.status !== 'pending') ? all : null;
      },
      20_000,
      'the firing and two repeats recorded',
    );
    expect(rows.slice(0, 3).map((row) => [row.kind, row.sequence, row.status])).toEqual([
      ['firing', 0, 'sent'],
      ['repeat', 1, 'sent'],
      ['repeat', 2, 'sent'],
    ]);
    expect(textsTo(`#rep-${t}`).slice(0, 3)).toEqual([text, text, text]);

    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', alert.groupId)
      .execute();
    // The timer ends at its next due time; a repeat already in flight may still land.
    await waitFor(async () => ((await timersOf(alert.instanceId)).length === 0 ? true : null), 20_000, 'the repeat timer ends');
    const told = textsTo(`#rep-${t}`).length;
    await sleep(2_500);
    expect(textsTo(`#rep-${t}`)).toHaveLength(told);
    const sequences = (await rowsOf(alert.instanceId)).filter((row) => row.kind === 'repeat').map((row) => row.sequence);
    expect(sequences).toEqual([...Array(sequences.length).keys()].map((index) => index + 1));
    expect(sequences.length).toBe(told - 1);
  });
});

describe('the end of a silence', () => {
  it('tells the held-back episode once when the silence expires', async () => {
    const t = tag();
    await insertRule(`sil-${t}`, { team: t }, `#sil-${t}`);
    const labels = { alertname: 'DiskFull', instance: `db-${t}`, team: t };
    const endsAt = new Date(Date.now() + 2_000);
    await silenceOn({ team: t }, endsAt);
    const alert = await seed(labels);
    await deliver(firingChange(alert, endsAt));
    expect((await rowsOf(alert.instanceId)).map((row) => row.status)).toEqual(['suppressed']);
    expect(textsTo(`#sil-${t}`)).toEqual([]);

    await waitFor(() => (textsTo(`#sil-${t}`).length > 0 ? true : null), 20_000, 'the held-back firing told');
    expect(Date.now()).toBeGreaterThanOrEqual(endsAt.getTime());
    await sleep(1_500);
    expect(textsTo(`#sil-${t}`)).toEqual([`sil-${t}: DiskFull db-${t} firing`]);
    expect((await rowsOf(alert.instanceId)).map((row) => [row.kind, row.status])).toEqual([['firing', 'sent']]);
    expect(await timersOf(alert.instanceId)).toEqual([]);
  });

  it('tells it when the silence is deleted early; an episode that resolved under the silence is never told', async () => {
    const t = tag();
    await insertRule(`del-${t}`, { team: t }, `#del-${t}`);
    const endsAt = new Date(Date.now() + 3_600_000);
    const silence = await silenceOn({ team: t }, endsAt);
    const held = await seed({ alertname: 'DiskFull', instance: `a-${t}`, team: t });
    const gone = await seed({ alertname: 'DiskFull', instance: `b-${t}`, team: t });
    await deliver(firingChange(held, endsAt), firingChange(gone, endsAt));
    await database.db.updateTable('alert_instances').set({ status: 'resolved', ends_at: new Date() }).where('id', '=', gone.instanceId).execute();
    await sleep(RECHECK_MS * 3);
    expect(textsTo(`#del-${t}`)).toEqual([]);

    await database.db.deleteFrom('silences').where('id', '=', silence.id).execute();
    await waitFor(() => (textsTo(`#del-${t}`).length > 0 ? true : null), 20_000, 'the held-back firing told');
    await sleep(1_500);
    expect(textsTo(`#del-${t}`)).toEqual([`del-${t}: DiskFull a-${t} firing`]);
    expect((await rowsOf(gone.instanceId)).map((row) => row.status)).toEqual(['suppressed']);
    expect(await timersOf(gone.instanceId)).toEqual([]);
  });
});

describe('inhibition', () => {
  it('tells the held-back target once its source resolves', async () => {
    const t = tag();
    await insertRule(`inh-${t}`, { cluster: t }, `#inh-${t}`);
    await database.db
      .insertInto('inhibit_rules')
      .values({
        name: `node-${t}`,
        source_matchers: JSON.stringify([
          { name: 'alertname', value: 'NodeDown', isEqual: true, isRegex: false },
          { name: 'cluster', value: t, isEqual: true, isRegex: false },
        ]),
        target_matchers: JSON.stringify([{ name: 'alertname', value: 'DiskFull', isEqual: true, isRegex: false }]),
        equal: ['instance'],
        created_by: 'test',
      })
      .execute();
    const source = await seed({ alertname: 'NodeDown', instance: `db-${t}`, cluster: t });
    const target = await seed({ alertname: 'DiskFull', instance: `db-${t}`, cluster: t });
    await deliver(firingChange(source));
    await deliver(firingChange(target));
    expect((await rowsOf(target.instanceId)).map((row) => [row.status, row.inhibited_by_group_id])).toEqual([['inhibited', source.groupId]]);
    await sleep(RECHECK_MS * 3);
    expect(textsTo(`#inh-${t}`).filter((text) => text.includes('DiskFull'))).toEqual([]);

    await database.db.updateTable('alert_groups').set({ current_status: 'resolved' }).where('id', '=', source.groupId).execute();
    await waitFor(() => (textsTo(`#inh-${t}`).some((text) => text.includes('DiskFull')) ? true : null), 20_000, 'the held-back target told');
    await sleep(1_500);
    expect(textsTo(`#inh-${t}`).filter((text) => text.includes('DiskFull'))).toEqual([`inh-${t}: DiskFull db-${t} firing`]);
    expect((await rowsOf(target.instanceId)).map((row) => [row.status, row.inhibited_by_group_id])).toEqual([['sent', null]]);
  });
});

describe('escalation', () => {
  it("tells the other rule's channel once when the episode still fires unacknowledged; never once it is acknowledged", async () => {
    const t = tag();
    const manager = await insertRule(`mgr-${t}`, { never: t }, `#mgr-${t}`);
    const team = await insertRule(`team-${t}`, { team: t }, `#team-${t}`, { escalateTo: manager, escalateAfter: '1s' });
    const unacked = await seed({ alertname: 'Outage', instance: `u-${t}`, team: t });
    const acked = await seed({ alertname: 'Outage', instance: `k-${t}`, team: t });
    await deliver(firingChange(unacked), firingChange(acked));
    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', acked.groupId)
      .execute();

    await waitFor(() => (textsTo(`#mgr-${t}`).length > 0 ? true : null), 20_000, 'the escalation');
    await waitFor(async () => ((await timersOf(acked.instanceId)).length === 0 ? true : null), 20_000, 'the acknowledged episode’s escalation ends');
    await sleep(2_000);
    expect(textsTo(`#mgr-${t}`)).toEqual([`mgr-${t}: Outage u-${t} firing`]);
    // Both firings went to the team's channel (one event: possibly one digest).
    expect(textsTo(`#team-${t}`).join('\n')).toMatch(new RegExp(`u-${t}[\\s\\S]*k-${t}|k-${t}[\\s\\S]*u-${t}`));
    expect((await rowsOf(unacked.instanceId)).map((row) => [row.kind, row.rule_id, row.status])).toEqual([
      ['firing', team, 'sent'],
      ['escalation', manager, 'sent'],
    ]);
    expect((await rowsOf(acked.instanceId)).map((row) => row.kind)).toEqual(['firing']);
    expect(await timersOf(unacked.instanceId)).toEqual([]);
  });
});

describe('two replicas', () => {
  it('share the timers: every repeat goes out exactly once', async () => {
    const t = tag();
    await insertRule(`rr-${t}`, { team: t }, null, { repeatInterval: '1s' });
    const alerts = await Promise.all(
      Array.from({ length: 20 }, (_, index) => seed({ alertname: 'Load', instance: `n${index}-${t}`, team: t, channel: `#rr-${t}-${index}` })),
    );
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const channels = alerts.map((_, index) => `#rr-${t}-${index}`);
    await waitFor(() => (channels.every((channel) => textsTo(channel).length >= 4) ? true : null), 30_000, 'three repeats of every alert');
    // Stop the repeats and let what is in flight land before counting.
    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true })
      .where(
        'id',
        'in',
        alerts.map((alert) => alert.groupId),
      )
      .execute();
    await waitFor(
      async () =>
        (
          await database.db
            .selectFrom('notification_timers')
            .select('id')
            .where(
              'instance_id',
              'in',
              alerts.map((alert) => alert.instanceId),
            )
            .execute()
        ).length === 0
          ? true
          : null,
      20_000,
      'every timer ends',
    );
    await sleep(500);
    for (const [index, alert] of alerts.entries()) {
      const rows = await rowsOf(alert.instanceId);
      const sent = rows.filter((row) => row.status === 'sent');
      // One Slack message per row, and one row per (instance, rule, kind, sequence).
      expect(textsTo(channels[index] ?? '')).toHaveLength(sent.length);
      expect(rows.map((row) => `${row.kind}/${row.sequence}`)).toEqual(['firing/0', ...sent.slice(1).map((_, n) => `repeat/${n + 1}`)]);
    }
    expect((timersHandled[0] ?? 0) + (timersHandled[1] ?? 0)).toBeGreaterThanOrEqual(60);
  });
});

describe('a replica killed mid-way', () => {
  it('leaves its leased timer and pending row to another replica once the lease has passed: sent once, never lost', async () => {
    const t = tag();
    const ruleId = await insertRule(`kill-${t}`, { team: t }, `#kill-${t}`, { repeatInterval: '1h' });
    const alert = await seed({ alertname: 'Dying', instance: `k-${t}`, team: t });
    await deliver(firingChange(alert));
    await waitFor(() => (textsTo(`#kill-${t}`).length === 1 ? true : null), 20_000, 'the firing');
    const [timer] = await timersOf(alert.instanceId);
    expect(timer).toMatchObject({ kind: 'repeat', sequence: 1, rule_id: ruleId });

    // The dead replica had claimed the timer (lease of 2 s) and recorded the repeat's row, then died before sending.
    await database.db
      .updateTable('notification_timers')
      .set({ due_at: new Date(), leased_until: new Date(Date.now() + 2_000), attempts: 1 })
      .where('id', '=', timer?.id ?? 0)
      .execute();
    await database.db
      .insertInto('notifications')
      .values({
        channel: `#kill-${t}`,
        rule_id: ruleId,
        group_id: alert.groupId,
        instance_id: alert.instanceId,
        kind: 'repeat',
        sequence: 1,
        status: 'pending',
        text: `kill-${t}: repeat`,
        updated_at: new Date(),
      })
      .execute();
    await sleep(500);
    expect(textsTo(`#kill-${t}`)).toHaveLength(1);

    await waitFor(() => (textsTo(`#kill-${t}`).length === 2 ? true : null), 20_000, 'the repeat sent by another replica');
    await waitFor(async () => ((await timersOf(alert.instanceId))[0]?.sequence === 2 ? true : null), 20_000, 'the timer moved on');
    await sleep(1_000);
    expect(textsTo(`#kill-${t}`)).toEqual([`kill-${t}: Dying k-${t} firing`, `kill-${t}: repeat`]);
    expect((await rowsOf(alert.instanceId)).map((row) => [row.kind, row.sequence, row.status])).toEqual([
      ['firing', 0, 'sent'],
      ['repeat', 1, 'sent'],
    ]);
    const [after] = await timersOf(alert.instanceId);
    expect(after?.leased_until).toBeNull();
    expect(after?.due_at.getTime()).toBeGreaterThan(Date.now() + 3_000_000);
  });
});

describe('grouping', () => {
  it('50 alerts of one group within groupWait make one message naming 50; later changes go in the next message, after groupInterval', async () => {
    const t = tag();
    await insertRule(`grp-${t}`, { team: t }, `#grp-${t}`, { groupBy: ['alertname', 'team'], groupWait: '1s', groupInterval: '2s' });
    const alerts = await Promise.all(Array.from({ length: 50 }, (_, index) => seed({ alertname: 'HighCPU', instance: `h${index}-${t}`, team: t })));
    for (let start = 0; start < 50; start += 10) await deliver(...alerts.slice(start, start + 10).map((alert) => firingChange(alert)));
    await waitFor(() => (textsTo(`#grp-${t}`).length > 0 ? true : null), 20_000, 'the first group message');
    const [first] = slackMock.requests.filter((request) => request.channel === `#grp-${t}`);
    const firstAt = Date.now();
    expect(first?.text.split('\n')[0]).toBe(`[FIRING:50] HighCPU (team=${t})`);
    expect(first?.text.split('\n').slice(1)).toHaveLength(50);
    for (const alert of alerts) expect(first?.text).toContain(`h${alerts.indexOf(alert)}-${t} firing`);
    // The rows are recorded in the transaction that sent the message: it commits just after Slack answered.
    const rows = await waitFor(
      async () => {
        const all = await database.db
          .selectFrom('notifications')
          .selectAll()
          .where(
            'instance_id',
            'in',
            alerts.map((alert) => alert.instanceId),
          )
          .execute();
        return all.every((row) => row.status === 'sent') ? all : null;
      },
      20_000,
      'every row of the group recorded sent',
    );
    expect(rows).toHaveLength(50);
    expect(new Set(rows.map((row) => row.digest_id)).size).toBe(1);
    expect(rows[0]?.digest_size).toBe(50);

    // Three resolve and two more fire: one next message, not before the group interval.
    const more = await Promise.all([50, 51].map((index) => seed({ alertname: 'HighCPU', instance: `h${index}-${t}`, team: t })));
    await deliver(...alerts.slice(0, 3).map(resolvedChange));
    await deliver(...more.map((alert) => firingChange(alert)));
    await waitFor(() => (textsTo(`#grp-${t}`).length >= 2 ? true : null), 20_000, 'the second group message');
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(1_000);
    await sleep(2_500);
    const texts = textsTo(`#grp-${t}`);
    expect(texts).toHaveLength(2);
    const second = texts[1]?.split('\n') ?? [];
    expect(second[0]).toBe(`[FIRING:2, RESOLVED:3] HighCPU (team=${t})`);
    // What fired first, then what resolved (in any order within each).
    expect(second.slice(1, 3).sort()).toEqual([`• grp-${t}: HighCPU h50-${t} firing`, `• grp-${t}: HighCPU h51-${t} firing`]);
    expect(second.slice(3).sort()).toEqual([
      `• grp-${t}: HighCPU h0-${t} resolved`,
      `• grp-${t}: HighCPU h1-${t} resolved`,
      `• grp-${t}: HighCPU h2-${t} resolved`,
    ]);
  });

  it("renders a rule's group template once per message with the group context", async () => {
    const t = tag();
    const template =
      '{{ title }}: {{ firing_count }} firing, {{ resolved_count }} resolved in {{ group_labels.team }}{% for a in alerts %}\n{{ a.status }} {{ a.labels.instance }} {{ a.annotations.summary }}{% endfor %}';
    await insertRule(`gt-${t}`, { team: t }, `#gt-${t}`, { groupBy: ['alertname', 'team'], groupWait: '1s', groupInterval: '1s', template });
    const alerts = await Promise.all(Array.from({ length: 3 }, (_, index) => seed({ alertname: 'HighCPU', instance: `g${index}-${t}`, team: t })));
    await database.db
      .updateTable('alert_instances')
      .set({ annotations: JSON.stringify({ summary: 'CPU above 90%' }) })
      .where(
        'id',
        'in',
        alerts.map((alert) => alert.instanceId),
      )
      .execute();
    await deliver(...alerts.map((alert) => firingChange(alert)));
    await waitFor(() => (textsTo(`#gt-${t}`).length > 0 ? true : null), 20_000, 'the group message');
    const [first] = textsTo(`#gt-${t}`);
    const lines = first?.split('\n') ?? [];
    expect(lines[0]).toBe(`[FIRING:3] HighCPU (team=${t}): 3 firing, 0 resolved in ${t}`);
    // One line per alert from the template's loop, with each episode's annotations.
    expect(lines.slice(1).sort()).toEqual(alerts.map((_, index) => `firing g${index}-${t} CPU above 90%`).sort());

    await deliver(resolvedChange(alerts[0] as SeededAlert));
    await waitFor(() => (textsTo(`#gt-${t}`).length >= 2 ? true : null), 20_000, 'the next group message');
    expect(textsTo(`#gt-${t}`)[1]?.split('\n')[0]).toBe(`[RESOLVED:1] HighCPU (team=${t}): 0 firing, 1 resolved in ${t}`);
  });

  it('a notifier killed after picking a group gives exactly one message, from another replica after the lease', async () => {
    const t = tag();
    await insertRule(`gk-${t}`, { team: t }, `#gk-${t}`, { groupBy: ['team'], groupWait: '1h' });
    const alerts = await Promise.all(Array.from({ length: 5 }, (_, index) => seed({ alertname: 'Disk', instance: `d${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const timer = await database.db
      .selectFrom('notification_timers')
      .selectAll()
      .where('kind', '=', 'group_flush')
      .where('group_key', 'like', `%${t}%`)
      .executeTakeFirstOrThrow();
    // The dead replica had picked the group (lease of 2 s) and never sent.
    await database.db
      .updateTable('notification_timers')
      .set({ due_at: new Date(), leased_until: new Date(Date.now() + 2_000) })
      .where('id', '=', timer.id)
      .execute();
    await sleep(500);
    expect(textsTo(`#gk-${t}`)).toEqual([]);
    await waitFor(() => (textsTo(`#gk-${t}`).length > 0 ? true : null), 20_000, 'the group message');
    await sleep(1_500);
    expect(textsTo(`#gk-${t}`)).toHaveLength(1);
    expect(textsTo(`#gk-${t}`)[0]?.split('\n')[0]).toBe(`[FIRING:5] Disk (team=${t})`);
  });
});

describe('grouped rules: repeats, held-back firings, a Slack that stays down', () => {
  /** The alerts a group message lists (per-alert lines under the title), sorted. */
  const linesOf = (text: string | undefined) => (text ?? '').split('\n').slice(1).sort();

  it("repeats are the group's: one message per repeatInterval with the group's still-firing, unacknowledged alerts", async () => {
    const t = tag();
    const ruleId = await insertRule(`grep-${t}`, { team: t }, `#grep-${t}`, {
      groupBy: ['team'],
      groupWait: '300ms',
      groupInterval: '1s',
      repeatInterval: '3s',
    });
    const alerts = await Promise.all([0, 1, 2].map((index) => seed({ alertname: 'HighCPU', instance: `r${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    await waitFor(() => (textsTo(`#grep-${t}`).length >= 2 ? true : null), 20_000, 'the first message and the first repeat');
    const [first, repeat] = textsTo(`#grep-${t}`);
    const all = [0, 1, 2].map((index) => `• grep-${t}: HighCPU r${index}-${t} firing`);
    expect(linesOf(first)).toEqual(all);
    // One message of the group, not one per alert.
    expect(repeat?.split('\n')[0]).toBe(`[FIRING:3] HighCPU (team=${t})`);
    expect(linesOf(repeat)).toEqual(all);
    // The rows are recorded in the transaction that sent the message: it commits just after the receiver answered.
    const repeatRows = await waitFor(
      async () => {
        const rows = await database.db.selectFrom('notifications').selectAll().where('rule_id', '=', ruleId).where('kind', '=', 'repeat').execute();
        return rows.length === 3 && rows.every((row) => row.status !== 'pending') ? rows : null;
      },
      20_000,
      'the repeat rows recorded',
    );
    expect(repeatRows.map((row) => [row.instance_id, row.sequence, row.status]).sort()).toEqual(alerts.map((alert) => [alert.instanceId, 1, 'sent']).sort());
    expect(new Set(repeatRows.map((row) => row.digest_id)).size).toBe(1);

    const told = textsTo(`#grep-${t}`).length;
    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', alerts[0]?.groupId ?? 0)
      .execute();
    await database.db
      .updateTable('alert_instances')
      .set({ status: 'resolved', ends_at: new Date() })
      .where('id', '=', alerts[1]?.instanceId ?? 0)
      .execute();
    await deliver(resolvedChange(alerts[1] as SeededAlert));
    await waitFor(
      () =>
        textsTo(`#grep-${t}`)
          .slice(told)
          .some((text) => text.startsWith('[FIRING'))
          ? true
          : null,
      20_000,
      'the second repeat',
    );
    const later = textsTo(`#grep-${t}`).slice(told);
    const nextRepeat = later.find((text) => text.startsWith('[FIRING'));
    expect(nextRepeat?.split('\n')[0]).toBe(`[FIRING:1] HighCPU (team=${t})`);
    expect(linesOf(nextRepeat)).toEqual([`• grep-${t}: HighCPU r2-${t} firing`]);
    expect(later.filter((text) => text !== nextRepeat).map(linesOf)).toEqual([[`• grep-${t}: HighCPU r1-${t} resolved`]]);
  });

  it("a held-back firing joins its group's next message when its silence ends, instead of going out alone", async () => {
    const t = tag();
    await insertRule(`gheld-${t}`, { team: t }, `#gheld-${t}`, { groupBy: ['team'], groupWait: '500ms', groupInterval: '4s' });
    const told = await seed({ alertname: 'DiskFull', instance: `told-${t}`, team: t });
    const held = await Promise.all(['a', 'b'].map((name) => seed({ alertname: 'DiskFull', instance: `held-${name}-${t}`, team: t, hold: 'yes' })));
    const silenceEnds = new Date(Date.now() + 2_000);
    await silenceOn({ team: t, hold: 'yes' }, silenceEnds);
    await deliver(firingChange(told), ...held.map((alert) => firingChange(alert, silenceEnds)));
    await waitFor(() => (textsTo(`#gheld-${t}`).length >= 1 ? true : null), 20_000, 'the first group message');
    expect(linesOf(textsTo(`#gheld-${t}`)[0])).toEqual([`• gheld-${t}: DiskFull told-${t} firing`]);
    await waitFor(() => (textsTo(`#gheld-${t}`).length >= 2 ? true : null), 20_000, 'the message of the released firings');
    await sleep(1_500);
    expect(textsTo(`#gheld-${t}`)).toHaveLength(2);
    expect(textsTo(`#gheld-${t}`)[1]?.split('\n')[0]).toBe(`[FIRING:2] DiskFull (team=${t})`);
    expect(linesOf(textsTo(`#gheld-${t}`)[1])).toEqual([`• gheld-${t}: DiskFull held-a-${t} firing`, `• gheld-${t}: DiskFull held-b-${t} firing`]);
    const rows = await waitFor(
      async () => {
        const all = await database.db
          .selectFrom('notifications')
          .selectAll()
          .where(
            'instance_id',
            'in',
            held.map((alert) => alert.instanceId),
          )
          .execute();
        return all.every((row) => row.status !== 'pending') ? all : null;
      },
      20_000,
      'the released rows recorded',
    );
    expect(rows.map((row) => [row.kind, row.status, row.group_key])).toEqual(held.map(() => ['firing', 'sent', JSON.stringify([['team', t]])]));
    expect(new Set(rows.map((row) => row.digest_id)).size).toBe(1);
  });

  it('a Slack that stays down: the group message is retried with back-off, then its rows fail and it is dead-lettered with the reason', async () => {
    const t = tag();
    await insertRule(`gdown-${t}`, { team: t }, `#down-${t}`, { groupBy: ['team'], groupWait: '200ms', groupInterval: '1s' });
    const alerts = await Promise.all([0, 1].map((index) => seed({ alertname: 'NodeDown', instance: `n${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const tries = () => slackMock.requests.filter((request) => request.channel === `#down-${t}`);
    const rows = await waitFor(
      async () => {
        const all = await database.db
          .selectFrom('notifications')
          .selectAll()
          .where(
            'instance_id',
            'in',
            alerts.map((alert) => alert.instanceId),
          )
          .execute();
        return all.length === 2 && all.every((row) => row.status === 'failed') ? all : null;
      },
      20_000,
      'the rows recorded failed',
    );
    expect(rows.every((row) => (row.last_error ?? '').includes('503'))).toBe(true);
    expect(tries()).toHaveLength(GROUP_RETRY_DELAYS_MS.length + 1);
    tries()
      .slice(1)
      .forEach((attempt, index) =>
        expect(attempt.receivedAt - (tries()[index]?.receivedAt ?? 0)).toBeGreaterThanOrEqual((GROUP_RETRY_DELAYS_MS[index] ?? 0) - 20),
      );
    await sleep(2_500);
    expect(tries()).toHaveLength(GROUP_RETRY_DELAYS_MS.length + 1);

    const connection = await amqplib.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      const dead = await waitFor(
        async () => {
          const message = await channel.get(deadLetterQueueName(QUEUES.slackNotifierAlertsProcessed), { noAck: true });
          if (!message) return null;
          const event = AlertProcessedSchema.parse(JSON.parse(message.content.toString()));
          return event.changes.some((change) => change.group.labels['team'] === t) ? { message, event } : null;
        },
        10_000,
        'the dead-lettered group',
      );
      expect(String(dead.message.properties.headers?.[HEADERS.error])).toMatch(/retries exhausted after 3 attempts: .*503/);
      expect(dead.event.changes.map((change) => change.instance.id).sort()).toEqual(alerts.map((alert) => alert.instanceId).sort());
    } finally {
      await connection.close();
    }
  });
});
