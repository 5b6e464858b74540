import { DEFAULT_DELETE_BATCH_SIZE } from '@sentryhub/db';
import { z } from 'zod';

const days = (fallback: number) => z.coerce.number().int('a whole number of days').min(0, '0 keeps rows forever; otherwise a number of days').default(fallback);

/**
 * How long the tables that grow with traffic keep their rows, in days (0: forever). The
 * alert-processor's housekeeping job applies them (housekeeping.ts); completed emails are the
 * email-notifier's (EMAIL_RETENTION_DAYS).
 */
export const retentionEnv = {
  /** Slack notifications (sent, failed, suppressed) of episodes that are over, by creation time. */
  RETENTION_NOTIFICATIONS_DAYS: days(90),
  /** audit_log rows, by the time of the change. */
  RETENTION_AUDIT_LOG_DAYS: days(365),
  /** Resolved episodes (alert_instances) by their end, then groups with no episode left and no firing. */
  RETENTION_RESOLVED_ALERTS_DAYS: days(90),
  /** Rows per delete statement (each its own short transaction). */
  RETENTION_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(DEFAULT_DELETE_BATCH_SIZE),
  /** How often the job runs (it also runs once at start). */
  RETENTION_INTERVAL_MINUTES: z.coerce.number().int().min(1).default(60),
};

export interface RetentionPolicy {
  notificationsDays: number;
  auditLogDays: number;
  resolvedAlertsDays: number;
  batchSize: number;
}

export function retentionPolicy(config: {
  RETENTION_NOTIFICATIONS_DAYS: number;
  RETENTION_AUDIT_LOG_DAYS: number;
  RETENTION_RESOLVED_ALERTS_DAYS: number;
  RETENTION_BATCH_SIZE: number;
}): RetentionPolicy {
  return {
    notificationsDays: config.RETENTION_NOTIFICATIONS_DAYS,
    auditLogDays: config.RETENTION_AUDIT_LOG_DAYS,
    resolvedAlertsDays: config.RETENTION_RESOLVED_ALERTS_DAYS,
    batchSize: config.RETENTION_BATCH_SIZE,
  };
}
