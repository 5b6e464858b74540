import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { anyId } from '../prepared-statements';
import type { Database, Notification } from '../schema';

/**
 * The `notifications` rows of a notifier (Slack, webhooks): exactly one row per (instance,
 * rule, kind), created `pending` before anything is sent, and claimed with FOR UPDATE SKIP
 * LOCKED for the send, so that two copies of an event (redelivery, two replicas) send once.
 * A Slack row names its rule in `rule_id`, a webhook row in `webhook_rule_id`.
 */
export type Notifier = 'slack' | 'webhook';

/**
 * The alert instance joined as `alias` still fires: not resolved, and its group's newest episode
 * (an older one never fires again). What a grouped rule's repeat tells again, in every notifier.
 */
export function stillFiring(alias: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`${sql.ref(`${alias}.status`)} = 'firing' and not exists (select 1 from alert_instances as newer where newer.group_id = ${sql.ref(`${alias}.group_id`)} and newer.id > ${sql.ref(`${alias}.id`)})`;
}

/** `repeat` rows carry their number in `sequence`; `escalation` rows name the rule escalated to. */
export type NotificationKind = 'firing' | 'resolved' | 'repeat' | 'escalation';

/** What identifies a notification: it is delivered at most once per (instance, rule, kind). */
export interface NotificationKey {
  instanceId: number;
  ruleId: number;
  kind: NotificationKind;
  /** The repeat's number (1, 2, ...); 0 or absent for every other kind. */
  sequence?: number;
}

export interface NotificationDraft extends NotificationKey {
  groupId: number;
  channel: string;
  text: string;
  /** A grouped rule's group: the row waits for the group's next message instead of going out alone. */
  groupKey?: string | null;
}

/** How a delivery attempt leaves a row. */
export interface AttemptRecord {
  status: 'pending' | 'sent' | 'failed';
  lastError: string | null;
  /** Where a sent message went: Slack through the proxy, the log (the Slack sink), a webhook receiver. */
  deliveredVia?: 'slack' | 'sink' | 'webhook';
}

/** The digest a row went out in, when it went out with others. */
export interface DigestRef {
  id: string;
  size: number;
}

export interface BatchAttempt<T> {
  /** One record per row the attempt was given, by notification id. */
  records: Map<number, AttemptRecord>;
  digest: DigestRef | null;
  result: T;
}

export interface ClaimedBatch<T> {
  /** Every row of the ids that no other consumer held, as it was before the attempt. */
  locked: Notification[];
  /** The rows that were pending and attempted, as the attempt left them. */
  attempted: Notification[];
  /** The attempt's result, or null when no row was pending. */
  result: T | null;
}

/** The columns an attempt changes, for the one-statement update of a batch. */
const updateOf = (row: Notification) => ({
  id: row.id,
  status: row.status,
  attempts: row.attempts,
  last_error: row.last_error,
  updated_at: row.updated_at,
  sent_at: row.sent_at,
  delivered_via: row.delivered_via,
  digest_id: row.digest_id,
  digest_size: row.digest_size,
});

/** The unique index `notifications_once_per_instance_rule_kind` as an ON CONFLICT target. */
const ONCE_PER_INSTANCE_RULE_KIND = sql`instance_id, notifier, coalesce(rule_id, 0), coalesce(webhook_rule_id, 0), kind, sequence`;

/** At most this many drafts in one INSERT: a turn's drafts past it go in the next one. */
const MAX_DRAFTS_PER_INSERT = 500;

interface QueuedDraft {
  draft: NotificationDraft;
  resolve: (value: { created: boolean; row: Notification }) => void;
  reject: (error: unknown) => void;
}

/** A notification's identity, as the unique index sees it. */
const draftKey = (draft: NotificationKey) => `${draft.instanceId}/${draft.ruleId}/${draft.kind}/${draft.sequence ?? 0}`;

export interface NotificationRepoOptions {
  /** Whose rows: `slack` (the default) or `webhook`. */
  notifier?: Notifier;
}

export function notificationRepo(db: Kysely<Database>, options: NotificationRepoOptions = {}) {
  const notifier: Notifier = options.notifier ?? 'slack';
  const ruleColumn = notifier === 'slack' ? 'rule_id' : 'webhook_rule_id';
  const ruleOf = (row: Notification) => (notifier === 'slack' ? row.rule_id : row.webhook_rule_id);
  const rowKey = (row: Notification) => `${row.instance_id}/${ruleOf(row) ?? 0}/${row.kind}/${row.sequence}`;
  /** The columns of a new row that name the notifier and the rule. */
  const ruleColumns = (ruleId: number) => (notifier === 'slack' ? { notifier, rule_id: ruleId } : { notifier, rule_id: null, webhook_rule_id: ruleId });

  /** The new row, or undefined when the notification already has one. */
  const insert = (
    draft: NotificationDraft,
    status: 'pending' | 'suppressed' | 'inhibited',
    extra: { inhibited_by_group_id?: number; last_error?: string } = {},
  ): Promise<Notification | undefined> =>
    db
      .insertInto('notifications')
      .values({
        ...extra,
        channel: draft.channel,
        ...ruleColumns(draft.ruleId),
        group_id: draft.groupId,
        instance_id: draft.instanceId,
        kind: draft.kind,
        sequence: draft.sequence ?? 0,
        status,
        text: draft.text,
        updated_at: new Date(),
      })
      .onConflict((oc) => oc.expression(ONCE_PER_INSTANCE_RULE_KIND).doNothing())
      .returningAll()
      .executeTakeFirst();

  let queued: QueuedDraft[] = [];
  const flushQueued = () => {
    const batch = queued;
    queued = [];
    if (batch.length > 0) void ensurePendingAll(batch);
  };

  /** One INSERT for every draft (in key order: two replicas never lock each other's keys crosswise), one SELECT for those that existed. */
  async function ensurePendingAll(batch: QueuedDraft[]): Promise<void> {
    try {
      // Each key made once (a comparator that builds both keys makes two strings a comparison).
      const drafts = batch
        .map((item) => ({ draft: item.draft, key: draftKey(item.draft) }))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
        .map(({ draft }) => draft);
      // One array parameter a column (unnest), not a parameter a value: nothing to compile per
      // row here, nothing to parse per value in PostgreSQL.
      const ruleIds = sql`${drafts.map((draft) => draft.ruleId)}::bigint[]`;
      const { rows: inserted } = await sql<Notification>`
        insert into notifications (channel, notifier, rule_id, webhook_rule_id, group_id, instance_id, kind, sequence, group_key, status, text, updated_at)
        select d.channel, ${notifier}, d.slack_rule_id, d.webhook_rule_id, d.group_id, d.instance_id, d.kind, d.sequence, d.group_key, 'pending', d.text, ${new Date()}
        from unnest(${drafts.map((draft) => draft.channel)}::text[],
                    ${notifier === 'slack' ? ruleIds : sql`array_fill(null::bigint, array[${drafts.length}::int])`},
                    ${notifier === 'slack' ? sql`array_fill(null::bigint, array[${drafts.length}::int])` : ruleIds},
                    ${drafts.map((draft) => draft.groupId)}::bigint[], ${drafts.map((draft) => draft.instanceId)}::bigint[],
                    ${drafts.map((draft) => draft.kind)}::text[], ${drafts.map((draft) => draft.sequence ?? 0)}::int[],
                    ${drafts.map((draft) => draft.groupKey ?? null)}::text[], ${drafts.map((draft) => draft.text)}::text[])
          as d(channel, slack_rule_id, webhook_rule_id, group_id, instance_id, kind, sequence, group_key, text)
        on conflict (${ONCE_PER_INSTANCE_RULE_KIND}) do nothing
        returning *`.execute(db);
      const created = new Map(inserted.map((row) => [rowKey(row), row]));
      const missing = drafts.filter((draft) => !created.has(draftKey(draft)));
      const existing = new Map<string, Notification>();
      if (missing.length > 0) {
        const rows = await db
          .selectFrom('notifications')
          .selectAll()
          .where('notifier', '=', notifier)
          .where((eb) =>
            eb.or(
              missing.map((draft) =>
                eb.and([
                  eb('instance_id', '=', draft.instanceId),
                  eb(ruleColumn, '=', draft.ruleId),
                  eb('kind', '=', draft.kind),
                  eb('sequence', '=', draft.sequence ?? 0),
                ]),
              ),
            ),
          )
          .execute();
        for (const row of rows) existing.set(rowKey(row), row);
      }
      // Two copies of one change in the same turn: the first one created the row, the other found it.
      const handedOut = new Set<string>();
      for (const item of batch) {
        const key = draftKey(item.draft);
        const fresh = created.get(key);
        if (fresh && !handedOut.has(key)) {
          handedOut.add(key);
          item.resolve({ created: true, row: fresh });
          continue;
        }
        const row = fresh ?? existing.get(key);
        if (row) item.resolve({ created: false, row });
        else item.reject(new Error(`notification ${key} was neither created nor found`));
      }
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }

  return {
    /** Records a notification that silence kept from being sent; false if one already exists. */
    recordSuppressed: async (draft: NotificationDraft): Promise<boolean> => (await insert(draft, 'suppressed')) !== undefined,

    /** Records a notification that an inhibition held back, naming its source; false if one already exists. */
    recordInhibited: async (draft: NotificationDraft, sourceGroupId: number, reason: string): Promise<boolean> =>
      (await insert(draft, 'inhibited', { inhibited_by_group_id: sourceGroupId, last_error: reason })) !== undefined,

    /**
     * Creates the `pending` row, committed at once, or finds the row an earlier delivery of the
     * event created (which may be settled, or pending after a crash: then it is sent as it was
     * recorded). `created` says which. The calls of one event-loop turn share one INSERT (and
     * one SELECT for the rows that existed): an event's changes cost two statements, not one
     * or two per change.
     */
    ensurePending(draft: NotificationDraft): Promise<{ created: boolean; row: Notification }> {
      return new Promise((resolve, reject) => {
        queued.push({ draft, resolve, reject });
        if (queued.length >= MAX_DRAFTS_PER_INSERT) flushQueued();
        else if (queued.length === 1) setImmediate(flushQueued);
      });
    },

    /**
     * A held-back firing (`suppressed` or `inhibited`) whose silence or inhibition no longer
     * holds: its row becomes `pending`, to be delivered as any other (exactly once); with a
     * `groupKey` (a grouped rule) it waits in that group for its next message. Returns the row
     * as it is now (already pending or settled when an earlier try got this far), or undefined
     * when the firing has no row under this rule.
     */
    async releaseHeld(instanceId: number, ruleId: number, groupKey: string | null = null): Promise<Notification | undefined> {
      const released = await db
        .updateTable('notifications')
        .set({ status: 'pending', last_error: null, inhibited_by_group_id: null, group_key: groupKey, updated_at: new Date() })
        .where('instance_id', '=', instanceId)
        .where('notifier', '=', notifier)
        .where(ruleColumn, '=', ruleId)
        .where('kind', '=', 'firing')
        .where('sequence', '=', 0)
        .where('status', 'in', ['suppressed', 'inhibited'])
        .returningAll()
        .executeTakeFirst();
      if (released) return released;
      return db
        .selectFrom('notifications')
        .selectAll()
        .where('instance_id', '=', instanceId)
        .where('notifier', '=', notifier)
        .where(ruleColumn, '=', ruleId)
        .where('kind', '=', 'firing')
        .where('sequence', '=', 0)
        .executeTakeFirst();
    },

    /**
     * The pending rows waiting in a group of a grouped rule, oldest first (at most `limit`):
     * `changes`, what fired and resolved since the group's last message (its flush), or `repeats`,
     * the group's repeat rows (its repeat timer).
     */
    async pendingInGroup(ruleId: number, groupKey: string, limit: number, rows: 'changes' | 'repeats' = 'changes'): Promise<Notification[]> {
      return db
        .selectFrom('notifications')
        .selectAll()
        .where('notifier', '=', notifier)
        .where(sql<number>`coalesce(rule_id, webhook_rule_id)`, '=', ruleId)
        .where('group_key', '=', groupKey)
        .where('status', '=', 'pending')
        .where('kind', rows === 'repeats' ? '=' : '<>', 'repeat')
        .orderBy('id')
        .limit(limit)
        .execute();
    },

    /**
     * The instances whose firing this grouped rule told in the group and that still fire (the
     * group's newest episode, not resolved), oldest first, at most `limit`: what the group's
     * repeat tells again.
     */
    async firingsToldInGroup(ruleId: number, groupKey: string, limit: number): Promise<number[]> {
      const rows = await db
        .selectFrom('notifications as n')
        .innerJoin('alert_instances as i', 'i.id', 'n.instance_id')
        .select('n.instance_id')
        .where('n.notifier', '=', notifier)
        .where(sql<number>`coalesce(n.rule_id, n.webhook_rule_id)`, '=', ruleId)
        .where('n.group_key', '=', groupKey)
        .where('n.kind', '=', 'firing')
        .where('n.status', '=', 'sent')
        .where(stillFiring('i'))
        .orderBy('n.instance_id')
        .limit(limit)
        .execute();
      return rows.map((row) => row.instance_id);
    },

    /** Whether the firing of this instance was delivered under this rule. */
    async firingWasSent(instanceId: number, ruleId: number): Promise<boolean> {
      const row = await db
        .selectFrom('notifications')
        .select('id')
        .where('instance_id', '=', instanceId)
        .where('notifier', '=', notifier)
        .where(ruleColumn, '=', ruleId)
        .where('kind', '=', 'firing')
        .where('status', '=', 'sent')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Records as sent, without sending again, rows that Slack accepted while the database
     * could not record it; returns the ids that were still pending (the others were settled
     * meanwhile, by another consumer).
     */
    async markSent(ids: readonly number[], deliveredVia: 'slack' | 'sink' | 'webhook'): Promise<number[]> {
      if (ids.length === 0) return [];
      const now = new Date();
      const rows = await db
        .updateTable('notifications')
        .set((eb) => ({ status: 'sent', attempts: eb('attempts', '+', 1), last_error: null, sent_at: now, updated_at: now, delivered_via: deliveredVia }))
        .where('id', '=', anyId(ids))
        .where('status', '=', 'pending')
        .returning('id')
        .execute();
      return rows.map((row) => row.id);
    },

    /**
     * Locks the rows of `ids` that no other consumer holds (skipping those it does), runs one
     * attempt with the ones still `pending`, and stores each row's record in the same
     * transaction. The lock is what makes two concurrent deliveries of one notification (two
     * copies of an event, two replicas) send it once.
     */
    async claimPending<T>(ids: readonly number[], attempt: (pending: Notification[]) => Promise<BatchAttempt<T>>): Promise<ClaimedBatch<T>> {
      if (ids.length === 0) return { locked: [], attempted: [], result: null };
      return db.transaction().execute(async (trx): Promise<ClaimedBatch<T>> => {
        const locked = await trx.selectFrom('notifications').selectAll().where('id', '=', anyId(ids)).orderBy('id').forUpdate().skipLocked().execute();
        const order = new Map(ids.map((id, index) => [id, index]));
        const pending = locked.filter((row) => row.status === 'pending').sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
        if (pending.length === 0) return { locked, attempted: [], result: null };
        const { records, digest, result } = await attempt(pending);
        const now = new Date();
        const attempted: Notification[] = [];
        for (const row of pending) {
          const record = records.get(row.id);
          if (!record) throw new Error(`the attempt recorded nothing for notification ${row.id}`);
          attempted.push({
            ...row,
            status: record.status,
            attempts: row.attempts + 1,
            last_error: record.lastError ?? row.last_error,
            updated_at: now,
            sent_at: record.status === 'sent' ? now : row.sent_at,
            delivered_via: record.deliveredVia ?? row.delivered_via,
            // They describe the message of the last attempt: a retry sent alone is not a digest.
            digest_id: digest?.id ?? null,
            digest_size: digest?.size ?? null,
          });
        }
        // One statement for all rows: a digest of hundreds costs one round trip.
        await sql`
          update notifications as n set
            status = v.status, attempts = v.attempts, last_error = v.last_error, updated_at = v.updated_at,
            sent_at = v.sent_at, digest_id = v.digest_id, digest_size = v.digest_size, delivered_via = v.delivered_via
          from jsonb_to_recordset(${JSON.stringify(attempted.map(updateOf))}::jsonb) as v(
            id bigint, status text, attempts int, last_error text, updated_at timestamptz,
            sent_at timestamptz, digest_id uuid, digest_size int, delivered_via text)
          where n.id = v.id`.execute(trx);
        return { locked, attempted, result };
      });
    },
  };
}

export type NotificationRepo = ReturnType<typeof notificationRepo>;
