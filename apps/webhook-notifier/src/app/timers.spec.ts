import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AlertmanagerWebhook,
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
import { createDb, groupDeadLetterPublisher, ruleRepository, timerLoop, type Database, type TimerLoop } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, createWebhookClient, parseWebhookReceivers, Registry, resolveWebhookReceivers, type WebhookClient } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  firingChange,
  insertSilence,
  resolvedChange,
  seedAlert,
  waitFor,
  type SeededAlert,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';

/**
 * The webhook-notifier's timers in PostgreSQL through its real handler, RabbitMQ, PostgreSQL
 * and a local HTTP server standing in for the receivers (PagerDuty among them), with two
 * notifier "replicas" (each its own handler, pool, client and timer loop) sharing the timers:
 * repeats post again (PagerDuty: a trigger under the same dedup_key) and stop on
 * acknowledgement, a silence that ends posts the held-back episode once, an inhibition source
 * that resolves posts its target, escalation posts to the other rule's receiver once and only
 * while unacknowledged, and no timer's post goes out twice.
 */
const RECHECK_MS = 400;
/** The retry delays of a group's body that the receiver does not take (MESSAGE_RETRY_DELAYS_MS in a deployment). */
const GROUP_RETRY_DELAYS_MS = [300, 600];
const ENV = { PD_ROUTING_KEY: 'R0UTING-KEY-timers-0123456789' };

interface Received {
  endpoint: string;
  body: Record<string, unknown>;
  at: number;
}

let server: Server;
let database: TestDatabase;
let secondDb: Kysely<Database>;
let vhost: TestVhost;
let messaging: Messaging;
let subscription: Subscription;
const clients: WebhookClient[] = [];
const loops: TimerLoop[] = [];
const received: Received[] = [];
const handledEvents: string[] = [];
const timersHandled = [0, 0];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const endpoint = (request.url ?? '/').split('/')[1] ?? '';
      received.push({ endpoint, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>, at: Date.now() });
      // `down` stands for a receiver that stays down.
      response.writeHead(endpoint === 'down' ? 503 : 202, { 'content-type': 'application/json' });
      response.end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const receivers = resolveWebhookReceivers(
    parseWebhookReceivers(`
pagerduty:
  url: ${baseUrl}/pagerduty/v2/enqueue
  params:
    routingKey: { env: PD_ROUTING_KEY }
hook:
  url: ${baseUrl}/hook
manager:
  url: ${baseUrl}/manager
down:
  url: ${baseUrl}/down
`),
    ENV,
  );

  [database, vhost] = await Promise.all([createTestDatabase('webhook_timers'), createTestVhost('webhook-timers')]);
  secondDb = createDb(database.url, { maxConnections: 5, applicationName: 'webhook-timers-replica-2' });
  const logger = createLogger('webhook-timers-test', 'silent');
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.webhookNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
  const replicas = [database.db, secondDb].map((db) => {
    const client = createWebhookClient(receivers);
    clients.push(client);
    return alertProcessedHandler({
      db,
      rules: ruleRepository(db, { cacheMs: 0 }),
      client,
      receivers,
      registry: new Registry(),
      externalUrl: 'http://sentryhub.example:8081',
      logger,
      heldRecheckMs: RECHECK_MS,
      retryDelaysMs: GROUP_RETRY_DELAYS_MS,
      deadLetter: groupDeadLetterPublisher(() => messaging, QUEUES.webhookNotifierAlertsProcessed),
    });
  });
  const [first] = replicas;
  if (!first) throw new Error('no replica');
  subscription = await subscribe(messaging, {
    queue: QUEUES.webhookNotifierAlertsProcessed,
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
      notifier: 'webhook',
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
  await Promise.all(clients.map((client) => client.close()));
  await new Promise((resolve) => server?.close(resolve));
  await secondDb?.destroy();
  await database?.destroy();
  await vhost?.destroy();
});

const tag = () => randomBytes(4).toString('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A rule posting `{"rule", "alert", "instance", "status"}` to `receiver` (or the given preset). */
async function insertRule(
  name: string,
  criteria: Record<string, string>,
  receiver: string,
  options: {
    preset?: string;
    repeatInterval?: string;
    escalateTo?: number;
    escalateAfter?: string;
    groupBy?: string[];
    groupWait?: string;
    groupInterval?: string;
  } = {},
): Promise<number> {
  const row = await database.db
    .insertInto('webhook_rules')
    .values({
      name,
      match_criteria: JSON.stringify(criteria),
      receiver,
      preset: options.preset ?? null,
      body_template: options.preset
        ? null
        : `{"rule":"${name}","alert":"{{ alert_group.name }}","instance":"{{ alert_group.labels.instance }}","status":"{{ latest_instance.status }}"}`,
      send_resolved: true,
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
  const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: 'firing', changes };
  await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(event.status), event, { messageId: event.id });
  await waitFor(() => (handledEvents.includes(event.id) ? true : null), 20_000, `event ${event.id} handled`);
}

/** What the processor stores when an episode resolves (a group flush reads the episodes). */
const resolveStored = (alerts: SeededAlert[]) =>
  database.db
    .updateTable('alert_instances')
    .set({ status: 'resolved', ends_at: new Date() })
    .where(
      'id',
      'in',
      alerts.map((alert) => alert.instanceId),
    )
    .execute();

const rowsOf = (instanceId: number) => database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();
const timersOf = (instanceId: number) => database.db.selectFrom('notification_timers').selectAll().where('instance_id', '=', instanceId).execute();
/** The bodies `endpoint` received from rule `rule` (a custom body names its rule). */
const bodiesOf = (endpoint: string, rule: string) =>
  received.filter((request) => request.endpoint === endpoint && request.body['rule'] === rule).map((request) => request.body);
const silenceOn = (labels: Record<string, string>, endsAt: Date) => insertSilence(database.db, labels, endsAt, 'webhook timers test');

describe('repeats', () => {
  it('post a still-firing episode again at repeatInterval (PagerDuty: a trigger under the same dedup_key), numbered, until it is acknowledged', async () => {
    const t = tag();
    const ruleId = await insertRule(`pd-${t}`, { team: t }, 'pagerduty', { preset: 'pagerduty', repeatInterval: '1s' });
    const alert = await seed({ alertname: 'HighCPU', instance: `web-${t}`, team: t });
    const dedupKey = `sentryhub-${alert.groupId}-${alert.instanceId}`;
    const posts = () => received.filter((request) => request.endpoint === 'pagerduty' && request.body['dedup_key'] === dedupKey).map((request) => request.body);
    await deliver(firingChange(alert));
    await waitFor(() => (posts().length >= 3 ? true : null), 20_000, 'the trigger and two repeats');
    expect(
      posts()
        .slice(0, 3)
        .map((body) => [body['event_action'], body['routing_key']]),
    ).toEqual([
      ['trigger', ENV.PD_ROUTING_KEY],
      ['trigger', ENV.PD_ROUTING_KEY],
      ['trigger', ENV.PD_ROUTING_KEY],
    ]);
    // A row is recorded just after the receiver answered: wait until the three are settled.
    const rows = await waitFor(
      async () => {
        const all = await rowsOf(alert.instanceId);
        return all.length >= 3 && all.slice(0, 3).every((row) => row.status !== 'pending') ? all : null;
      },
      20_000,
      'the trigger and two repeats recorded',
    );
    expect(rows.slice(0, 3).map((row) => [row.notifier, row.webhook_rule_id, row.kind, row.sequence, row.status])).toEqual([
      ['webhook', ruleId, 'firing', 0, 'sent'],
      ['webhook', ruleId, 'repeat', 1, 'sent'],
      ['webhook', ruleId, 'repeat', 2, 'sent'],
    ]);
    // The stored body has the placeholder, never the routing key itself.
    expect(rows.every((row) => !row.text.includes(ENV.PD_ROUTING_KEY))).toBe(true);

    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', alert.groupId)
      .execute();
    await waitFor(async () => ((await timersOf(alert.instanceId)).length === 0 ? true : null), 20_000, 'the repeat timer ends');
    const told = posts().length;
    await sleep(2_500);
    expect(posts()).toHaveLength(told);
    const sequences = (await rowsOf(alert.instanceId)).filter((row) => row.kind === 'repeat').map((row) => row.sequence);
    expect(sequences).toEqual([...Array(sequences.length).keys()].map((index) => index + 1));
    expect(sequences.length).toBe(told - 1);
  });
});

describe('the end of a silence', () => {
  it('posts the held-back episode once when the silence expires', async () => {
    const t = tag();
    await insertRule(`sil-${t}`, { team: t }, 'hook');
    const endsAt = new Date(Date.now() + 2_000);
    await silenceOn({ team: t }, endsAt);
    const alert = await seed({ alertname: 'DiskFull', instance: `db-${t}`, team: t });
    await deliver(firingChange(alert, endsAt));
    expect((await rowsOf(alert.instanceId)).map((row) => row.status)).toEqual(['suppressed']);
    expect(bodiesOf('hook', `sil-${t}`)).toEqual([]);

    await waitFor(() => (bodiesOf('hook', `sil-${t}`).length > 0 ? true : null), 20_000, 'the held-back firing posted');
    expect(Date.now()).toBeGreaterThanOrEqual(endsAt.getTime());
    await sleep(1_500);
    expect(bodiesOf('hook', `sil-${t}`)).toEqual([{ rule: `sil-${t}`, alert: 'DiskFull', instance: `db-${t}`, status: 'firing' }]);
    expect((await rowsOf(alert.instanceId)).map((row) => [row.kind, row.status])).toEqual([['firing', 'sent']]);
    expect(await timersOf(alert.instanceId)).toEqual([]);
  });

  it('posts it when the silence is deleted early; an episode that resolved under the silence is never posted', async () => {
    const t = tag();
    await insertRule(`del-${t}`, { team: t }, 'hook');
    const endsAt = new Date(Date.now() + 3_600_000);
    const silence = await silenceOn({ team: t }, endsAt);
    const held = await seed({ alertname: 'DiskFull', instance: `a-${t}`, team: t });
    const gone = await seed({ alertname: 'DiskFull', instance: `b-${t}`, team: t });
    await deliver(firingChange(held, endsAt), firingChange(gone, endsAt));
    await database.db.updateTable('alert_instances').set({ status: 'resolved', ends_at: new Date() }).where('id', '=', gone.instanceId).execute();
    await sleep(RECHECK_MS * 3);
    expect(bodiesOf('hook', `del-${t}`)).toEqual([]);

    await database.db.deleteFrom('silences').where('id', '=', silence.id).execute();
    await waitFor(() => (bodiesOf('hook', `del-${t}`).length > 0 ? true : null), 20_000, 'the held-back firing posted');
    await sleep(1_500);
    expect(bodiesOf('hook', `del-${t}`).map((body) => body['instance'])).toEqual([`a-${t}`]);
    expect((await rowsOf(gone.instanceId)).map((row) => row.status)).toEqual(['suppressed']);
    expect(await timersOf(gone.instanceId)).toEqual([]);
  });
});

describe('inhibition', () => {
  it('posts the held-back target once its source resolves', async () => {
    const t = tag();
    await insertRule(`inh-${t}`, { cluster: t }, 'hook');
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
    const targetPosts = () => bodiesOf('hook', `inh-${t}`).filter((body) => body['alert'] === 'DiskFull');
    expect((await rowsOf(target.instanceId)).map((row) => [row.status, row.inhibited_by_group_id])).toEqual([['inhibited', source.groupId]]);
    await sleep(RECHECK_MS * 3);
    expect(targetPosts()).toEqual([]);

    await database.db.updateTable('alert_groups').set({ current_status: 'resolved' }).where('id', '=', source.groupId).execute();
    await waitFor(() => (targetPosts().length > 0 ? true : null), 20_000, 'the held-back target posted');
    await sleep(1_500);
    expect(targetPosts()).toEqual([{ rule: `inh-${t}`, alert: 'DiskFull', instance: `db-${t}`, status: 'firing' }]);
    expect((await rowsOf(target.instanceId)).map((row) => [row.status, row.inhibited_by_group_id])).toEqual([['sent', null]]);
  });
});

describe('escalation', () => {
  it("posts to the other rule's receiver once when the episode still fires unacknowledged; never once it is acknowledged", async () => {
    const t = tag();
    const manager = await insertRule(`mgr-${t}`, { never: t }, 'manager');
    const team = await insertRule(`team-${t}`, { team: t }, 'hook', { escalateTo: manager, escalateAfter: '1s' });
    const unacked = await seed({ alertname: 'Outage', instance: `u-${t}`, team: t });
    const acked = await seed({ alertname: 'Outage', instance: `k-${t}`, team: t });
    await deliver(firingChange(unacked), firingChange(acked));
    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', acked.groupId)
      .execute();

    await waitFor(() => (bodiesOf('manager', `mgr-${t}`).length > 0 ? true : null), 20_000, 'the escalation');
    await waitFor(async () => ((await timersOf(acked.instanceId)).length === 0 ? true : null), 20_000, 'the acknowledged episode’s escalation ends');
    await sleep(2_000);
    expect(bodiesOf('manager', `mgr-${t}`)).toEqual([{ rule: `mgr-${t}`, alert: 'Outage', instance: `u-${t}`, status: 'firing' }]);
    expect(
      bodiesOf('hook', `team-${t}`)
        .map((body) => body['instance'])
        .sort(),
    ).toEqual([`k-${t}`, `u-${t}`].sort());
    expect((await rowsOf(unacked.instanceId)).map((row) => [row.kind, row.webhook_rule_id, row.channel, row.status])).toEqual([
      ['firing', team, 'hook', 'sent'],
      ['escalation', manager, 'manager', 'sent'],
    ]);
    expect((await rowsOf(acked.instanceId)).map((row) => row.kind)).toEqual(['firing']);
    expect(await timersOf(unacked.instanceId)).toEqual([]);
  });
});

describe('two replicas', () => {
  it('share the timers: every repeat is posted exactly once', async () => {
    const t = tag();
    await insertRule(`rr-${t}`, { team: t }, 'hook', { repeatInterval: '1s' });
    const alerts = await Promise.all(Array.from({ length: 20 }, (_, index) => seed({ alertname: 'Load', instance: `n${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const postsOf = (index: number) => bodiesOf('hook', `rr-${t}`).filter((body) => body['instance'] === `n${index}-${t}`);
    await waitFor(() => (alerts.every((_, index) => postsOf(index).length >= 4) ? true : null), 30_000, 'three repeats of every alert');
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
      // One post per row, and one row per (instance, rule, kind, sequence).
      expect(postsOf(index)).toHaveLength(sent.length);
      expect(rows.map((row) => `${row.kind}/${row.sequence}`)).toEqual(['firing/0', ...sent.slice(1).map((_, n) => `repeat/${n + 1}`)]);
    }
    // Three repeats of 20 alerts at least, between the two replicas' loops.
    expect((timersHandled[0] ?? 0) + (timersHandled[1] ?? 0)).toBeGreaterThanOrEqual(60);
  });
});

describe('grouping', () => {
  it("the Alertmanager preset posts one webhook v4 body with the whole group's alerts; later changes go in the next body, after groupInterval", async () => {
    const t = tag();
    await insertRule(`amg-${t}`, { team: t }, 'hook', { preset: 'alertmanager', groupBy: ['alertname', 'team'], groupWait: '1s', groupInterval: '2s' });
    const alerts = await Promise.all(Array.from({ length: 30 }, (_, index) => seed({ alertname: 'HighCPU', instance: `h${index}-${t}`, team: t })));
    for (let start = 0; start < 30; start += 10) await deliver(...alerts.slice(start, start + 10).map((alert) => firingChange(alert)));
    const bodies = () =>
      received
        .filter((request) => request.endpoint === 'hook' && (request.body['groupLabels'] as Record<string, string> | undefined)?.['team'] === t)
        .map((request) => request.body);
    await waitFor(() => (bodies().length > 0 ? true : null), 20_000, 'the first group body');
    const firstAt = Date.now();
    const [first] = bodies();
    expect(AlertmanagerWebhook.safeParse(first).success).toBe(true);
    expect(first).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'hook',
      groupLabels: { alertname: 'HighCPU', team: t },
      commonLabels: { alertname: 'HighCPU', team: t },
      truncatedAlerts: 0,
    });
    const firstAlerts = first?.['alerts'] as { status: string; labels: Record<string, string>; endsAt: string; fingerprint: string }[];
    expect(firstAlerts.map((alert) => alert.labels['instance']).sort()).toEqual(alerts.map((_, index) => `h${index}-${t}`).sort());
    expect(new Set(firstAlerts.map((alert) => alert.status))).toEqual(new Set(['firing']));
    expect(new Set(firstAlerts.map((alert) => alert.fingerprint)).size).toBe(30);
    // Every alert still has its own row, all recorded with the body they went out in.
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
    expect(rows).toHaveLength(30);
    expect(new Set(rows.map((row) => row.digest_id)).size).toBe(1);
    expect(rows[0]).toMatchObject({ notifier: 'webhook', digest_size: 30, delivered_via: 'webhook' });

    // Three resolve and one more fires: one next body, not before the group interval.
    const more = await seed({ alertname: 'HighCPU', instance: `h30-${t}`, team: t });
    await resolveStored(alerts.slice(0, 3));
    await deliver(...alerts.slice(0, 3).map(resolvedChange));
    await deliver(firingChange(more));
    await waitFor(() => (bodies().length >= 2 ? true : null), 20_000, 'the second group body');
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(1_000);
    await sleep(2_500);
    expect(bodies()).toHaveLength(2);
    const second = bodies()[1];
    expect(AlertmanagerWebhook.safeParse(second).success).toBe(true);
    const secondAlerts = second?.['alerts'] as { status: string; labels: Record<string, string>; endsAt: string }[];
    expect(second?.['status']).toBe('firing');
    // What fired first, then what resolved, each resolved one with its end.
    const told = secondAlerts.map((alert) => `${alert.labels['instance']} ${alert.status}`);
    expect(told[0]).toBe(`h30-${t} firing`);
    expect(told.slice(1).sort()).toEqual([0, 1, 2].map((index) => `h${index}-${t} resolved`));
    expect(secondAlerts.slice(1).every((alert) => alert.endsAt !== '0001-01-01T00:00:00Z')).toBe(true);
  });

  it('PagerDuty: a group is one incident (the group dedup_key) that its all-resolved body closes', async () => {
    const t = tag();
    await insertRule(`pdg-${t}`, { team: t }, 'pagerduty', { preset: 'pagerduty', groupBy: ['team'], groupWait: '500ms', groupInterval: '1s' });
    const alerts = await Promise.all(Array.from({ length: 4 }, (_, index) => seed({ alertname: 'DiskFull', instance: `d${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const posts = () =>
      received
        .filter(
          (request) =>
            request.endpoint === 'pagerduty' && String(request.body['dedup_key']).startsWith('sentryhub-group-') && JSON.stringify(request.body).includes(t),
        )
        .map((request) => request.body);
    await waitFor(() => (posts().length > 0 ? true : null), 20_000, 'the trigger');
    const [trigger] = posts();
    expect(trigger).toMatchObject({ event_action: 'trigger', routing_key: ENV.PD_ROUTING_KEY });
    expect((trigger?.['payload'] as Record<string, unknown>)['summary']).toBe(`DiskFull: [FIRING:4] DiskFull (team=${t})`);

    await resolveStored(alerts);
    await deliver(...alerts.map(resolvedChange));
    await waitFor(() => (posts().length >= 2 ? true : null), 20_000, 'the resolve');
    await sleep(1_500);
    expect(posts().map((body) => [body['event_action'], body['dedup_key']])).toEqual([
      ['trigger', trigger?.['dedup_key']],
      ['resolve', trigger?.['dedup_key']],
    ]);
  });
});

describe('grouped rules: repeats, held-back firings, a receiver that stays down', () => {
  const groupBodies = (endpoint: string, team: string) =>
    received.filter((request) => request.endpoint === endpoint && (request.body['groupLabels'] as Record<string, string> | undefined)?.['team'] === team);
  const instancesOf = (body: Record<string, unknown>) =>
    (body['alerts'] as { status: string; labels: Record<string, string> }[]).map((alert) => `${alert.labels['instance']} ${alert.status}`).sort();

  it("repeats are the group's: one body per repeatInterval with the group's still-firing, unacknowledged alerts", async () => {
    const t = tag();
    const ruleId = await insertRule(`grp-rep-${t}`, { team: t }, 'manager', {
      preset: 'alertmanager',
      groupBy: ['team'],
      groupWait: '300ms',
      groupInterval: '1s',
      repeatInterval: '3s',
    });
    const alerts = await Promise.all([0, 1, 2].map((index) => seed({ alertname: 'HighCPU', instance: `r${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const bodies = () => groupBodies('manager', t).map((request) => request.body);
    await waitFor(() => (bodies().length >= 2 ? true : null), 20_000, 'the first body and the first repeat');
    const [first, repeat] = bodies();
    const all = [0, 1, 2].map((index) => `r${index}-${t} firing`);
    expect(instancesOf(first ?? {})).toEqual(all);
    // The repeat is one body of the group (not one per alert), with every alert still firing.
    expect(repeat).toMatchObject({ status: 'firing', groupLabels: { team: t } });
    expect(instancesOf(repeat ?? {})).toEqual(all);
    // The rows are recorded in the transaction that sent the message: it commits just after the receiver answered.
    const repeatRows = await waitFor(
      async () => {
        const rows = await database.db.selectFrom('notifications').selectAll().where('webhook_rule_id', '=', ruleId).where('kind', '=', 'repeat').execute();
        return rows.length === 3 && rows.every((row) => row.status !== 'pending') ? rows : null;
      },
      20_000,
      'the repeat rows recorded',
    );
    expect(repeatRows.map((row) => [row.instance_id, row.sequence, row.status]).sort()).toEqual(alerts.map((alert) => [alert.instanceId, 1, 'sent']).sort());
    expect(new Set(repeatRows.map((row) => row.digest_id)).size).toBe(1);
    const groupTimers = await database.db.selectFrom('notification_timers').selectAll().where('rule_id', '=', ruleId).where('kind', '=', 'repeat').execute();
    expect(groupTimers.map((timer) => [timer.instance_id, timer.group_key])).toEqual([[null, JSON.stringify([['team', t]])]]);

    // One acknowledged, one resolved: the next repeat tells only the third.
    const told = bodies().length;
    await database.db
      .updateTable('alert_groups')
      .set({ acknowledged: true, acknowledged_by: 'oncall', acknowledged_at: new Date() })
      .where('id', '=', alerts[0]?.groupId ?? 0)
      .execute();
    await resolveStored([alerts[1] as SeededAlert]);
    await deliver(resolvedChange(alerts[1] as SeededAlert));
    await waitFor(
      () =>
        bodies()
          .slice(told)
          .some((body) => body['status'] === 'firing')
          ? true
          : null,
      20_000,
      'the second repeat',
    );
    const later = bodies().slice(told);
    const nextRepeat = later.find((body) => body['status'] === 'firing');
    expect(instancesOf(nextRepeat ?? {})).toEqual([`r2-${t} firing`]);
    // Besides it, only the resolve of r1 went out (its own group body).
    expect(later.filter((body) => body !== nextRepeat).map(instancesOf)).toEqual([[`r1-${t} resolved`]]);
  });

  it("a held-back firing joins its group's next body when its silence ends, instead of going out alone", async () => {
    const t = tag();
    await insertRule(`grp-held-${t}`, { team: t }, 'manager', { preset: 'alertmanager', groupBy: ['team'], groupWait: '500ms', groupInterval: '4s' });
    const told = await seed({ alertname: 'DiskFull', instance: `told-${t}`, team: t });
    const held = await Promise.all(['a', 'b'].map((name) => seed({ alertname: 'DiskFull', instance: `held-${name}-${t}`, team: t, hold: 'yes' })));
    const silenceEnds = new Date(Date.now() + 2_000);
    await silenceOn({ team: t, hold: 'yes' }, silenceEnds);
    await deliver(firingChange(told), ...held.map((alert) => firingChange(alert, silenceEnds)));
    const bodies = () => groupBodies('manager', t).map((request) => request.body);
    await waitFor(() => (bodies().length >= 1 ? true : null), 20_000, 'the first group body');
    expect(instancesOf(bodies()[0] ?? {})).toEqual([`told-${t} firing`]);
    // The silence ends: both held-back firings go in the group's next body, together.
    await waitFor(() => (bodies().length >= 2 ? true : null), 20_000, 'the body of the released firings');
    await sleep(1_500);
    expect(bodies()).toHaveLength(2);
    expect(instancesOf(bodies()[1] ?? {})).toEqual([`held-a-${t} firing`, `held-b-${t} firing`]);
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

  it('a receiver that stays down: the group body is retried with back-off, then its rows fail and it is dead-lettered with the reason', async () => {
    const t = tag();
    await insertRule(`grp-down-${t}`, { team: t }, 'down', { preset: 'alertmanager', groupBy: ['team'], groupWait: '200ms', groupInterval: '1s' });
    const alerts = await Promise.all([0, 1].map((index) => seed({ alertname: 'NodeDown', instance: `n${index}-${t}`, team: t })));
    await deliver(...alerts.map((alert) => firingChange(alert)));
    const tries = () => groupBodies('down', t);
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
    // The first try and one per retry delay, each after at least its delay; then no more.
    expect(tries()).toHaveLength(GROUP_RETRY_DELAYS_MS.length + 1);
    tries()
      .slice(1)
      .forEach((attempt, index) => expect(attempt.at - (tries()[index]?.at ?? 0)).toBeGreaterThanOrEqual((GROUP_RETRY_DELAYS_MS[index] ?? 0) - 20));
    await sleep(2_500);
    expect(tries()).toHaveLength(GROUP_RETRY_DELAYS_MS.length + 1);
    expect(
      await database.db
        .selectFrom('notification_timers')
        .select('id')
        .where('kind', '=', 'group_flush')
        .where('group_key', '=', JSON.stringify([['team', t]]))
        .execute(),
    ).toEqual([]);

    const connection = await amqplib.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      const dead = await waitFor(
        async () => {
          const message = await channel.get(deadLetterQueueName(QUEUES.webhookNotifierAlertsProcessed), { noAck: true });
          if (!message) return null;
          const event = AlertProcessedSchema.parse(JSON.parse(message.content.toString()));
          return event.changes.some((change) => change.group.labels['team'] === t) ? { message, event } : null;
        },
        10_000,
        'the dead-lettered group',
      );
      expect(String(dead.message.properties.headers?.[HEADERS.error])).toMatch(/retries exhausted after 3 attempts: .*503/);
      expect(dead.message.properties.headers?.[HEADERS.originalQueue]).toBe(QUEUES.webhookNotifierAlertsProcessed);
      expect(dead.event.changes.map((change) => change.instance.id).sort()).toEqual(alerts.map((alert) => alert.instanceId).sort());
    } finally {
      await connection.close();
    }
  });
});
