import { randomBytes, randomUUID } from 'node:crypto';
import { AlertProcessed as AlertProcessedSchema, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, createTestVhost, startSlackMock, waitFor, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

/**
 * The routing policy through the real slack-notifier handler, RabbitMQ and PostgreSQL, with an
 * HTTP server standing in for Slack: fan-out with and without `continue`, and inhibition that
 * starts with its source firing and stops when the source resolves.
 */
let database: TestDatabase;
let vhost: TestVhost;
let slackMock: SlackMock;
let slack: SlackSender;
let messaging: Messaging;
let subscription: Subscription;
const handledEvents: string[] = [];

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_routing'), createTestVhost('slack-routing'), startSlackMock()]);
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
  const logger = createLogger('slack-routing-test', 'silent');
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], retryDelayMs: 200 }), { logger });
  const handler = alertProcessedHandler({ db: database.db, slack, registry: new Registry(), defaultChannel: '#default', rulesCacheMs: 0, maxPerSecond: 100 });
  subscription = await subscribe(messaging, {
    queue: QUEUES.slackNotifierAlertsProcessed,
    parse: (json) => AlertProcessedSchema.safeParse(json),
    logger,
    handler: async (event, context) => {
      await handler(event, context);
      handledEvents.push(event.id);
    },
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

const tag = () => randomBytes(4).toString('hex');

async function insertRule(name: string, priority: number, criteria: Record<string, string>, channel: string, options: { continue?: boolean } = {}) {
  await database.db
    .insertInto('slack_rules')
    .values({
      name,
      priority,
      match_criteria: JSON.stringify(criteria),
      slack_channel: channel,
      message_template: `${name}: {{ alert_group.name }} {{ status }}`,
      continue: options.continue ?? false,
      updated_at: new Date(),
    })
    .execute();
}

interface Seeded {
  groupId: number;
  instanceId: number;
  labels: Record<string, string>;
  fingerprint: string;
}

async function seed(labels: Record<string, string>): Promise<Seeded> {
  const fingerprint = randomBytes(8).toString('hex');
  const group = await database.db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name: labels['alertname'] ?? 'x',
      labels: JSON.stringify(labels),
      severity: 'warning',
      instance: labels['instance'] ?? null,
      source: 'webhook',
      current_status: 'firing',
      firing_count: 1,
      first_occurrence: new Date(),
      last_occurrence: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { groupId: group.id, instanceId: await newEpisode(group.id), labels, fingerprint };
}

async function newEpisode(groupId: number): Promise<number> {
  const row = await database.db
    .insertInto('alert_instances')
    .values({ group_id: groupId, status: 'resolved', starts_at: new Date(), ends_at: new Date(), annotations: '{}', generator_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

function changeOf(seeded: Seeded, status: 'firing' | 'resolved'): AlertChange {
  return {
    change: status === 'firing' ? 'created' : 'resolved',
    group: {
      id: seeded.groupId,
      fingerprint: seeded.fingerprint,
      name: seeded.labels['alertname'] ?? 'x',
      labels: seeded.labels,
      severity: 'warning',
      instance: seeded.labels['instance'] ?? null,
      source: 'webhook',
      status,
      firingCount: 1,
      silenced: false,
      silencedUntil: null,
      acknowledged: false,
    },
    instance: {
      id: seeded.instanceId,
      status,
      startsAt: new Date().toISOString(),
      endsAt: status === 'resolved' ? new Date().toISOString() : null,
      annotations: {},
      generatorURL: null,
      resolutionType: status === 'resolved' ? 'normal' : null,
    },
  };
}

async function deliver(change: AlertChange): Promise<void> {
  const event: AlertProcessed = { id: randomUUID(), processedAt: new Date().toISOString(), status: change.instance.status, changes: [change] };
  await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed(event.status), event, { messageId: event.id });
  await waitFor(() => (handledEvents.includes(event.id) ? true : null), 20_000, `event ${event.id} handled`);
}

const rowsOf = (instanceId: number) => database.db.selectFrom('notifications').selectAll().where('instance_id', '=', instanceId).orderBy('rule_id').execute();
const textsTo = (channel: string) => slackMock.requests.filter((request) => request.channel === channel).map((request) => request.text);

describe('fan-out', () => {
  it('without continue, only the first matching rule (priority, then name) notifies', async () => {
    const t = tag();
    await insertRule(`a-${t}`, 20, { team: t }, `#a-${t}`);
    await insertRule(`b-${t}`, 10, { team: t }, `#b-${t}`);
    const alert = await seed({ alertname: 'DiskFull', team: t });
    await deliver(changeOf(alert, 'firing'));
    const rows = await rowsOf(alert.instanceId);
    expect(rows.map((row) => [row.channel, row.status])).toEqual([[`#a-${t}`, 'sent']]);
    expect(textsTo(`#b-${t}`)).toEqual([]);
  });

  it('with continue, every matching rule down to the first without continue notifies, each with its own row, once', async () => {
    const t = tag();
    await insertRule(`a-${t}`, 30, { team: t }, `#a-${t}`, { continue: true });
    await insertRule(`b-${t}`, 20, { nomatch: 'x' }, `#b-${t}`, { continue: true });
    await insertRule(`c-${t}`, 10, { team: t }, `#c-${t}`);
    await insertRule(`d-${t}`, 0, { team: t }, `#d-${t}`);
    const alert = await seed({ alertname: 'DiskFull', team: t });
    const change = changeOf(alert, 'firing');
    await deliver(change);
    await deliver(change); // a redelivered event sends nothing twice
    const rows = await rowsOf(alert.instanceId);
    expect(rows.map((row) => [row.channel, row.status])).toEqual([
      [`#a-${t}`, 'sent'],
      [`#c-${t}`, 'sent'],
    ]);
    expect(textsTo(`#a-${t}`)).toEqual([`a-${t}: DiskFull firing`]);
    expect(textsTo(`#c-${t}`)).toEqual([`c-${t}: DiskFull firing`]);
    expect(textsTo(`#b-${t}`)).toEqual([]);
    expect(textsTo(`#d-${t}`)).toEqual([]);
  });
});

describe('inhibition', () => {
  it('holds targets back while the source fires (rows say inhibited and name it); after the source resolves, new episodes are told', async () => {
    const t = tag();
    await insertRule(`all-${t}`, 0, { cluster: t }, `#inh-${t}`);
    await database.db
      .insertInto('inhibit_rules')
      .values({
        name: `node-${t}`,
        source_matchers: JSON.stringify([{ name: 'alertname', value: 'NodeDown', isEqual: true, isRegex: false }]),
        target_matchers: JSON.stringify([{ name: 'alertname', value: 'Disk.*', isEqual: true, isRegex: true }]),
        equal: ['instance'],
        created_by: 'test',
      })
      .execute();

    // Before any source fires, a target is told.
    const early = await seed({ alertname: 'DiskSlow', instance: `db-${t}`, cluster: t });
    await deliver(changeOf(early, 'firing'));
    expect((await rowsOf(early.instanceId)).map((row) => row.status)).toEqual(['sent']);

    const source = await seed({ alertname: 'NodeDown', instance: `db-${t}`, cluster: t });
    await deliver(changeOf(source, 'firing'));
    expect((await rowsOf(source.instanceId)).map((row) => row.status)).toEqual(['sent']);

    const target = await seed({ alertname: 'DiskFull', instance: `db-${t}`, cluster: t });
    const elsewhere = await seed({ alertname: 'DiskFull', instance: `other-${t}`, cluster: t });
    await deliver(changeOf(target, 'firing'));
    await deliver(changeOf(elsewhere, 'firing'));
    const [held] = await rowsOf(target.instanceId);
    expect(held).toMatchObject({ status: 'inhibited', inhibited_by_group_id: source.groupId, sent_at: null });
    expect(held?.last_error).toContain(`inhibited by alert group ${source.groupId}`);
    expect((await rowsOf(elsewhere.instanceId)).map((row) => row.status)).toEqual(['sent']);
    expect(textsTo(`#inh-${t}`).filter((text) => text.includes('DiskFull'))).toHaveLength(1);

    // The source resolves: a new episode of the target is told.
    await database.db.updateTable('alert_groups').set({ current_status: 'resolved' }).where('id', '=', source.groupId).execute();
    const next = { ...target, instanceId: await newEpisode(target.groupId) };
    await deliver(changeOf(next, 'firing'));
    expect((await rowsOf(next.instanceId)).map((row) => [row.status, row.inhibited_by_group_id])).toEqual([['sent', null]]);
    expect(textsTo(`#inh-${t}`).filter((text) => text.includes('DiskFull'))).toHaveLength(2);
  });
});
