import type { AlertChange, AlertReceived, ChangeKind, NormalizedAlert } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance, Database, NewAlertInstance } from '@sentryhub/db';
import { groupAttributes, silenceState, type ActiveSilence } from '@sentryhub/rules';
import { sql, type Kysely, type Transaction } from 'kysely';

type Trx = Transaction<Database>;
type Applied = { group: AlertGroup; instance: AlertInstance; change: ChangeKind } | null;

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/** Silences active now: evaluated at processing time, so an expired one never suppresses. */
export async function activeSilences(db: Kysely<Database>, now: Date): Promise<ActiveSilence[]> {
  const rows = await db.selectFrom('silences').select(['id', 'matchers', 'starts_at', 'ends_at']).where('starts_at', '<=', now).where('ends_at', '>', now).execute();
  return rows.map((row) => ({ id: row.id, matchers: row.matchers, startsAt: row.starts_at, endsAt: row.ends_at }));
}

/** The group row, created if new, locked for this transaction. */
async function upsertGroup(trx: Trx, alert: NormalizedAlert, source: string, receivedAt: Date): Promise<AlertGroup> {
  const attributes = groupAttributes(alert.labels, source);
  const seenAt = alert.startsAt ? new Date(alert.startsAt) : receivedAt;
  return trx
    .insertInto('alert_groups')
    .values({
      fingerprint: alert.fingerprint,
      ...attributes,
      labels: JSON.stringify(alert.labels),
      current_status: 'resolved',
      firing_count: 0,
      first_occurrence: seenAt,
      last_occurrence: receivedAt,
    })
    .onConflict((oc) =>
      oc.column('fingerprint').doUpdateSet({
        labels: JSON.stringify(alert.labels),
        name: attributes.name,
        severity: attributes.severity,
        instance: attributes.instance,
        last_occurrence: sql<Date>`greatest(alert_groups.last_occurrence, excluded.last_occurrence)`,
        first_occurrence: sql<Date>`least(alert_groups.first_occurrence, excluded.first_occurrence)`,
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Open episodes, the one that starts at `startsAt`, and the latest one: all a decision needs. */
async function relevantInstances(trx: Trx, groupId: number, startsAt: Date | null): Promise<AlertInstance[]> {
  return trx
    .selectFrom('alert_instances')
    .selectAll()
    .where('group_id', '=', groupId)
    .where((eb) =>
      eb.or([
        eb('status', '=', 'firing'),
        ...(startsAt ? [eb('starts_at', '=', startsAt)] : []),
        eb('starts_at', '=', eb.selectFrom('alert_instances').select((s) => s.fn.max('starts_at').as('m')).where('group_id', '=', groupId)),
      ]),
    )
    .orderBy('starts_at', 'desc')
    .execute();
}

async function closeInstance(trx: Trx, id: number, endsAt: Date, resolutionType: 'normal' | 'inferred'): Promise<AlertInstance> {
  return trx
    .updateTable('alert_instances')
    .set({ status: 'resolved', ends_at: endsAt, resolution_type: resolutionType })
    .where('id', '=', id)
    .where('status', '=', 'firing')
    .returningAll()
    .executeTakeFirstOrThrow();
}

async function insertInstance(trx: Trx, values: NewAlertInstance): Promise<AlertInstance | undefined> {
  return trx.insertInto('alert_instances').values(values).onConflict((oc) => oc.columns(['group_id', 'starts_at']).doNothing()).returningAll().executeTakeFirst();
}

async function setGroupStatus(trx: Trx, group: AlertGroup, status: 'firing' | 'resolved', newEpisode: boolean): Promise<AlertGroup> {
  const becameFiring = status === 'firing' && group.current_status !== 'firing';
  return trx
    .updateTable('alert_groups')
    .set({
      current_status: status,
      firing_count: group.firing_count + (becameFiring ? 1 : 0),
      // A new episode needs a new acknowledgement.
      ...(newEpisode ? { acknowledged: false, acknowledged_by: null, acknowledged_at: null } : {}),
    })
    .where('id', '=', group.id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Firing (SPEC section 5): the same startsAt already known is no change (a duplicate, or an
 * old firing after its resolved: never re-opened); a firing older than the latest episode is
 * stale; otherwise open episodes are closed as inferred and a new one starts.
 */
async function applyFiring(trx: Trx, group: AlertGroup, alert: NormalizedAlert, receivedAt: Date): Promise<Applied> {
  const requested = alert.startsAt ? new Date(alert.startsAt) : null;
  const instances = await relevantInstances(trx, group.id, requested);
  const open = instances.filter((instance) => instance.status === 'firing');
  if (requested === null && open.length > 0) return null; // sender gave no startsAt: same episode
  const startsAt = requested ?? receivedAt;
  if (instances.some((instance) => instance.starts_at.getTime() === startsAt.getTime())) return null;
  const latest = instances[0];
  if (latest && latest.starts_at > startsAt) return null;

  for (const instance of open) await closeInstance(trx, instance.id, startsAt, 'inferred');
  const created = await insertInstance(trx, {
    group_id: group.id,
    status: 'firing',
    starts_at: startsAt,
    annotations: JSON.stringify(alert.annotations),
    generator_url: alert.generatorURL,
  });
  if (!created) return null;
  const updated = await setGroupStatus(trx, group, 'firing', true);
  return { group: updated, instance: created, change: latest ? 'refired' : 'created' };
}

/**
 * Resolved (SPEC section 5): a known resolved episode is no change; else the open episode with
 * the same startsAt closes (normal); else the latest open one closes (inferred), unless it
 * started after this event (then the event is history of an older episode); else a resolved
 * episode is recorded.
 */
async function applyResolved(trx: Trx, group: AlertGroup, alert: NormalizedAlert, receivedAt: Date): Promise<Applied> {
  const startsAt = alert.startsAt ? new Date(alert.startsAt) : null;
  const endsAt = alert.endsAt ? new Date(alert.endsAt) : receivedAt;
  const instances = await relevantInstances(trx, group.id, startsAt);
  const exact = startsAt ? instances.find((instance) => instance.starts_at.getTime() === startsAt.getTime()) : undefined;
  const open = instances.filter((instance) => instance.status === 'firing');

  let instance: AlertInstance | undefined;
  let announce = true;
  if (exact) {
    if (exact.status === 'resolved') return null;
    instance = await closeInstance(trx, exact.id, endsAt, 'normal');
  } else if (open[0] && (startsAt === null || open[0].starts_at <= startsAt)) {
    instance = await closeInstance(trx, open[0].id, endsAt, 'inferred');
  } else {
    // Resolved before (or without) its firing: recorded, so the late firing is not re-opened.
    announce = open.length === 0;
    instance = await insertInstance(trx, {
      group_id: group.id,
      status: 'resolved',
      starts_at: startsAt ?? endsAt,
      ends_at: endsAt,
      annotations: JSON.stringify(alert.annotations),
      generator_url: alert.generatorURL,
      resolution_type: 'normal',
    });
  }
  if (!instance) return null;
  const stillOpen = open.some((o) => o.id !== instance.id);
  const updated = await setGroupStatus(trx, group, stillOpen ? 'firing' : 'resolved', false);
  return announce ? { group: updated, instance, change: 'resolved' } : null;
}

function toChange(applied: NonNullable<Applied>, silences: readonly ActiveSilence[], now: Date): AlertChange {
  const { group, instance } = applied;
  const silence = silenceState(silences, group.labels, now);
  return {
    change: applied.change,
    group: {
      id: group.id,
      fingerprint: group.fingerprint,
      name: group.name,
      labels: group.labels,
      severity: group.severity as AlertChange['group']['severity'],
      instance: group.instance,
      source: group.source,
      status: group.current_status,
      firingCount: group.firing_count,
      silenced: silence.silenced,
      silencedUntil: iso(silence.until),
      acknowledged: group.acknowledged,
    },
    instance: {
      id: instance.id,
      status: instance.status,
      startsAt: instance.starts_at.toISOString(),
      endsAt: iso(instance.ends_at),
      annotations: instance.annotations,
      generatorURL: instance.generator_url,
      resolutionType: instance.resolution_type,
    },
  };
}

/**
 * Applies every alert of one message in one transaction. Alerts are taken in fingerprint
 * order so that two replicas lock groups in the same order and never deadlock.
 */
export async function applyAlertReceived(db: Kysely<Database>, message: AlertReceived, now = new Date()): Promise<AlertChange[]> {
  const receivedAt = new Date(message.receivedAt);
  const silences = await activeSilences(db, now);
  const alerts = [...message.alerts].sort((a, b) => (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0));
  return db.transaction().execute(async (trx) => {
    const changes: AlertChange[] = [];
    for (const alert of alerts) {
      const group = await upsertGroup(trx, alert, message.source, receivedAt);
      const applied = alert.status === 'firing' ? await applyFiring(trx, group, alert, receivedAt) : await applyResolved(trx, group, alert, receivedAt);
      if (applied) changes.push(toChange(applied, silences, now));
    }
    return changes;
  });
}
