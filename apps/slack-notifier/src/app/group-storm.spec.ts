import { AlertProcessed as AlertProcessedSchema, QUEUES, type AlertChange } from '@sentryhub/contracts';
import { createDb, timerLoop, type Database, type TimerLoop } from '@sentryhub/db';
import { buildBrokerConfig, connectMessaging, subscribe, type Messaging, type Subscription } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  seedFiringAlerts,
  startSlackMock,
  waitFor,
  type SlackMock,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertStormRule, publishStorm, stormAlerts, STORM_TEAMS } from './group-storm.fixtures';
import { alertProcessedHandler } from './handle-alert-processed';
import { createSlackSender, type SlackSender } from './slack-client';

/**
 * A storm into grouped rules, on the real broker and database and an HTTP Slack stand-in, with
 * two notifier "replicas" (each its own handler, pool and timer loop): 10,000 alerts of four
 * groups (`groupBy: [alertname, team]`) published as fast as the broker takes them, under two
 * rules (the first with `continue`). Each rule sends at most one message per group per
 * `groupInterval`, and every alert is in exactly one message of each rule. The same storm against
 * the built notifier as a process, and what it costs in memory: group-storm.e2e.spec.ts.
 */
const ALERTS = 10_000;
const GROUP_INTERVAL_MS = 3_000;
const CHANGES_PER_EVENT = 200;
const STARTS_AT = '2026-12-06T08:00:00.000Z';

let database: TestDatabase;
let secondDb: Kysely<Database>;
let vhost: TestVhost;
let slackMock: SlackMock;
let slack: SlackSender;
let messaging: Messaging;
const subscriptions: Subscription[] = [];
const loops: TimerLoop[] = [];

beforeAll(async () => {
  [database, vhost, slackMock] = await Promise.all([createTestDatabase('slack_group_storm'), createTestVhost('slack-group-storm'), startSlackMock()]);
  secondDb = createDb(database.url, { maxConnections: 10, applicationName: 'group-storm-replica-2' });
  slack = createSlackSender({ endpoint: slackMock.url, timeoutMs: 5_000 });
  const logger = createLogger('slack-group-storm-test', 'silent');
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [QUEUES.slackNotifierAlertsProcessed], prefetch: 20, retryDelayMs: 200 }), {
    logger,
  });
  for (const db of [database.db, secondDb]) {
    const handler = alertProcessedHandler({ db, slack, registry: new Registry(), defaultChannel: '#general', rulesCacheMs: 0, maxPerSecond: 1, logger });
    subscriptions.push(
      await subscribe(messaging, { queue: QUEUES.slackNotifierAlertsProcessed, parse: (json) => AlertProcessedSchema.safeParse(json), logger, handler }),
    );
    const loop = timerLoop({ db, notifier: 'slack', pollMs: 100, logger, handle: handler.handleTimer });
    loop.start();
    loops.push(loop);
  }
});

afterAll(async () => {
  await Promise.all(loops.map((loop) => loop.stop()));
  for (const subscription of subscriptions) await subscription.cancel();
  await messaging?.shutdown();
  await slack?.close();
  await slackMock?.close();
  await secondDb?.destroy();
  await database?.destroy();
  await vhost?.destroy();
});

const insertRule = (name: string, channel: string, priority: number, options: { continue?: boolean } = {}) =>
  insertStormRule(database.db, { name, channel, priority, groupIntervalMs: GROUP_INTERVAL_MS, ...options });

/** `ALERTS` firing groups with one episode each, as the alert processor leaves them, in chunks. */
async function seedStorm(): Promise<AlertChange[]> {
  return seedFiringAlerts(
    database.db,
    stormAlerts(ALERTS, (i) => `i${i}`),
    STARTS_AT,
  );
}

describe('a storm into grouped rules', () => {
  it('10,000 alerts of four groups: at most one message per group per groupInterval per rule, every alert in exactly one message of each rule', async () => {
    const first = await insertRule('storm-first', '#storm-first', 10, { continue: true });
    const second = await insertRule('storm-second', '#storm-second', 0);
    const changes = await seedStorm();
    const startedAt = Date.now();
    await publishStorm(messaging, changes, CHANGES_PER_EVENT);

    // Every alert's row under each rule recorded sent (in the transaction that sent its message).
    await waitFor(
      async () => {
        const { count } = await database.db
          .selectFrom('notifications')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('status', '=', 'sent')
          .executeTakeFirstOrThrow();
        return Number(count) === ALERTS * 2 ? true : null;
      },
      55_000,
      'every row of both rules sent',
    );
    const elapsedMs = Date.now() - startedAt;

    // Only group messages went out: nothing per alert, nothing to another channel.
    expect(new Set(slackMock.requests.map((request) => request.channel))).toEqual(new Set(['#storm-first', '#storm-second']));
    for (const channel of ['#storm-first', '#storm-second']) {
      for (const team of STORM_TEAMS) {
        const messages = slackMock.requests.filter((request) => request.channel === channel && request.text.split('\n')[0]?.endsWith(`Storm (team=${team})`));
        expect(messages.length).toBeGreaterThan(0);
        // At most one message per group per groupInterval: consecutive ones at least that far apart.
        const times = messages.map((request) => request.receivedAt).sort((a, b) => a - b);
        for (let n = 1; n < times.length; n++) expect((times[n] ?? 0) - (times[n - 1] ?? 0)).toBeGreaterThanOrEqual(GROUP_INTERVAL_MS);
        // Every alert of the group in exactly one of them.
        const told = messages.flatMap((request) => request.text.split('\n').slice(1));
        expect(told).toHaveLength(ALERTS / STORM_TEAMS.length);
        expect(new Set(told).size).toBe(ALERTS / STORM_TEAMS.length);
        for (const line of told) expect(line).toMatch(/^• i\d+$/);
        expect(told.every((line) => Number(line.slice(3)) % STORM_TEAMS.length === STORM_TEAMS.indexOf(team))).toBe(true);
      }
    }
    // Each message's rows share its digest id: as many digests per rule as messages to its channel.
    for (const [ruleId, channel] of [
      [first, '#storm-first'],
      [second, '#storm-second'],
    ] as const) {
      const digests = await database.db.selectFrom('notifications').select('digest_id').distinct().where('rule_id', '=', ruleId).execute();
      expect(digests).toHaveLength(slackMock.requests.filter((request) => request.channel === channel).length);
    }
    expect(elapsedMs).toBeLessThan(55_000);
  }, 90_000);
});
