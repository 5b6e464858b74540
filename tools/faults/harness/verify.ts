import { sql } from 'kysely';
import { alertName, sleep, type AlertLoad } from './load';
import type { FaultStack } from './stack';

/** What every scenario prints: the alerts the load sent, and what became of them. */
export interface Summary {
  sent: number;
  /** Alerts that got a 2xx. */
  accepted: number;
  /** Accepted alerts stored in PostgreSQL. */
  stored: number;
  /** Accepted alerts whose Slack notification reached the Slack stand-in. */
  notified: number;
  /** Accepted alerts not stored, or stored but never notified. */
  lost: number;
  /** Alerts stored more than once (a second instance or firing count) or notified more than once. */
  duplicated: number;
  /** Alerts stored that never got a 2xx (allowed: a confirm lost after the broker kept the message). */
  storedWithout2xx: number;
  lostNames: string[];
  duplicatedNames: string[];
}

interface Observed {
  /** name -> instances and firing count. */
  stored: Map<string, { instances: number; firingCount: number }>;
  /** name -> times it appears in a Slack text that Slack accepted. */
  notified: Map<string, number>;
}

async function observe(stack: FaultStack): Promise<Observed> {
  const rows = await stack.db.db
    .selectFrom('alert_groups as g')
    .leftJoin('alert_instances as i', 'i.group_id', 'g.id')
    .select(['g.name', 'g.firing_count', sql<number>`count(i.id)::int`.as('instances')])
    .groupBy(['g.id', 'g.name', 'g.firing_count'])
    .execute();
  const stored = new Map(rows.map((row) => [row.name, { instances: row.instances, firingCount: row.firing_count }]));
  const notified = new Map<string, number>();
  // Only what Slack accepted was delivered: a 429 or 500 answer delivered nothing.
  for (const request of stack.slack.requests.filter((request) => request.status === 200)) {
    for (const match of request.text.matchAll(/firing (FaultAlert\d{6})/g)) {
      const name = match[1] ?? '';
      notified.set(name, (notified.get(name) ?? 0) + 1);
    }
  }
  return { stored, notified };
}

function summarize(load: AlertLoad, observed: Observed, expectNotified: boolean): Summary {
  const accepted = load.acceptedIndexes().map(alertName);
  const acceptedSet = new Set(accepted);
  const lostNames = accepted.filter((name) => !observed.stored.has(name) || (expectNotified && !observed.notified.has(name)));
  const duplicatedNames = [...observed.stored.entries()]
    .filter(([name, row]) => row.instances > 1 || row.firingCount > 1 || (observed.notified.get(name) ?? 0) > 1)
    .map(([name]) => name);
  return {
    sent: load.sent,
    accepted: accepted.length,
    stored: accepted.filter((name) => observed.stored.has(name)).length,
    notified: accepted.filter((name) => observed.notified.has(name)).length,
    lost: lostNames.length,
    duplicated: duplicatedNames.length,
    storedWithout2xx: [...observed.stored.keys()].filter((name) => !acceptedSet.has(name)).length,
    lostNames: lostNames.slice(0, 20),
    duplicatedNames: duplicatedNames.slice(0, 20),
  };
}

/**
 * Waits until every accepted alert is stored (and notified, unless `expectNotified` is false)
 * or `timeoutMs` passed, then a little longer for a late duplicate to show, and summarises.
 * A timeout is not an error here: the summary then shows what was lost.
 */
export async function settle(stack: FaultStack, load: AlertLoad, options: { timeoutMs?: number; expectNotified?: boolean } = {}): Promise<Summary> {
  const expectNotified = options.expectNotified ?? true;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const summary = summarize(load, await observe(stack), expectNotified);
    if (summary.lost === 0 || Date.now() > deadline) break;
    await sleep(500);
  }
  await sleep(2_000);
  return summarize(load, await observe(stack), expectNotified);
}

export function formatSummary(title: string, summary: Summary): string {
  const { sent, accepted, stored, notified, lost, duplicated, storedWithout2xx } = summary;
  const lines = [
    `${title}: sent ${sent}, accepted ${accepted}, stored ${stored}, notified ${notified}, lost ${lost}, duplicated ${duplicated} (stored without a 2xx: ${storedWithout2xx})`,
  ];
  if (summary.lostNames.length > 0) lines.push(`  lost, first ones: ${summary.lostNames.join(', ')}`);
  if (summary.duplicatedNames.length > 0) lines.push(`  duplicated, first ones: ${summary.duplicatedNames.join(', ')}`);
  return lines.join('\n');
}
