import { anyId, deleteInBatches, stillFiring, type Database, type EmailQueueRow } from '@sentryhub/db';
import { sql, type Kysely } from 'kysely';

export interface QueuedEmail {
  ruleId: number;
  groupId: number;
  instanceId: number;
  /** `repeat`: the n-th repeat of a firing (`sequence`); `escalation`: under the rule escalated to. */
  kind: 'firing' | 'resolved' | 'repeat' | 'escalation';
  /** The repeat's number (1, 2, ...); 0 or absent for every other kind. */
  sequence?: number;
  recipients: string[];
  subject: string;
  text: string;
  html: string;
  /** A grouped rule's alert email: it waits (`grouped`) for its group's email instead of going out. */
  groupKey?: string | null;
}

/**
 * The `email_queue` rows: pending -> processing -> completed | failed; `inhibited` waits for its
 * inhibition to end; `grouped` (a grouped rule's alert email) waits for its group's email, which
 * `flushGroup` makes of the group's waiting rows.
 */
export function emailQueue(db: Kysely<Database>) {
  return {
    /** One row per (instance, rule, kind), whatever the redeliveries: true when this call created it. */
    async enqueue(email: QueuedEmail): Promise<boolean> {
      const result = await sql`
        insert into email_queue (rule_id, group_id, instance_id, kind, sequence, recipients, subject, body_text, body_html, status, group_key)
        values (${email.ruleId}, ${email.groupId}, ${email.instanceId}, ${email.kind}, ${email.sequence ?? 0}, ${email.recipients}::text[], ${email.subject}, ${email.text}, ${email.html},
          ${email.groupKey ? 'grouped' : 'pending'}, ${email.groupKey ?? null})
        on conflict (instance_id, coalesce(rule_id, 0), kind, sequence) where instance_id is not null do nothing`.execute(db);
      return Number(result.numAffectedRows ?? 0) > 0;
    },

    /**
     * An inhibited firing email whose inhibition no longer holds becomes `pending` (due now), or,
     * with a `groupKey` (a grouped rule), `grouped`: it waits for its group's next email; true
     * when there was one to release.
     */
    async releaseInhibited(instanceId: number, ruleId: number, groupKey: string | null = null): Promise<boolean> {
      const result = await db
        .updateTable('email_queue')
        .set({
          status: groupKey === null ? 'pending' : 'grouped',
          group_key: groupKey,
          last_error: null,
          inhibited_by_group_id: null,
          next_attempt_at: new Date(),
          updated_at: new Date(),
        })
        .where('instance_id', '=', instanceId)
        .where('rule_id', '=', ruleId)
        .where('kind', '=', 'firing')
        .where('sequence', '=', 0)
        .where('status', '=', 'inhibited')
        .executeTakeFirst();
      return Number(result.numUpdatedRows) > 0;
    },

    /**
     * A group's email: locks the group's waiting rows (at most `limit`, oldest first; FOR UPDATE
     * SKIP LOCKED), lets `compose` make one email of them, and in the same transaction queues it
     * (`pending`, kind `group`, the group's key) and marks them `completed` with its id: two
     * replicas, or a crash at any point, neither lose nor double a group's email. Null when no
     * row waits (or another replica holds them). `changes`: what fired and resolved since the
     * group's last email (its flush); `repeats`: the group's repeat rows (its repeat timer).
     */
    async flushGroup(
      ruleId: number,
      groupKey: string,
      limit: number,
      compose: (rows: EmailQueueRow[]) => Promise<{ recipients: string[]; subject: string; text: string; html: string }>,
      which: 'changes' | 'repeats' = 'changes',
    ): Promise<{ emailId: number; rows: EmailQueueRow[] } | null> {
      return db.transaction().execute(async (trx) => {
        const rows = await trx
          .selectFrom('email_queue')
          .selectAll()
          .where('rule_id', '=', ruleId)
          .where('group_key', '=', groupKey)
          .where('status', '=', 'grouped')
          .where('kind', which === 'repeats' ? '=' : '<>', 'repeat')
          .orderBy('id')
          .limit(limit)
          .forUpdate()
          .skipLocked()
          .execute();
        if (rows.length === 0) return null;
        const email = await compose(rows);
        const { id } = await trx
          .insertInto('email_queue')
          .values({
            rule_id: ruleId,
            group_id: null,
            instance_id: null,
            kind: 'group',
            recipients: email.recipients,
            subject: email.subject,
            body_text: email.text,
            body_html: email.html,
            status: 'pending',
            group_key: groupKey,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx
          .updateTable('email_queue')
          .set({ status: 'completed', group_email_id: id, updated_at: new Date() })
          .where('id', '=', anyId(rows.map((row) => row.id)))
          .execute();
        return { emailId: id, rows };
      });
    },

    /**
     * The instances whose firing this grouped rule put in one of the group's emails and that
     * still fire (the group's newest episode, not resolved), oldest first, at most `limit`: what
     * the group's repeat tells again.
     */
    async firingsToldInGroup(ruleId: number, groupKey: string, limit: number): Promise<number[]> {
      const rows = await db
        .selectFrom('email_queue as e')
        .innerJoin('alert_instances as i', 'i.id', 'e.instance_id')
        .select('i.id')
        .where('e.rule_id', '=', ruleId)
        .where('e.group_key', '=', groupKey)
        .where('e.kind', '=', 'firing')
        .where('e.status', '=', 'completed')
        .where(stillFiring('i'))
        .orderBy('i.id')
        .limit(limit)
        .execute();
      return rows.map((row) => row.id);
    },

    /** Whether the firing email of this episode went out (its resolved is then always sent). */
    async firingWasSent(instanceId: number, ruleId: number): Promise<boolean> {
      const row = await db
        .selectFrom('email_queue')
        .select('id')
        .where('instance_id', '=', instanceId)
        .where('rule_id', '=', ruleId)
        .where('kind', '=', 'firing')
        .where('status', '=', 'completed')
        .executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Claims due rows for this sender: pending ones whose time has come, and processing ones
     * whose claim is older than the lease (their sender died). SKIP LOCKED lets replicas share.
     */
    async claimDue(limit: number, leaseMs: number): Promise<EmailQueueRow[]> {
      const result = await sql<EmailQueueRow>`
        update email_queue set status = 'processing', claimed_at = now(), attempts = attempts + 1, updated_at = now()
        where id in (
          select id from email_queue
          where (status = 'pending' and next_attempt_at <= now())
             or (status = 'processing' and claimed_at < now() - make_interval(secs => ${leaseMs / 1000}))
          order by id limit ${limit} for update skip locked)
        returning *`.execute(db);
      return result.rows;
    },

    async completed(id: number): Promise<void> {
      await db
        .updateTable('email_queue')
        .set({ status: 'completed', sent_at: new Date(), last_error: null, claimed_at: null, updated_at: new Date() })
        .where('id', '=', id)
        .execute();
    },

    /** A failed attempt: tried again after `retryInMs`, or failed for good when `retryInMs` is null. */
    async attemptFailed(id: number, error: string, retryInMs: number | null): Promise<void> {
      await db
        .updateTable('email_queue')
        .set(
          retryInMs === null
            ? { status: 'failed', last_error: error, claimed_at: null, updated_at: new Date() }
            : { status: 'pending', last_error: error, claimed_at: null, next_attempt_at: new Date(Date.now() + retryInMs), updated_at: new Date() },
        )
        .where('id', '=', id)
        .execute();
    },

    /**
     * Housekeeping: completed rows older than the retention go, in batches that several
     * replicas can run at once (deleteInBatches); failed ones stay until requeued or deleted.
     */
    async deleteCompletedBefore(cutoff: Date): Promise<number> {
      return deleteInBatches(db, { table: 'email_queue', where: sql`email_queue.status = 'completed' and email_queue.updated_at < ${cutoff}` });
    },
  };
}
export type EmailQueue = ReturnType<typeof emailQueue>;
