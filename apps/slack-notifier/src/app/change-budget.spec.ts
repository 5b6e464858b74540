import { randomBytes, randomUUID } from 'node:crypto';
import type { AlertChange, AlertProcessed } from '@sentryhub/contracts';
import type { HandlerContext } from '@sentryhub/messaging';
import { createLogger, Registry } from '@sentryhub/service-runtime';
import { createTestDatabase, seedFiringAlerts, waitFor, type TestDatabase } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertProcessedHandler } from './handle-alert-processed';
import type { DeliveryResult, SlackSender } from './slack-client';

describe('alertProcessedHandler with NOTIFIER_MAX_PENDING_CHANGES (real database, Slack held back)', () => {
  let database: TestDatabase;
  const CHANNEL = '#budget';
  const STARTS_AT = '2026-11-26T08:00:00.000Z';

  beforeAll(async () => {
    database = await createTestDatabase('slack_budget');
    await database.db
      .insertInto('slack_rules')
      .values({
        name: 'budget',
        match_criteria: JSON.stringify({ team: 'budget' }),
        slack_channel: CHANNEL,
        message_template: '{{ alert_group.name }}',
        updated_at: new Date(),
      })
      .execute();
  });

  afterAll(async () => {
    await database?.destroy();
  });

  async function changes(count: number): Promise<AlertChange[]> {
    const alerts = Array.from({ length: count }, () => {
      const name = `Budget-${randomBytes(4).toString('hex')}`;
      return { name, labels: { alertname: name, team: 'budget' }, instance: 'host-1', severity: 'warning' as const };
    });
    return seedFiringAlerts(database.db, alerts, STARTS_AT);
  }

  const rowsOf = async (change: AlertChange[]) =>
    database.db
      .selectFrom('notifications')
      .select(['instance_id', 'status'])
      .where(
        'instance_id',
        'in',
        change.map((c) => c.instance.id),
      )
      .execute();

  it('prepares the changes of a later message only once the earlier ones are handled, and loses none', async () => {
    const registry = new Registry();
    /** Slack answers only when the test says so. */
    const held: { text: string; answer: (result: DeliveryResult) => void }[] = [];
    const slack: SlackSender = {
      mode: 'http',
      deliver: (message) => new Promise((resolve) => held.push({ text: message.text, answer: resolve })),
      whenOpen: () => Promise.resolve(),
      close: () => Promise.resolve(),
    };
    // maxPerSecond 1,000: the pacer's interval does not matter here, Slack's answers do.
    const handler = alertProcessedHandler({
      db: database.db,
      slack,
      registry,
      defaultChannel: '#general',
      rulesCacheMs: 0,
      maxPerSecond: 1_000,
      maxPendingChanges: 5,
    });
    const context = (id: string): HandlerContext =>
      ({
        message: {} as HandlerContext['message'],
        correlationId: id,
        messageId: id,
        logger: createLogger('budget-test', 'silent'),
        lastAttempt: false,
      }) as HandlerContext;
    const event = (eventChanges: AlertChange[]): AlertProcessed => ({
      id: randomUUID(),
      processedAt: new Date().toISOString(),
      status: 'firing',
      changes: eventChanges,
    });
    const gauge = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values[0]?.value;

    const first = await changes(4);
    const second = await changes(3);
    const handledFirst = handler(event(first), context('first'));
    const handledSecond = handler(event(second), context('second'));

    // The first message's 4 changes are prepared and wait for Slack; the second's 3 would pass 5.
    await waitFor(() => (held.length === 1 ? true : null), 30_000, 'the first send to Slack');
    expect(await gauge('sentryhub_slack_changes_held')).toBe(4);
    expect(await gauge('sentryhub_slack_changes_waiting')).toBe(3);
    expect(await rowsOf(second)).toEqual([]);
    expect((await rowsOf(first)).map((row) => row.status)).toEqual(['pending', 'pending', 'pending', 'pending']);

    held[0]?.answer({ outcome: 'sent' });
    await handledFirst;
    await waitFor(() => (held.length === 2 ? true : null), 30_000, 'the second send to Slack');
    expect(await gauge('sentryhub_slack_changes_held')).toBe(3);
    expect(await gauge('sentryhub_slack_changes_waiting')).toBe(0);
    held[1]?.answer({ outcome: 'sent' });
    await handledSecond;

    expect(held.map((send) => send.text.match(/Budget-[0-9a-f]{8}/g)?.length)).toEqual([4, 3]);
    expect((await rowsOf([...first, ...second])).every((row) => row.status === 'sent')).toBe(true);
    expect(await rowsOf([...first, ...second])).toHaveLength(7);
    expect(await gauge('sentryhub_slack_changes_held')).toBe(0);
  });
});
