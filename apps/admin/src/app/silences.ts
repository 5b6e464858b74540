import type { Database, Silence, SilenceMatcherRow } from '@sentryhub/db';
import type { Kysely } from 'kysely';
import type { AuditTrail } from './audit';

export function silenceStateAt(row: Pick<Silence, 'starts_at' | 'ends_at'>, now: Date): 'pending' | 'active' | 'expired' {
  if (now < row.starts_at) return 'pending';
  return now < row.ends_at ? 'active' : 'expired';
}

export function silenceView(row: Silence, now: Date) {
  return {
    id: row.id,
    matchers: row.matchers,
    startsAt: row.starts_at.toISOString(),
    endsAt: row.ends_at.toISOString(),
    createdBy: row.created_by,
    comment: row.comment,
    state: silenceStateAt(row, now),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** A silence as both APIs write it (`/api/v1/silences` and Alertmanager's `/api/v2/silences`). */
export interface SilenceInput {
  matchers: SilenceMatcherRow[];
  startsAt: string | Date;
  endsAt: string | Date;
  createdBy: string;
  comment: string;
}

/** Who writes, and the request id the audit event carries. */
export interface SilenceWriter {
  db: Kysely<Database>;
  audit: AuditTrail;
  actor: string;
  correlationId: string;
}

const silenceColumns = (input: SilenceInput) => ({
  matchers: JSON.stringify(input.matchers),
  starts_at: input.startsAt,
  ends_at: input.endsAt,
  created_by: input.createdBy,
  comment: input.comment,
});

/** Creates a silence and its `silence.create` audit row in one transaction; the event after commit. */
export async function createSilence(
  { db, audit, actor, correlationId }: SilenceWriter,
  input: SilenceInput,
  changes: Record<string, unknown> = { ...input },
): Promise<Silence> {
  const { row, event } = await db.transaction().execute(async (trx) => {
    const row = await trx.insertInto('silences').values(silenceColumns(input)).returningAll().executeTakeFirstOrThrow();
    return { row, event: await audit.record(trx, { actor, entity: 'silence', entityId: row.id, action: 'create', changes }) };
  });
  await audit.publish(event, correlationId);
  return row;
}

/** Rewrites a silence in place (`silence.update` audit row); null when there is no such silence. */
export async function updateSilence(
  { db, audit, actor, correlationId }: SilenceWriter,
  id: number,
  input: SilenceInput,
  changes: Record<string, unknown> = { ...input },
): Promise<Silence | null> {
  const result = await db.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable('silences')
      .set({ ...silenceColumns(input), updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? { row, event: await audit.record(trx, { actor, entity: 'silence', entityId: row.id, action: 'update', changes }) } : null;
  });
  if (!result) return null;
  await audit.publish(result.event, correlationId);
  return result.row;
}

/**
 * Expires a silence now, as Alertmanager does (`silence.expire` audit row): an active one ends
 * now, a pending one starts and ends now (a millisecond apart: a silence ends after it starts).
 * `not-found`, or `already-expired` for one that has ended: nothing is written then.
 */
export async function expireSilence(
  { db, audit, actor, correlationId }: SilenceWriter,
  id: number,
  now = new Date(),
): Promise<Silence | 'not-found' | 'already-expired'> {
  const result = await db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('silences').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
    if (!current) return 'not-found' as const;
    const state = silenceStateAt(current, now);
    if (state === 'expired') return 'already-expired' as const;
    const startsAt = current.starts_at.getTime() >= now.getTime() ? new Date(now.getTime() - 1) : current.starts_at;
    const row = await trx
      .updateTable('silences')
      .set({ starts_at: startsAt, ends_at: now, updated_at: now })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    const event = await audit.record(trx, {
      actor,
      entity: 'silence',
      entityId: row.id,
      action: 'expire',
      changes: { startsAt: startsAt.toISOString(), endsAt: now.toISOString(), previousEndsAt: current.ends_at.toISOString() },
    });
    return { row, event };
  });
  if (typeof result === 'string') return result;
  await audit.publish(result.event, correlationId);
  return result.row;
}
