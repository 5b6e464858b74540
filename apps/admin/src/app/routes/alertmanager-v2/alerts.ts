import { activeSilences, anyId, ruleRepository, type AlertGroup, type AlertInstance, type Database, type StoredRule } from '@sentryhub/db';
import { anchoredRegex, compareRules, filterMatches, routeAlert, silenceMatches, type SilenceMatcher } from '@sentryhub/rules';
import type { LabelSet } from '@sentryhub/contracts';
import { sql, type Kysely } from 'kysely';
import { ApiV2Error, ZERO_TIME } from './common';
import { inhibitingSources } from './inhibition';

/** An alert as Alertmanager's `GET /api/v2/alerts` returns it (`gettableAlert`, API 0.25). */
export interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  fingerprint: string;
  startsAt: string;
  endsAt: string;
  updatedAt: string;
  generatorURL?: string;
  receivers: { name: string }[];
  status: { state: 'active' | 'suppressed' | 'unprocessed'; silencedBy: string[]; inhibitedBy: string[] };
}

export interface AlertFilter {
  matchers: SilenceMatcher[];
  active: boolean;
  silenced: boolean;
  inhibited: boolean;
  /** Anchored RE2 on receiver names: an alert is kept when one of its receivers matches. */
  receiver?: string | undefined;
}

/** Beyond this many firing groups the API refuses rather than building an unbounded answer. */
export const ALERT_LIMIT = 50_000;

/** The active rules of every kind (Slack, email, webhook): each kind is routed on its own. */
export interface RoutingRules {
  kinds: StoredRule[][];
}

export async function routingRules(db: Kysely<Database>): Promise<RoutingRules> {
  const rules = ruleRepository(db, { cacheMs: 0 });
  return { kinds: await Promise.all([rules.activeSlackRules(), rules.activeEmailRules(), rules.activeWebhookRules()]) };
}

/** Every rule name of every kind, once each (the receivers `GET /api/v2/receivers` lists). */
export async function receiverNames(db: Kysely<Database>): Promise<string[]> {
  const rows = await Promise.all([
    db.selectFrom('slack_rules').select('name').execute(),
    db.selectFrom('email_rules').select('name').execute(),
    db.selectFrom('webhook_rules').select('name').execute(),
  ]);
  return [...new Set(rows.flat().map((row) => row.name))].sort();
}

/**
 * The receivers of an alert: the rules that apply to it under the notification policy
 * (libs/rules `routeAlert`: by priority, then name; the first that matches ends the search
 * unless it has `continue`), each kind routed on its own, merged in the order rules are tried;
 * the same name on two kinds is one receiver.
 */
export function receiversOf(rules: RoutingRules, labels: LabelSet): { name: string }[] {
  const applied = rules.kinds.flatMap((kind) => routeAlert(kind, labels).applied).sort(compareRules);
  return [...new Set(applied.map((rule) => rule.name))].map((name) => ({ name }));
}

/**
 * The lease end of a firing alert (`lease_ends_at`: the sender's endsAt, or the receipt +
 * RESOLVE_TIMEOUT on `POST /api/v2/alerts`), else Go's zero time: an alert from a door without
 * leases (the webhook) has no end known (Alertmanager always has one, see the compatibility document).
 */
const endsAtOf = (instance: AlertInstance) => (instance.lease_ends_at ?? instance.ends_at)?.toISOString() ?? ZERO_TIME;

/**
 * The alerts Alertmanager would list: every firing group with its open episode (resolved ones
 * are left out, as Alertmanager leaves out an alert whose end has passed), silenced by the
 * silences active now, inhibited by a firing source under the inhibit rules, routed to the
 * rules the notification policy applies (`continue` included); sorted by fingerprint.
 * Queries per request: the groups, their episodes, the silences, the rules and inhibit rules
 * once each, and one bounded query of firing sources per inhibit rule that has targets.
 */
export async function listAlerts(db: Kysely<Database>, filter: AlertFilter, now = new Date()): Promise<GettableAlert[]> {
  let receiverRegex: { test(value: string): boolean } | null = null;
  if (filter.receiver !== undefined) {
    try {
      receiverRegex = anchoredRegex(filter.receiver);
    } catch (error) {
      throw new ApiV2Error(400, `failed to parse receiver param: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  let query = db.selectFrom('alert_groups').selectAll().where('current_status', '=', 'firing');
  // Equality matchers narrow the query in PostgreSQL; every matcher is applied below anyway.
  for (const matcher of filter.matchers) {
    if (matcher.isEqual && !matcher.isRegex && matcher.value !== '')
      query = query.where(sql<boolean>`labels @> ${JSON.stringify({ [matcher.name]: matcher.value })}::jsonb`);
  }
  const groups = (
    await query
      .orderBy('fingerprint')
      .limit(ALERT_LIMIT + 1)
      .execute()
  ).filter((group) => filterMatches(filter.matchers, group.labels));
  if (groups.length > ALERT_LIMIT) throw new ApiV2Error(400, `more than ${ALERT_LIMIT} firing alerts match; narrow the filter`);
  if (groups.length === 0) return [];

  const repository = ruleRepository(db, { cacheMs: 0 });
  const [instances, silences, rules, inhibitRules] = await Promise.all([
    openInstances(db, groups),
    activeSilences(db, now),
    routingRules(db),
    repository.activeInhibitRules(),
  ]);
  const inhibitedBy = await inhibitingSources(
    db,
    inhibitRules,
    groups.map((group) => ({ groupId: group.id, labels: group.labels })),
  );
  const uuids =
    silences.length === 0
      ? new Map<number, string>()
      : new Map(
          (
            await db
              .selectFrom('silences')
              .select(['id', 'uuid'])
              .where(
                'id',
                'in',
                silences.map((s) => s.id),
              )
              .execute()
          ).map((row) => [row.id, row.uuid]),
        );

  const alerts: GettableAlert[] = [];
  for (const group of groups) {
    const instance = instances.get(group.id);
    if (!instance) continue; // a firing group without its episode row: nothing to show yet
    const silencedBy = silences.filter((silence) => silenceMatches(silence, group.labels, now)).flatMap((silence) => uuids.get(silence.id) ?? []);
    const receivers = receiversOf(rules, group.labels);
    if (receiverRegex && !receivers.some((receiver) => receiverRegex.test(receiver.name))) continue;
    const source = inhibitedBy.get(group.id);
    const inhibitors = source === undefined ? [] : [source];
    const state = silencedBy.length > 0 || inhibitors.length > 0 ? 'suppressed' : 'active';
    if (!filter.active && state === 'active') continue;
    if (!filter.silenced && silencedBy.length > 0) continue;
    if (!filter.inhibited && inhibitors.length > 0) continue;
    alerts.push(alertView(group, instance, receivers, { state, silencedBy, inhibitedBy: inhibitors }));
  }
  return alerts.sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0));
}

function alertView(group: AlertGroup, instance: AlertInstance, receivers: GettableAlert['receivers'], status: GettableAlert['status']): GettableAlert {
  return {
    annotations: instance.annotations,
    endsAt: endsAtOf(instance),
    fingerprint: group.fingerprint,
    receivers,
    startsAt: instance.starts_at.toISOString(),
    status,
    updatedAt: group.last_occurrence.toISOString(),
    labels: group.labels,
    // Alertmanager leaves out an empty generatorURL.
    ...(instance.generator_url ? { generatorURL: instance.generator_url } : {}),
  };
}

/** The open (firing) episode of each group, the latest one if there were ever two. */
async function openInstances(db: Kysely<Database>, groups: readonly AlertGroup[]): Promise<Map<number, AlertInstance>> {
  const byGroup = new Map<number, AlertInstance>();
  for (let i = 0; i < groups.length; i += 5_000) {
    const ids = groups.slice(i, i + 5_000).map((group) => group.id);
    const rows = await db
      .selectFrom('alert_instances')
      .selectAll()
      .distinctOn('group_id')
      .where('group_id', '=', anyId(ids))
      .where('status', '=', 'firing')
      .orderBy('group_id')
      .orderBy('starts_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    for (const row of rows) byGroup.set(row.group_id, row);
  }
  return byGroup;
}

/**
 * `GET /api/v2/alerts/groups`: Alertmanager groups alerts by route and `group_by`; SentryHub's
 * rules have no `group_by`, so there is one group per receiver (rule) with empty group labels,
 * and one for the alerts no rule matches (receiver `""`, as no Alertmanager route has).
 */
export function groupByReceiver(
  alerts: readonly GettableAlert[],
  receiverFilter?: string,
): { labels: Record<string, string>; receiver: { name: string }; alerts: GettableAlert[] }[] {
  const regex = receiverFilter === undefined ? null : anchoredRegex(receiverFilter);
  const groups = new Map<string, GettableAlert[]>();
  for (const alert of alerts) {
    const names = alert.receivers.length > 0 ? alert.receivers.map((r) => r.name) : [''];
    for (const name of names) {
      if (regex && !regex.test(name)) continue;
      groups.set(name, [...(groups.get(name) ?? []), alert]);
    }
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, members]) => ({ labels: {}, receiver: { name }, alerts: members }));
}
