import type { Database, Notification } from '@sentryhub/db';
import { sql, type Kysely } from 'kysely';

export type NotificationKind = 'firing' | 'resolved';

/** What identifies a notification: it is delivered at most once per (instance, rule, kind). */
export interface NotificationKey {
  instanceId: number;
  ruleId: number;
  kind: NotificationKind;
}

export interface NotificationDraft extends NotificationKey {
  groupId: number;
  channel: string;
  text: string;
}

/** How a delivery attempt leaves its row. */
export interface AttemptRecord {
  status: 'pending' | 'sent' | 'failed';
  lastError: string | null;
}

export type ClaimResult<T> =
  /** Another consumer holds the row right now: it finishes it, or its message comes back. */
  | { state: 'busy' }
  /** Already settled (sent, failed or suppressed) by an earlier delivery of the event. */
  | { state: 'settled'; row: Notification }
  | { state: 'attempted'; row: Notification; result: T };

/** The unique index `notifications_once_per_instance_rule_kind` as an ON CONFLICT target. */
const ONCE_PER_INSTANCE_RULE_KIND = sql`instance_id, coalesce(rule_id, 0), kind`;

export function notificationRepo(db: Kysely<Database>) {
  const insert = async (draft: NotificationDraft, status: 'pending' | 'suppressed'): Promise<boolean> => {
    const inserted = await db
      .insertInto('notifications')
      .values({
        channel: draft.channel,
        rule_id: draft.ruleId,
        group_id: draft.groupId,
        instance_id: draft.instanceId,
        kind: draft.kind,
        status,
        text: draft.text,
        updated_at: new Date(),
      })
      .onConflict((oc) => oc.expression(ONCE_PER_INSTANCE_RULE_KIND).doNothing())
      .returning('id')
      .executeTakeFirst();
    return inserted !== undefined;
  };

  return {
    /** Records a notification that silence kept from being sent; false if one already exists. */
    recordSuppressed: (draft: NotificationDraft) => insert(draft, 'suppressed'),

    /** Creates the `pending` row, committed at once; false when the row already exists. */
    ensurePending: (draft: NotificationDraft) => insert(draft, 'pending'),

    /** Whether the firing of this instance was delivered under this rule. */
    async firingWasSent(instanceId: number, ruleId: number): Promise<boolean> {
      const row = await db
        .selectFrom('notifications')
        .select('id')
        .where('instance_id', '=', instanceId)
        .where('rule_id', '=', ruleId)
        .where('kind', '=', 'firing')
        .where('status', '=', 'sent')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Locks the row (skipping it when another consumer holds it), and when it is still
     * `pending` runs one attempt and stores its outcome in the same transaction. The lock is
     * what makes two concurrent deliveries of one event send once.
     */
    async attemptPending<T>(key: NotificationKey, attempt: (row: Notification) => Promise<{ record: AttemptRecord; result: T }>): Promise<ClaimResult<T>> {
      return db.transaction().execute(async (trx): Promise<ClaimResult<T>> => {
        const row = await trx
          .selectFrom('notifications')
          .selectAll()
          .where('instance_id', '=', key.instanceId)
          .where('rule_id', '=', key.ruleId)
          .where('kind', '=', key.kind)
          .forUpdate()
          .skipLocked()
          .executeTakeFirst();
        if (!row) return { state: 'busy' };
        if (row.status !== 'pending') return { state: 'settled', row };
        const { record, result } = await attempt(row);
        const now = new Date();
        const updated = await trx
          .updateTable('notifications')
          .set({
            status: record.status,
            attempts: row.attempts + 1,
            last_error: record.lastError ?? row.last_error,
            updated_at: now,
            ...(record.status === 'sent' ? { sent_at: now } : {}),
          })
          .where('id', '=', row.id)
          .returningAll()
          .executeTakeFirstOrThrow();
        return { state: 'attempted', row: updated, result };
      });
    },
  };
}

export type NotificationRepo = ReturnType<typeof notificationRepo>;
