import { ROUTING_KEYS, type AlertChange, type AlertProcessed, type NormalizedAlert } from '@sentryhub/contracts';
import { activeSilences, jsonArray, type AlertGroup, type AlertInstance, type Database } from '@sentryhub/db';
import { groupAttributes, silenceState, type ActiveSilence } from '@sentryhub/rules';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { OpenEpisodes } from './lease-renewal';
import { groupSnapshot, instanceSnapshot, iso } from './snapshot';
import { applyAlert, type GroupState, type InstanceState, type Transition } from './state-machine';

type Trx = Transaction<Database>;

/**
 * One alert of a batch, with where it came from. Its `fingerprint` keys its group: it must be the
 * fingerprint of its labels (handle-alert-batch computes it again from them, whatever the message said).
 */
export interface BatchAlert {
  alert: NormalizedAlert;
  source: string;
  receivedAt: Date;
  correlationId: string;
}

export interface OutboxEvent {
  messageId: string;
  routingKey: string;
  correlationId: string | null;
  payload: AlertProcessed;
  /** The payload serialised once: what the outbox row holds and what is published. */
  body: string;
  /**
   * The payload's changes, each serialised once, in order: `body` is made of them, and an event
   * too big for one message is cut along them without being parsed again.
   */
  changeBodies: readonly string[];
}

/** A change the state machine made to the group of `fingerprint`, with the correlation id its event carries. */
export interface MadeChange {
  fingerprint: string;
  transition: Transition;
  correlationId: string;
}

const byFingerprint = (a: BatchAlert, b: BatchAlert) => (a.alert.fingerprint < b.alert.fingerprint ? -1 : a.alert.fingerprint > b.alert.fingerprint ? 1 : 0);

/**
 * Every group of the batch in one statement, created when new, updated (labels, last
 * occurrence) when known, and locked for the transaction. Rows go in fingerprint order, so two
 * processors lock groups in the same order and never deadlock.
 */
async function upsertGroups(trx: Trx, alerts: readonly BatchAlert[]): Promise<Map<string, AlertGroup>> {
  const latest = new Map<string, BatchAlert & { firstSeen: Date; lastSeen: Date }>();
  for (const item of alerts) {
    const seen = item.alert.startsAt ? new Date(item.alert.startsAt) : item.receivedAt;
    const known = latest.get(item.alert.fingerprint);
    latest.set(item.alert.fingerprint, {
      ...item,
      firstSeen: known && known.firstSeen < seen ? known.firstSeen : seen,
      lastSeen: known && known.lastSeen > item.receivedAt ? known.lastSeen : item.receivedAt,
    });
  }
  const rows = [...latest.values()];
  const attributes = rows.map((row) => groupAttributes(row.alert.labels, row.source));
  const result = await sql<AlertGroup>`
    insert into alert_groups (fingerprint, name, labels, severity, instance, source, current_status, firing_count, first_occurrence, last_occurrence)
    select fingerprint, name, labels, severity, instance, source, 'resolved', 0, first_occurrence, last_occurrence
    from rows from (
      unnest(${rows.map((r) => r.alert.fingerprint)}::text[]), unnest(${attributes.map((a) => a.name)}::text[]),
      jsonb_array_elements(${jsonArray(rows.map((r) => r.alert.labels))}::jsonb), unnest(${attributes.map((a) => a.severity)}::text[]),
      unnest(${attributes.map((a) => a.instance)}::text[]), unnest(${attributes.map((a) => a.source)}::text[]),
      unnest(${rows.map((r) => r.firstSeen.toISOString())}::timestamptz[]), unnest(${rows.map((r) => r.lastSeen.toISOString())}::timestamptz[])
    ) as t(fingerprint, name, labels, severity, instance, source, first_occurrence, last_occurrence)
    on conflict (fingerprint) do update set
      labels = excluded.labels, name = excluded.name, severity = excluded.severity, instance = excluded.instance,
      last_occurrence = greatest(alert_groups.last_occurrence, excluded.last_occurrence),
      first_occurrence = least(alert_groups.first_occurrence, excluded.first_occurrence)
    returning *`.execute(trx);
  return new Map(result.rows.map((row) => [row.fingerprint, row]));
}

/**
 * The instances a decision needs: open ones, the latest one that has started by `now` (one that
 * claims a later start decides nothing, see the state machine), and those at an incoming startsAt.
 */
async function loadInstances(trx: Trx, groupIds: number[], pairs: { groupId: number; startsAt: string }[], now: Date): Promise<AlertInstance[]> {
  const result = await sql<AlertInstance>`
    select * from alert_instances where group_id = any(${groupIds}::bigint[]) and status = 'firing'
    union all
    select i.* from alert_instances i
      join unnest(${pairs.map((p) => p.groupId)}::bigint[], ${pairs.map((p) => p.startsAt)}::timestamptz[]) as k(group_id, starts_at)
      on i.group_id = k.group_id and i.starts_at = k.starts_at
    union all
    select l.* from unnest(${groupIds}::bigint[]) as g(id)
      cross join lateral (select * from alert_instances where group_id = g.id and starts_at <= ${now.toISOString()}::timestamptz order by starts_at desc limit 1) l`.execute(
    trx,
  );
  return [...new Map(result.rows.map((row) => [row.id, row])).values()];
}

/** A stored group, with the stored episodes given, as the state machine takes it. */
export function groupStateOf(row: AlertGroup, instances: readonly AlertInstance[]): GroupState {
  return {
    id: row.id,
    status: row.current_status,
    firingCount: row.firing_count,
    acknowledged: row.acknowledged,
    acknowledgedBy: row.acknowledged_by,
    acknowledgedAt: row.acknowledged_at,
    instances: instances.map(toInstanceState),
    dirty: false,
  };
}

export function toInstanceState(row: AlertInstance): InstanceState {
  return {
    id: row.id,
    status: row.status,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    annotations: row.annotations,
    generatorUrl: row.generator_url,
    resolutionType: row.resolution_type,
    intakeSource: row.intake_source,
    leaseEndsAt: row.lease_ends_at,
    stored: true,
    dirty: false,
  };
}

/**
 * Closes stored episodes, renews their leases, re-opens expired ones; the guard (`status =
 * 'firing'`, or an expired episode, which only a re-opening in this batch touches, whatever the
 * batch did with it next, such as closing it again for a newer episode) makes a lost race an
 * error, not a double close.
 */
async function updateInstances(trx: Trx, instances: InstanceState[]): Promise<void> {
  if (instances.length === 0) return;
  const result = await sql`
    update alert_instances i set status = u.status, ends_at = u.ends_at, resolution_type = u.resolution_type, lease_ends_at = u.lease_ends_at
    from unnest(${instances.map((i) => i.id)}::bigint[], ${instances.map((i) => i.status)}::text[],
                ${instances.map((i) => iso(i.endsAt))}::timestamptz[], ${instances.map((i) => i.resolutionType)}::text[],
                ${instances.map((i) => iso(i.leaseEndsAt ?? null))}::timestamptz[])
      as u(id, status, ends_at, resolution_type, lease_ends_at)
    where i.id = u.id and (i.status = 'firing' or i.resolution_type = 'expired')`.execute(trx);
  if (Number(result.numAffectedRows) !== instances.length) throw new Error('alert instances changed under the batch; retrying it');
}

/** Inserts new episodes in their final state of this batch and learns their ids. */
async function insertInstances(trx: Trx, entries: { groupId: number; instance: InstanceState }[]): Promise<void> {
  if (entries.length === 0) return;
  const result = await sql<{ id: number; group_id: number; starts_at: Date }>`
    insert into alert_instances (group_id, status, starts_at, ends_at, annotations, generator_url, resolution_type, intake_source, lease_ends_at)
    select group_id, status, starts_at, ends_at, annotations, generator_url, resolution_type, intake_source, lease_ends_at
    from rows from (
      unnest(${entries.map((e) => e.groupId)}::bigint[]), unnest(${entries.map((e) => e.instance.status)}::text[]),
      unnest(${entries.map((e) => e.instance.startsAt.toISOString())}::timestamptz[]), unnest(${entries.map((e) => iso(e.instance.endsAt))}::timestamptz[]),
      jsonb_array_elements(${jsonArray(entries.map((e) => e.instance.annotations))}::jsonb), unnest(${entries.map((e) => e.instance.generatorUrl)}::text[]),
      unnest(${entries.map((e) => e.instance.resolutionType)}::text[]), unnest(${entries.map((e) => e.instance.intakeSource)}::text[]),
      unnest(${entries.map((e) => iso(e.instance.leaseEndsAt ?? null))}::timestamptz[])
    ) as t(group_id, status, starts_at, ends_at, annotations, generator_url, resolution_type, intake_source, lease_ends_at)
    on conflict (group_id, starts_at) do nothing
    returning id, group_id, starts_at`.execute(trx);
  if (result.rows.length !== entries.length) throw new Error('alert instances appeared under the batch; retrying it');
  const ids = new Map(result.rows.map((row) => [`${row.group_id}@${row.starts_at.getTime()}`, row.id]));
  for (const entry of entries) entry.instance.id = ids.get(`${entry.groupId}@${entry.instance.startsAt.getTime()}`) ?? null;
}

async function updateGroups(trx: Trx, groups: GroupState[]): Promise<void> {
  if (groups.length === 0) return;
  await sql`
    update alert_groups g set current_status = u.status, firing_count = u.firing_count,
      acknowledged = u.acknowledged, acknowledged_by = u.acknowledged_by, acknowledged_at = u.acknowledged_at
    from unnest(${groups.map((g) => g.id)}::bigint[], ${groups.map((g) => g.status)}::text[], ${groups.map((g) => g.firingCount)}::int[],
                ${groups.map((g) => g.acknowledged)}::boolean[], ${groups.map((g) => g.acknowledgedBy)}::text[], ${groups.map((g) => iso(g.acknowledgedAt))}::timestamptz[])
      as u(id, status, firing_count, acknowledged, acknowledged_by, acknowledged_at)
    where g.id = u.id`.execute(trx);
}

function toChange(row: AlertGroup, made: Transition, correlationId: string, silences: readonly ActiveSilence[], now: Date): AlertChange {
  const { instance } = made;
  const id = instance.id;
  if (id === null) throw new Error('instance id unknown after insert');
  return {
    change: made.change,
    correlationId,
    group: groupSnapshot(row, silenceState(silences, row.labels, now), made.groupAt),
    instance: instanceSnapshot({ ...instance, ...made.instanceAt, id }),
  };
}

/** One `alert.processed.<status>` event per status that changed in the batch. */
function outboxEvents(batchId: string, changes: AlertChange[], processedAt: Date): OutboxEvent[] {
  const events: OutboxEvent[] = [];
  for (const status of ['firing', 'resolved'] as const) {
    const ofStatus = changes.filter((change) => change.instance.status === status);
    if (ofStatus.length === 0) continue;
    const messageId = `${batchId}:${status}`;
    const payload: AlertProcessed = { id: messageId, processedAt: processedAt.toISOString(), status, changes: ofStatus };
    const changeBodies = ofStatus.map((change) => JSON.stringify(change));
    events.push({
      messageId,
      routingKey: ROUTING_KEYS.alertProcessed(status),
      correlationId: ofStatus[0]?.correlationId ?? null,
      payload,
      // JSON.stringify(payload), its changes serialised once.
      body: `{"id":${JSON.stringify(messageId)},"processedAt":"${payload.processedAt}","status":"${status}","changes":[${changeBodies.join(',')}]}`,
      changeBodies,
    });
  }
  return events;
}

/**
 * Applies a batch of alerts in one transaction with set-based SQL: upsert and lock the groups,
 * load the instances that matter, run the state machine in memory, write back what changed,
 * and put the resulting events in the outbox, all or nothing. Given `open` (the episodes this
 * processor last stored as open, which renewLeases reads), it learns each group's open episode
 * once the batch is committed.
 */
export async function storeBatch(
  db: Kysely<Database>,
  batchId: string,
  alerts: readonly BatchAlert[],
  now = new Date(),
  open?: OpenEpisodes,
): Promise<OutboxEvent[]> {
  if (alerts.length === 0) return [];
  const ordered = [...alerts].sort(byFingerprint);
  const silences = await activeSilences(db, now);
  let groups = new Map<string, GroupState>();
  const events = await db.transaction().execute(async (trx) => {
    const rows = await upsertGroups(trx, ordered);
    groups = new Map<string, GroupState>();
    for (const [fingerprint, row] of rows) groups.set(fingerprint, groupStateOf(row, []));
    /** Every fingerprint of the batch was upserted just above, so each has its row and state. */
    const found = <V>(map: Map<string, V>, fingerprint: string): V => {
      const value = map.get(fingerprint);
      if (value === undefined) throw new Error(`group ${fingerprint} missing from its own batch`);
      return value;
    };
    const byId = new Map([...groups.values()].map((group) => [group.id, group]));
    // Millisecond precision, as episodes are stored: Alertmanager sends nanoseconds.
    const pairs = ordered.flatMap((item) =>
      item.alert.startsAt ? [{ groupId: found(rows, item.alert.fingerprint).id, startsAt: new Date(item.alert.startsAt).toISOString() }] : [],
    );
    for (const instance of await loadInstances(trx, [...byId.keys()], pairs, now)) byId.get(instance.group_id)?.instances.push(toInstanceState(instance));

    const made: MadeChange[] = [];
    for (const item of alerts) {
      const transition = applyAlert(found(groups, item.alert.fingerprint), item.alert, item.receivedAt, item.source, now);
      if (transition) made.push({ fingerprint: item.alert.fingerprint, transition, correlationId: item.correlationId });
    }

    return writeChanges(trx, batchId, [...groups.values()], rows, made, silences, now);
  });
  if (open) rememberOpenEpisodes(open, groups);
  return events;
}

/** After a commit: which episode of each group of the batch is open now, for the next renewal. */
function rememberOpenEpisodes(open: OpenEpisodes, groups: ReadonlyMap<string, GroupState>): void {
  for (const [fingerprint, group] of groups) {
    const episode = group.instances.find((instance) => instance.status === 'firing');
    if (episode) open.remember(fingerprint, episode.startsAt.getTime());
    else open.forget(fingerprint);
  }
}

/**
 * Writes back what the state machine changed in `groups` (episodes closed, renewed, re-opened or
 * new; group status) and puts the events of `made` in the outbox, in the caller's transaction.
 * The groups must be locked by it. Shared by a batch of alerts and by lease expiry.
 */
export async function writeChanges(
  trx: Trx,
  batchId: string,
  groups: readonly GroupState[],
  rows: ReadonlyMap<string, AlertGroup>,
  made: readonly MadeChange[],
  silences: readonly ActiveSilence[],
  now: Date,
): Promise<OutboxEvent[]> {
  const allInstances = groups.flatMap((group) => group.instances.map((instance) => ({ groupId: group.id, instance })));
  // Close first: one open episode per group is a unique index, checked on insert.
  await updateInstances(
    trx,
    allInstances.filter((e) => e.instance.dirty).map((e) => e.instance),
  );
  await insertInstances(
    trx,
    allInstances.filter((e) => !e.instance.stored),
  );
  await updateGroups(
    trx,
    groups.filter((group) => group.dirty),
  );

  const changes = made.map((m) => {
    const row = rows.get(m.fingerprint);
    if (!row) throw new Error(`group ${m.fingerprint} missing from its own batch`);
    return toChange(row, m.transition, m.correlationId, silences, now);
  });
  const events = outboxEvents(batchId, changes, now);
  if (events.length > 0) {
    await trx
      .insertInto('alert_outbox')
      .values(events.map((event) => ({ message_id: event.messageId, routing_key: event.routingKey, correlation_id: event.correlationId, payload: event.body })))
      .execute();
  }
  return events;
}
