import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import {
  deadLetterQueueName,
  EXCHANGES,
  HEADERS,
  QUEUES,
  RETRY_DELAYS_MS,
  ROUTING_KEYS,
  type AlertChange,
  type AlertProcessed,
  AlertProcessed as AlertProcessedSchema,
} from '@sentryhub/contracts';
import type { Notification } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  startSlackMock,
  waitFor,
  type SlackMock,
  type SlackReply,
  type SlackRequest,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import amqplib from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

const DEFAULT_CHANNEL = '#default-from-config';
const STARTS_AT = '2026-11-26T08:00:00.000Z';

let database: TestDatabase;
let vhost: TestVhost;
let slackMock: SlackMock;
let slack: SlackSender;
let messaging: Messaging;
let subscription: Subscription;
const registry = new Registry();

/** Every run of the real handler, so a test can wait until the broker delivered its event. */
const runs: { eventId: string; ok: boolean; error?: string }[] = [];
/** Channels whose deliveries are held back a little: a window in which a duplicate could race. */
const slowChannels = new Set<string>();
/** Per-channel Slack replies; channels without one get `200 ok`. */
const replies = new Map<string, (request: SlackRequest) => SlackReply>();
/**
 * Per-channel transport faults for the next attempts: `refused` sends to a closed port (a real
 * ECONNREFUSED from undici), `hang` to a server that accepts and never answers (a real
 * timeout). Each attempt takes the first fault off the list; then the Slack mock answers.
 */
const faults = new Map<string, ('refused' | 'hang')[]>();
let refusedSender: SlackSender;
let hangingSender: SlackSender;
let hangingServer: Server;
const hangingSockets: Socket[] = [];

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_notifier'), createTestVhost('slack-notifier'), startSlackMock()]);
  slackMock.respondWith((request) => replies.get(request.channel)?.(request) ?? { status: 200, body: 'ok' });
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
  const logger = createLogger('slack-notifier-test', 'silent');
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
  refusedSender = createSlackSender({ endpoint: `http://127.0.0.1:${await closedPort()}/slack-proxy/`, timeoutMs: 1_000 });
  hangingServer = createServer((socket) => void hangingSockets.push(socket));
  await new Promise<void>((resolve) => hangingServer.listen(0, '127.0.0.1', resolve));
  hangingSender = createSlackSender({ endpoint: `http://127.0.0.1:${(hangingServer.address() as AddressInfo).port}/slack-proxy/`, timeoutMs: 300 });
  const slowable: SlackSender = {
    ...slack,
    deliver: async (message, log) => {
      if (slowChannels.has(message.channel)) await sleep(300);
      const fault = faults.get(message.channel)?.shift();
      if (fault === 'refused') return refusedSender.deliver(message, log);
      if (fault === 'hang') return hangingSender.deliver(message, log);
      return slack.deliver(message, log);
    },
  };
  const handler = alertProcessedHandler({ db: database.db, slack: slowable, registry, defaultChannel: DEFAULT_CHANNEL, rulesCacheMs: 0 });
  subscription = await subscribe(messaging, {
    queue: QUEUES.slackNotifierAlertsProcessed,
    parse: (json) => AlertProcessedSchema.safeParse(json),
    logger,
    handler: async (event, context) => {
      try {
        await handler(event, context);
        runs.push({ eventId: event.id, ok: true });
      } catch (error) {
        runs.push({ eventId: event.id, ok: false, error: (error as Error).message });
        throw error;
      }
    },
  });
});

afterAll(async () => {
  await subscription?.cancel();
  await messaging?.shutdown();
  await slack?.close();
  await refusedSender?.close();
  for (const socket of hangingSockets) socket.destroy();
  await hangingSender?.close();
  await new Promise<void>((resolve) => (hangingServer ? hangingServer.close(() => resolve()) : resolve()));
  await slackMock?.close();
  await database?.destroy();
  await vhost?.destroy();
});

// ---- helpers -------------------------------------------------------------------------------

const unique = (prefix: string) => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface RuleInput {
  name: string;
  criteria: Record<string, unknown>;
  priority?: number;
  isActive?: boolean;
  channel?: string | null;
  template?: string;
  resolvedTemplate?: string | null;
  sendResolved?: boolean;
  replaceIpAddresses?: boolean;
}

async function insertRule(rule: RuleInput): Promise<number> {
  const row = await database.db
    .insertInto('slack_rules')
    .values({
      name: rule.name,
      match_criteria: JSON.stringify(rule.criteria),
      priority: rule.priority ?? 0,
      is_active: rule.isActive ?? true,
      slack_channel: rule.channel ?? null,
      message_template: rule.template ?? '{{ status }} {{ alert_group.name }}',
      resolved_message_template: rule.resolvedTemplate ?? null,
      send_resolved: rule.sendResolved ?? true,
      replace_ip_addresses: rule.replaceIpAddresses ?? false,
      updated_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

interface Seeded {
  groupId: number;
  instanceId: number;
  labels: Record<string, string>;
  fingerprint: string;
  annotations: Record<string, string>;
}

/** The alert_groups and alert_instances rows the notifications' foreign keys need. */
async function seedAlert(labels: Record<string, string>, annotations: Record<string, string> = { summary: 'disk almost full' }): Promise<Seeded> {
  const fingerprint = randomBytes(8).toString('hex');
  const group = await database.db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name: labels['alertname'] ?? 'Unknown Alert',
      labels: JSON.stringify(labels),
      severity: 'critical',
      instance: labels['instance'] ?? null,
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
    .values({ group_id: group.id, status: 'firing', starts_at: STARTS_AT, annotations: JSON.stringify(annotations), generator_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { groupId: group.id, instanceId: instance.id, labels, fingerprint, annotations };
}

function changeOf(seeded: Seeded, status: 'firing' | 'resolved', options: { silenced?: boolean } = {}): AlertChange {
  return {
    change: status === 'firing' ? 'created' : 'resolved',
    group: {
      id: seeded.groupId,
      fingerprint: seeded.fingerprint,
      name: seeded.labels['alertname'] ?? 'Unknown Alert',
      labels: seeded.labels,
      severity: 'critical',
      instance: seeded.labels['instance'] ?? null,
      source: 'webhook',
      status,
      firingCount: 1,
      silenced: options.silenced ?? false,
      silencedUntil: options.silenced ? '2099-01-01T00:00:00.000Z' : null,
      acknowledged: false,
    },
    instance: {
      id: seeded.instanceId,
      status,
      startsAt: STARTS_AT,
      endsAt: status === 'resolved' ? '2026-11-26T09:00:00.000Z' : null,
      annotations: seeded.annotations,
      generatorURL: null,
      resolutionType: status === 'resolved' ? 'normal' : null,
    },
  };
}

async function publish(changes: AlertChange[], options: { id?: string; headers?: Record<string, unknown> } = {}): Promise<AlertProcessed> {
  const status = changes[0]?.instance.status ?? 'firing';
  const event: AlertProcessed = { id: options.id ?? randomUUID(), processedAt: new Date().toISOString(), status, changes };
  await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(status), event, {
    correlationId: `corr-${event.id}`,
    ...(options.headers ? { headers: options.headers } : {}),
  });
  return event;
}

/** Waits until the handler ran `count` times for the event (a redelivery or a retry is a run). */
const handled = (eventId: string, count = 1) =>
  waitFor(
    () => {
      const done = runs.filter((run) => run.eventId === eventId);
      return done.length >= count ? done : null;
    },
    20_000,
    `${count} handler runs of ${eventId}`,
  );

const requestsTo = (channel: string) => slackMock.requests.filter((request) => request.channel === channel);

const rowsOf = (instanceId: number): Promise<Notification[]> =>
  database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = await registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

/** A sample of the delivery latency histogram for a channel (`_count`, `_sum`). */
async function latency(channel: string, sample: 'count' | 'sum'): Promise<number> {
  const metric = await registry.getSingleMetric('sentryhub_slack_delivery_latency_seconds')?.get();
  const name = `sentryhub_slack_delivery_latency_seconds_${sample}`;
  return metric?.values.find((v) => 'metricName' in v && v.metricName === name && v.labels['channel'] === channel)?.value ?? 0;
}

// ---- tests ---------------------------------------------------------------------------------

describe('slack-notifier: alert.processed -> Slack, through RabbitMQ and PostgreSQL', () => {
  it('sends the winning rule (highest priority, then lowest name) with its text to its channel', async () => {
    const t = unique('winner');
    const criteria = { team: t };
    await insertRule({ name: `${t}-zeta`, criteria, priority: 10, channel: `#${t}-zeta`, template: 'zeta' });
    await insertRule({
      name: `${t}-alpha`,
      criteria,
      priority: 10,
      channel: `#${t}-alpha`,
      template: 'ALPHA {{ status }} {{ alert_group.name }} on {{ labels.instance }}: {{ summary }}',
    });
    await insertRule({ name: `${t}-aaa-low`, criteria, priority: 5, channel: `#${t}-low`, template: 'low' });
    await insertRule({ name: `${t}-aaa-inactive`, criteria, priority: 100, isActive: false, channel: `#${t}-inactive`, template: 'inactive' });
    await insertRule({
      name: `${t}-aaa-nomatch`,
      criteria: { team: t, env: { regex: 'prod|staging' } },
      priority: 50,
      channel: `#${t}-nomatch`,
      template: 'nomatch',
    });
    const seeded = await seedAlert({ alertname: 'DiskFull', instance: 'host-7', team: t, env: 'dev', channel: `#${t}-label` });
    const sentBefore = await metricValue('sentryhub_slack_notifications_total', { status: 'sent' });

    const published = Date.now();
    const event = await publish([changeOf(seeded, 'firing')]);
    await handled(event.id);
    const elapsedSeconds = (Date.now() - published) / 1_000;

    const sent = slackMock.requests.filter((request) => request.channel.startsWith(`#${t}`));
    expect(sent).toEqual([expect.objectContaining({ channel: `#${t}-alpha`, text: 'ALPHA firing DiskFull on host-7: disk almost full' })]);
    const [row] = await rowsOf(seeded.instanceId);
    expect(row).toMatchObject({
      status: 'sent',
      kind: 'firing',
      channel: `#${t}-alpha`,
      attempts: 1,
      group_id: seeded.groupId,
      digest_id: null,
      digest_size: null,
      delivered_via: 'slack',
    });
    expect(row?.sent_at).toBeInstanceOf(Date);
    expect(await metricValue('sentryhub_slack_notifications_total', { status: 'sent' })).toBe(sentBefore + 1);
    // One latency for the channel, from the event's processedAt to Slack's ok.
    expect(await latency(`#${t}-alpha`, 'count')).toBe(1);
    expect(await latency(`#${t}-alpha`, 'sum')).toBeGreaterThan(0);
    expect(await latency(`#${t}-alpha`, 'sum')).toBeLessThanOrEqual(elapsedSeconds + 0.05);
  });

  it('does nothing when no active rule matches', async () => {
    const t = unique('norule');
    await insertRule({ name: `${t}-other`, criteria: { team: `${t}-other` }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Lonely', team: t });
    const event = await publish([changeOf(seeded, 'firing')]);
    expect((await handled(event.id))[0]?.ok).toBe(true);
    expect(requestsTo(`#${t}`)).toHaveLength(0);
    expect(await rowsOf(seeded.instanceId)).toHaveLength(0);
  });

  it('delivers the same event published twice exactly once, with one notifications row', async () => {
    const t = unique('twice');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Twice', team: t });
    const change = changeOf(seeded, 'firing');
    const id = randomUUID();
    // Both copies are in flight together: the second must not send while the first is sending.
    slowChannels.add(`#${t}`);
    await Promise.all([publish([change], { id }), publish([change], { id })]);
    await handled(id, 2);
    // And once more after the first two settled: a plain redelivery.
    await publish([change], { id });
    await handled(id, 3);

    expect(requestsTo(`#${t}`)).toHaveLength(1);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('sends a row left pending by a crash mid-send, with its recorded text', async () => {
    const t = unique('pending');
    const ruleId = await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: 'freshly rendered' });
    const seeded = await seedAlert({ alertname: 'Crashed', team: t });
    await database.db
      .insertInto('notifications')
      .values({
        channel: `#${t}`,
        rule_id: ruleId,
        group_id: seeded.groupId,
        instance_id: seeded.instanceId,
        kind: 'firing',
        status: 'pending',
        text: 'recorded before the crash',
        updated_at: new Date(),
      })
      .execute();

    const event = await publish([changeOf(seeded, 'firing')]);
    await handled(event.id);

    expect(requestsTo(`#${t}`).map((request) => request.text)).toEqual(['recorded before the crash']);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('uses the resolved template for a resolved change, and the firing template when there is none', async () => {
    const t = unique('resolved');
    await insertRule({
      name: `${t}-a`,
      criteria: { team: t, part: 'a' },
      channel: `#${t}-a`,
      template: 'FIRING {{ alert_group.name }}',
      resolvedTemplate: 'RESOLVED {{ alert_group.name }} ({{ status }})',
    });
    await insertRule({ name: `${t}-b`, criteria: { team: t, part: 'b' }, channel: `#${t}-b`, template: 'ONLY {{ status }} {{ alert_group.name }}' });
    const a = await seedAlert({ alertname: 'WithResolved', team: t, part: 'a' });
    const b = await seedAlert({ alertname: 'WithoutResolved', team: t, part: 'b' });

    const firing = await publish([changeOf(a, 'firing'), changeOf(b, 'firing')]);
    await handled(firing.id);
    const resolved = await publish([changeOf(a, 'resolved'), changeOf(b, 'resolved')]);
    await handled(resolved.id);

    expect(requestsTo(`#${t}-a`).map((request) => request.text)).toEqual(['FIRING WithResolved', 'RESOLVED WithResolved (resolved)']);
    expect(requestsTo(`#${t}-b`).map((request) => request.text)).toEqual(['ONLY firing WithoutResolved', 'ONLY resolved WithoutResolved']);
    expect((await rowsOf(a.instanceId)).map((row) => [row.kind, row.status])).toEqual([
      ['firing', 'sent'],
      ['resolved', 'sent'],
    ]);
  });

  it('skips resolved notifications when the rule has send_resolved = false', async () => {
    const t = unique('noresolved');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: '{{ status }}', resolvedTemplate: 'resolved!', sendResolved: false });
    const seeded = await seedAlert({ alertname: 'Quiet', team: t });

    const firing = await publish([changeOf(seeded, 'firing')]);
    await handled(firing.id);
    const resolved = await publish([changeOf(seeded, 'resolved')]);
    expect((await handled(resolved.id))[0]?.ok).toBe(true);

    expect(requestsTo(`#${t}`).map((request) => request.text)).toEqual(['firing']);
    expect((await rowsOf(seeded.instanceId)).map((row) => row.kind)).toEqual(['firing']);
  });

  it('records a silenced firing as suppressed and sends nothing', async () => {
    const t = unique('silenced');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Hushed', team: t });
    const before = await metricValue('sentryhub_slack_notifications_total', { status: 'suppressed' });

    const event = await publish([changeOf(seeded, 'firing', { silenced: true })]);
    expect((await handled(event.id))[0]?.ok).toBe(true);

    expect(requestsTo(`#${t}`)).toHaveLength(0);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'suppressed', kind: 'firing', attempts: 0, sent_at: null });
    expect(await metricValue('sentryhub_slack_notifications_total', { status: 'suppressed' })).toBe(before + 1);
  });

  it('sends the resolved of a notified firing even when the group is now silenced; suppresses it otherwise', async () => {
    const t = unique('silres');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: 'F {{ alert_group.name }}', resolvedTemplate: 'R {{ alert_group.name }}' });
    const notified = await seedAlert({ alertname: 'WasNotified', team: t });
    const hushed = await seedAlert({ alertname: 'WasHushed', team: t });

    const firing = await publish([changeOf(notified, 'firing'), changeOf(hushed, 'firing', { silenced: true })]);
    await handled(firing.id);
    const resolved = await publish([changeOf(notified, 'resolved', { silenced: true }), changeOf(hushed, 'resolved', { silenced: true })]);
    await handled(resolved.id);

    expect(requestsTo(`#${t}`).map((request) => request.text)).toEqual(['F WasNotified', 'R WasNotified']);
    expect((await rowsOf(notified.instanceId)).map((row) => [row.kind, row.status])).toEqual([
      ['firing', 'sent'],
      ['resolved', 'sent'],
    ]);
    expect((await rowsOf(hushed.instanceId)).map((row) => [row.kind, row.status])).toEqual([
      ['firing', 'suppressed'],
      ['resolved', 'suppressed'],
    ]);
  });

  it.each(['invalid_payload', 'channel_not_found'])("marks a notification failed with Slack's error on a 400 %s, and never retries it", async (slackError) => {
    const t = unique('rejected');
    replies.set(`#${t}`, () => ({ status: 400, body: slackError }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Nowhere', team: t });
    const before = await metricValue('sentryhub_slack_notifications_total', { status: 'failed' });

    const event = await publish([changeOf(seeded, 'firing')]);
    expect((await handled(event.id))[0]?.ok).toBe(true);
    // Longer than the first broker retry delay: a retry would have reached Slack again by now.
    await sleep(RETRY_DELAYS_MS[0] + 700);

    expect(requestsTo(`#${t}`)).toHaveLength(1);
    expect(runs.filter((run) => run.eventId === event.id)).toHaveLength(1);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'failed', attempts: 1, sent_at: null });
    expect(rows[0]?.last_error).toBe(`Slack answered 400: ${slackError}`);
    expect(await metricValue('sentryhub_slack_notifications_total', { status: 'failed' })).toBe(before + 1);
    expect(await latency(`#${t}`, 'count')).toBe(0);
  });

  it('retries a 500 through the broker and delivers once it succeeds', async () => {
    const t = unique('flaky');
    let calls = 0;
    replies.set(`#${t}`, () => (++calls === 1 ? { status: 500, body: 'internal_error' } : { status: 200, body: 'ok' }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Flaky', team: t });
    const retriesBefore = await metricValue('sentryhub_slack_retries_total');

    const event = await publish([changeOf(seeded, 'firing')]);
    const done = await handled(event.id, 2);
    expect(await metricValue('sentryhub_slack_retries_total')).toBe(retriesBefore + 1);

    expect(done.map((run) => run.ok)).toEqual([false, true]);
    expect(requestsTo(`#${t}`)).toHaveLength(2);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 2 });
    expect(rows[0]?.last_error).toContain('internal_error');
  });

  it('treats a 2xx whose body is not "ok" as a failure to retry', async () => {
    const t = unique('notok');
    let calls = 0;
    replies.set(`#${t}`, () => (++calls === 1 ? { status: 200, body: 'maybe' } : { status: 200, body: 'ok\n' }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'NotOk', team: t });

    const event = await publish([changeOf(seeded, 'firing')]);
    const done = await handled(event.id, 2);

    expect(done.map((run) => run.ok)).toEqual([false, true]);
    expect(requestsTo(`#${t}`)).toHaveLength(2);
    expect((await rowsOf(seeded.instanceId))[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('waits out a 429 Retry-After before the next request to Slack, then delivers', async () => {
    const t = unique('limited');
    let calls = 0;
    replies.set(`#${t}`, () => (++calls === 1 ? { status: 429, body: 'rate_limited', headers: { 'retry-after': '2' } } : { status: 200, body: 'ok' }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Limited', team: t });
    const [limitedBefore, retriesBefore] = [await metricValue('sentryhub_slack_rate_limited_total'), await metricValue('sentryhub_slack_retries_total')];

    const event = await publish([changeOf(seeded, 'firing')]);
    await handled(event.id, 2);
    expect(await metricValue('sentryhub_slack_rate_limited_total')).toBe(limitedBefore + 1);
    expect(await metricValue('sentryhub_slack_retries_total')).toBe(retriesBefore + 1);

    const [first, second] = requestsTo(`#${t}`);
    expect(requestsTo(`#${t}`)).toHaveLength(2);
    // The broker retries after 1 s; Retry-After (2 s) must hold the request back longer.
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? Infinity)).toBeGreaterThanOrEqual(1_950);
    expect((await rowsOf(seeded.instanceId))[0]).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('marks the row failed when the last broker retry fails, and the message is dead-lettered', async () => {
    const t = unique('exhausted');
    replies.set(`#${t}`, () => ({ status: 503, body: 'upstream down' }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'Exhausted', team: t });

    // As the subscriber republishes it after the last retry delay.
    const event = await publish([changeOf(seeded, 'firing')], { headers: { [HEADERS.retryCount]: RETRY_DELAYS_MS.length } });
    expect((await handled(event.id))[0]?.ok).toBe(false);

    const rows = await waitFor(async () => {
      const found = await rowsOf(seeded.instanceId);
      return found[0]?.status === 'failed' ? found : null;
    });
    expect(rows[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(rows[0]?.last_error).toContain('503');
    expect(requestsTo(`#${t}`)).toHaveLength(1);

    const connection = await amqplib.connect(vhost.url);
    try {
      const channel = await connection.createChannel();
      const deadLetters = await waitFor(async () => {
        const message = await channel.get(deadLetterQueueName(QUEUES.slackNotifierAlertsProcessed), { noAck: true });
        return message === false ? null : message;
      });
      expect(JSON.parse(deadLetters.content.toString('utf8'))).toMatchObject({ id: event.id });
      expect(String(deadLetters.properties.headers?.[HEADERS.error])).toContain('503');
    } finally {
      await connection.close();
    }
  });

  it('a 429 on the last retry uses up nothing: the row stays pending, the message comes back and delivers', async () => {
    const t = unique('ratelimitedlast');
    let calls = 0;
    replies.set(`#${t}`, () => (++calls === 1 ? { status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } } : { status: 200, body: 'ok' }));
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}` });
    const seeded = await seedAlert({ alertname: 'RateLimitedLast', team: t });

    const event = await publish([changeOf(seeded, 'firing')], { headers: { [HEADERS.retryCount]: RETRY_DELAYS_MS.length } });
    expect((await handled(event.id))[0]?.ok).toBe(false);
    expect((await rowsOf(seeded.instanceId))[0]).toMatchObject({ status: 'pending', attempts: 1 });
    // Back through the outage retry queue (5 s), not to the dead letters.
    const rows = await waitFor(
      async () => {
        const found = await rowsOf(seeded.instanceId);
        return found[0]?.status === 'sent' ? found : null;
      },
      20_000,
      'the rate-limited notification to be delivered',
    );
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 2 });
    expect(requestsTo(`#${t}`)).toHaveLength(2);
  });

  it('sends the safe default text when the template fails to render, and counts it', async () => {
    const t = unique('badtemplate');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: '{{ summary | no_such_filter }}' });
    const seeded = await seedAlert({ alertname: 'BadTemplate', team: t });
    const before = await metricValue('sentryhub_slack_template_failures_total');

    const event = await publish([changeOf(seeded, 'firing')]);
    await handled(event.id);

    const [request] = requestsTo(`#${t}`);
    expect(request?.text).toContain(`The template of rule "${t}" failed to render`);
    expect(request?.text).toContain('BadTemplate');
    expect((await rowsOf(seeded.instanceId))[0]).toMatchObject({ status: 'sent', text: request?.text });
    expect(await metricValue('sentryhub_slack_template_failures_total')).toBe(before + 1);
  });

  it('sends to the rule channel, else the `channel` label, else SLACK_DEFAULT_CHANNEL', async () => {
    const t = unique('channels');
    await insertRule({ name: `${t}-with`, criteria: { team: t, part: 'rule' }, channel: `#${t}-rule`, template: 'rule {{ labels.part }}' });
    await insertRule({
      name: `${t}-without`,
      criteria: { team: t, part: { regex: 'label|default' } },
      channel: null,
      template: 'no-rule-channel {{ labels.part }}',
    });
    const ruleChannel = await seedAlert({ alertname: 'A', team: t, part: 'rule', channel: `#${t}-ignored-label` });
    const labelChannel = await seedAlert({ alertname: 'B', team: t, part: 'label', channel: `#${t}-label` });
    const defaultChannel = await seedAlert({ alertname: 'C', team: t, part: 'default' });

    const event = await publish([changeOf(ruleChannel, 'firing'), changeOf(labelChannel, 'firing'), changeOf(defaultChannel, 'firing')]);
    await handled(event.id);

    expect(requestsTo(`#${t}-rule`).map((r) => r.text)).toEqual(['rule rule']);
    expect(requestsTo(`#${t}-ignored-label`)).toHaveLength(0);
    expect(requestsTo(`#${t}-label`).map((r) => r.text)).toEqual(['no-rule-channel label']);
    expect(requestsTo(DEFAULT_CHANNEL).filter((r) => r.text === 'no-rule-channel default')).toHaveLength(1);
    expect((await rowsOf(defaultChannel.instanceId))[0]).toMatchObject({ channel: DEFAULT_CHANNEL, status: 'sent' });
  });

  it.each([
    ['a refused connection', 'refused', 'ECONNREFUSED'],
    ['a timeout (no answer within SLACK_TIMEOUT_MS)', 'hang', 'Timeout'],
  ] as const)('retries %s through the broker and delivers once Slack answers', async (_what, fault, errorText) => {
    const t = unique(fault);
    faults.set(`#${t}`, [fault]);
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: 'after {{ alert_group.name }}' });
    const seeded = await seedAlert({ alertname: `Net-${fault}`, team: t });
    const retriesBefore = await metricValue('sentryhub_slack_retries_total');

    const event = await publish([changeOf(seeded, 'firing')]);
    const done = await handled(event.id, 2);

    expect(done.map((run) => run.ok)).toEqual([false, true]);
    expect(done[0]?.error).toContain(errorText);
    expect(faults.get(`#${t}`)).toEqual([]);
    // Only the second attempt reached Slack.
    expect(requestsTo(`#${t}`).map((request) => request.text)).toEqual([`after Net-${fault}`]);
    const rows = await rowsOf(seeded.instanceId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', attempts: 2 });
    expect(rows[0]?.last_error).toContain('Slack request failed');
    expect(rows[0]?.last_error).toContain(errorText);
    expect(await metricValue('sentryhub_slack_retries_total')).toBe(retriesBefore + 1);
  });

  it('folds what waits for a channel into one digest, every alert recorded with it, and never posts it twice', async () => {
    const t = unique('digest');
    await insertRule({ name: t, criteria: { team: t }, channel: `#${t}`, template: ':fire: {{ alert_group.name }} on {{ labels.instance }}' });
    const alerts = await Promise.all(['a', 'b', 'c', 'd'].map((host) => seedAlert({ alertname: 'DiskFull', instance: `host-${host}`, team: t })));
    const [first, ...rest] = alerts;
    if (!first) throw new Error('no alert seeded');
    const [digestsBefore, foldedBefore] = [await metricValue('sentryhub_slack_digests_total'), await metricValue('sentryhub_slack_digest_notifications_total')];

    // The first goes out at once; the next three arrive within the channel's second and wait.
    const opening = await publish([changeOf(first, 'firing')]);
    await handled(opening.id);
    const later = await Promise.all(rest.map((alert) => publish([changeOf(alert, 'firing')])));
    await Promise.all(later.map((event) => handled(event.id)));

    const requests = requestsTo(`#${t}`);
    expect(requests.map((request) => request.text)).toEqual([
      ':fire: DiskFull on host-a',
      expect.stringMatching(/^\[SentryHub\] 3 notifications \(3 firing\) in one message/),
    ]);
    expect((requests[1]?.receivedAt ?? 0) - (requests[0]?.receivedAt ?? Infinity)).toBeGreaterThanOrEqual(950);
    const digestLines = requests[1]?.text.split('\n').slice(1).sort();
    expect(digestLines).toEqual(['• :fire: DiskFull on host-b', '• :fire: DiskFull on host-c', '• :fire: DiskFull on host-d']);

    const rows = (await Promise.all(rest.map((alert) => rowsOf(alert.instanceId)))).flat();
    expect(rows).toHaveLength(3);
    const digestId = rows[0]?.digest_id;
    expect(digestId).toMatch(/^[0-9a-f-]{36}$/);
    for (const row of rows) expect(row).toMatchObject({ status: 'sent', attempts: 1, digest_id: digestId, digest_size: 3 });
    expect((await rowsOf(first.instanceId))[0]).toMatchObject({ status: 'sent', digest_id: null });
    expect(await metricValue('sentryhub_slack_digests_total')).toBe(digestsBefore + 1);
    expect(await metricValue('sentryhub_slack_digest_notifications_total')).toBe(foldedBefore + 3);
    expect(await latency(`#${t}`, 'count')).toBe(4);

    // A redelivery of an event whose notification went out in the digest posts nothing.
    const [redelivered] = later;
    if (!redelivered) throw new Error('no later event');
    await publish(redelivered.changes, { id: redelivered.id });
    await handled(redelivered.id, 2);
    await sleep(1_100);
    expect(requestsTo(`#${t}`)).toHaveLength(2);
  });

  it('replaces IP addresses with IP for a rule that asks for it, and only for that rule (README example)', async () => {
    const t = unique('ips');
    const template = ':rotating_light: {{ alert_group.name }} on {{ labels.instance }}: {{ summary }}';
    await insertRule({
      name: `${t}-ops-critical`,
      criteria: { team: t, severity: { regex: 'critical|page' } },
      channel: `#${t}-ops-alerts`,
      template,
      replaceIpAddresses: true,
    });
    await insertRule({ name: `${t}-keep`, criteria: { team: t, severity: 'warning' }, channel: `#${t}-keep`, template });
    const hidden = await seedAlert(
      { alertname: 'DiskFull', instance: '10.20.30.40:9100', team: t, severity: 'critical' },
      { summary: 'Disk almost full on 10.20.30.40 (peer 2001:db8::7)' },
    );
    const kept = await seedAlert(
      { alertname: 'DiskFull', instance: '10.20.30.41:9100', team: t, severity: 'warning' },
      { summary: 'Disk almost full on 10.20.30.41' },
    );

    const event = await publish([changeOf(hidden, 'firing'), changeOf(kept, 'firing')]);
    await handled(event.id);

    expect(requestsTo(`#${t}-ops-alerts`).map((request) => request.text)).toEqual([':rotating_light: DiskFull on IP:9100: Disk almost full on IP (peer IP)']);
    expect(requestsTo(`#${t}-keep`).map((request) => request.text)).toEqual([':rotating_light: DiskFull on 10.20.30.41:9100: Disk almost full on 10.20.30.41']);
    expect((await rowsOf(hidden.instanceId))[0]).toMatchObject({
      status: 'sent',
      text: ':rotating_light: DiskFull on IP:9100: Disk almost full on IP (peer IP)',
    });
  });
});
