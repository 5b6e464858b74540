import { randomUUID } from 'node:crypto';
import { EXCHANGES, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';

/**
 * What the group storm specs (group-storm.spec.ts, in process; group-storm.e2e.spec.ts, the
 * built notifier) share: the storm's alerts, its grouped rules, and its publishing.
 */

/** The storm's teams: four groups per rule (grouped by `alertname` and `team`). */
export const STORM_TEAMS = ['a', 'b', 'c', 'd'];

/** `count` firing alerts named `Storm`, spread over the teams, each its own instance (`instanceOf`). */
export function stormAlerts(count: number, instanceOf: (index: number) => string) {
  return Array.from({ length: count }, (_, i) => {
    const instance = instanceOf(i);
    return { name: 'Storm', labels: { alertname: 'Storm', team: STORM_TEAMS[i % STORM_TEAMS.length] ?? 'a', instance }, instance };
  });
}

/** A Slack rule grouping the storm by `alertname` and `team` (group wait 1 s); its id. */
export async function insertStormRule(
  db: Kysely<Database>,
  rule: { name: string; channel: string; priority: number; groupIntervalMs: number; continue?: boolean },
): Promise<number> {
  const row = await db
    .insertInto('slack_rules')
    .values({
      name: rule.name,
      priority: rule.priority,
      continue: rule.continue ?? false,
      match_criteria: JSON.stringify({ alertname: 'Storm' }),
      slack_channel: rule.channel,
      // Short lines: a message of 1,000 alerts stays far below Slack's length limit.
      message_template: '{{ labels.instance }}',
      group_by: ['alertname', 'team'],
      group_wait: '1s',
      group_interval: `${rule.groupIntervalMs / 1000}s`,
      updated_at: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Publishes the changes as the alert processor does in a storm: `alert.processed` events of `perEvent` changes each. */
export async function publishStorm(
  messaging: { publish(exchange: string, routingKey: string, body: unknown, meta?: { messageId?: string }): Promise<unknown> },
  changes: readonly AlertChange[],
  perEvent: number,
): Promise<void> {
  for (let start = 0; start < changes.length; start += perEvent) {
    const event: AlertProcessed = {
      id: randomUUID(),
      processedAt: new Date().toISOString(),
      status: 'firing',
      changes: changes.slice(start, start + perEvent),
    };
    await messaging.publish(EXCHANGES.alerts, ROUTING_KEYS.alertProcessed('firing'), event, { messageId: event.id });
  }
}
