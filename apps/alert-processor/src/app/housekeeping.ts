import { deleteInBatches, type Database } from '@sentryhub/db';
import type { Logger } from '@sentryhub/service-runtime';
import { sql, type Kysely } from 'kysely';
import type { RetentionPolicy } from './retention';

const DAY_MS = 86_400_000;

export interface RetentionRun {
  notifications: number;
  auditLog: number;
  alertInstances: number;
  alertGroups: number;
}

/**
 * One pass of retention, children before parents so that nothing younger than its own
 * retention goes with a parent through `on delete cascade`:
 * 1. notifications older than RETENTION_NOTIFICATIONS_DAYS, except those of an episode still
 *    firing (its resolved notification is yet to come);
 * 2. audit_log older than RETENTION_AUDIT_LOG_DAYS;
 * 3. resolved episodes that ended before RETENTION_RESOLVED_ALERTS_DAYS and that no
 *    notification or email row refers to any more;
 * 4. groups that are resolved, last seen before that cutoff, and have no episode, notification
 *    or email row left (their comments and acknowledgements go with them).
 * Each step deletes in batches with `for update skip locked` (deleteInBatches): replicas running
 * it at the same time share the rows, and a group the processor is writing is left for later.
 */
export async function applyRetention(db: Kysely<Database>, policy: RetentionPolicy, now = new Date(), stopped?: () => boolean): Promise<RetentionRun> {
  const cutoff = (days: number) => new Date(now.getTime() - days * DAY_MS);
  const common = { batchSize: policy.batchSize, ...(stopped ? { stopped } : {}) };
  const run: RetentionRun = { notifications: 0, auditLog: 0, alertInstances: 0, alertGroups: 0 };

  if (policy.notificationsDays > 0) {
    run.notifications = await deleteInBatches(db, {
      ...common,
      table: 'notifications',
      where: sql`notifications.created_at < ${cutoff(policy.notificationsDays)}
        and not exists (select 1 from alert_instances i where i.id = notifications.instance_id and i.status = 'firing')`,
    });
  }
  if (policy.auditLogDays > 0 && !stopped?.()) {
    run.auditLog = await deleteInBatches(db, { ...common, table: 'audit_log', where: sql`audit_log.at < ${cutoff(policy.auditLogDays)}` });
  }
  if (policy.resolvedAlertsDays > 0 && !stopped?.()) {
    const before = cutoff(policy.resolvedAlertsDays);
    run.alertInstances = await deleteInBatches(db, {
      ...common,
      table: 'alert_instances',
      where: sql`alert_instances.status = 'resolved'
        and coalesce(alert_instances.ends_at, alert_instances.created_at) < ${before}
        and not exists (select 1 from notifications n where n.instance_id = alert_instances.id)
        and not exists (select 1 from email_queue e where e.instance_id = alert_instances.id)`,
    });
    if (!stopped?.()) {
      run.alertGroups = await deleteInBatches(db, {
        ...common,
        table: 'alert_groups',
        where: sql`alert_groups.current_status = 'resolved'
          and alert_groups.last_occurrence < ${before}
          and not exists (select 1 from alert_instances i where i.group_id = alert_groups.id)
          and not exists (select 1 from notifications n where n.group_id = alert_groups.id)
          and not exists (select 1 from email_queue e where e.group_id = alert_groups.id)`,
      });
    }
  }
  return run;
}

/**
 * Runs applyRetention now and then every `intervalMs` (one pass at a time); a failure is
 * logged and the next pass tries again. The returned function stops it and waits for the pass
 * in progress to finish its current batch.
 */
export function startHousekeeping(db: Kysely<Database>, policy: RetentionPolicy, logger: Logger, intervalMs: number): () => Promise<void> {
  let stopped = false;
  let busy = false;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    const started = Date.now();
    try {
      const run = await applyRetention(db, policy, new Date(), () => stopped);
      const deleted = run.notifications + run.auditLog + run.alertInstances + run.alertGroups;
      if (deleted > 0) logger.info({ ...run, durationMs: Date.now() - started, policy }, 'retention: deleted rows past their retention');
    } catch (error) {
      logger.warn({ err: error }, 'retention pass failed; the next one tries again');
    }
  };
  // A pass that outlasts the interval is not queued behind: the next tick after it does the rest.
  const tick = () => {
    if (busy || stopped) return;
    busy = true;
    running = pass().finally(() => {
      busy = false;
    });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
