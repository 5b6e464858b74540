import type { AlertNotificationView } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';
import type { z } from 'zod';

type AlertNotification = z.infer<typeof AlertNotificationView>;
type Status = AlertNotification['status'];

/** The email kinds that tell an alert (a test email or a group's own email is not one of its notifications). */
const ALERT_EMAIL_KINDS = ['firing', 'resolved', 'repeat', 'escalation'] as const;
type AlertEmailKind = (typeof ALERT_EMAIL_KINDS)[number];

const iso = (value: Date | null) => (value === null ? null : value.toISOString());
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

const inhibitedBy = (groupId: number | null, name: string | null) =>
  groupId === null ? 'inhibited' : `inhibited by alert group #${groupId}${name ? ` (${name})` : ''}`;

/**
 * Why a notification was not sent, or how it went, in a few words: the silence that held it
 * back, the group that inhibited it, the error, the group message it waits for or went in.
 */
function reasonOf(row: {
  status: Status;
  lastError: string | null;
  inhibitedByGroupId: number | null;
  inhibitorName: string | null;
  grouped: boolean;
  together: number | null;
}): string | null {
  switch (row.status) {
    case 'suppressed':
      return 'silenced: a silence matched the alert when it was to be told';
    case 'inhibited':
      return inhibitedBy(row.inhibitedByGroupId, row.inhibitorName);
    case 'failed':
      return row.lastError ? `failed: ${row.lastError}` : 'failed';
    case 'pending':
      if (row.lastError) return `not sent yet, retrying: ${row.lastError}`;
      return row.grouped ? 'waiting for its group’s next message (groupWait / groupInterval)' : null;
    case 'sent':
      return row.together !== null && row.together > 1 ? `sent in one message with ${plural(row.together - 1, 'other notification')}` : null;
  }
}

/** An email_queue status in the notifications' vocabulary. */
function emailStatus(status: string): Status {
  if (status === 'completed') return 'sent';
  if (status === 'failed' || status === 'inhibited') return status;
  return 'pending';
}

/**
 * The notifications of an alert group of every notifier, newest first: Slack and webhook rows
 * (`notifications`) and alert emails (`email_queue`), each with its rule's name and a reason.
 * An alert email that went out in its group's email takes that email's status and error.
 */
export async function alertNotifications(db: Kysely<Database>, groupId: number, limit = 200): Promise<AlertNotification[]> {
  const [rows, emails] = await Promise.all([
    db
      .selectFrom('notifications as n')
      .leftJoin('slack_rules as s', (join) => join.onRef('s.id', '=', 'n.rule_id').on('n.notifier', '=', 'slack'))
      .leftJoin('webhook_rules as w', (join) => join.onRef('w.id', '=', 'n.webhook_rule_id').on('n.notifier', '=', 'webhook'))
      .leftJoin('alert_groups as i', 'i.id', 'n.inhibited_by_group_id')
      .selectAll('n')
      .select(['s.name as slack_rule_name', 'w.name as webhook_rule_name', 'i.name as inhibitor_name'])
      .where('n.group_id', '=', groupId)
      .orderBy('n.id', 'desc')
      .limit(limit)
      .execute(),
    db
      .selectFrom('email_queue as e')
      .leftJoin('email_rules as r', 'r.id', 'e.rule_id')
      .leftJoin('email_queue as g', 'g.id', 'e.group_email_id')
      .leftJoin('alert_groups as i', 'i.id', 'e.inhibited_by_group_id')
      .selectAll('e')
      .select([
        'r.name as rule_name',
        'i.name as inhibitor_name',
        'g.status as group_email_status',
        'g.last_error as group_email_error',
        'g.sent_at as group_email_sent_at',
      ])
      .where('e.group_id', '=', groupId)
      .where('e.kind', 'in', ALERT_EMAIL_KINDS)
      .orderBy('e.id', 'desc')
      .limit(limit)
      .execute(),
  ]);

  const fromNotifications = rows.map((row): AlertNotification => {
    const webhook = row.notifier === 'webhook';
    const ruleId = webhook ? row.webhook_rule_id : row.rule_id;
    return {
      id: row.id,
      notifier: row.notifier,
      ruleId,
      ruleName: (webhook ? row.webhook_rule_name : row.slack_rule_name) ?? null,
      instanceId: row.instance_id,
      kind: row.kind,
      sequence: row.sequence,
      status: row.status,
      destination: row.channel,
      text: row.text,
      attempts: row.attempts,
      lastError: row.last_error,
      reason: reasonOf({
        status: row.status,
        lastError: row.last_error,
        inhibitedByGroupId: row.inhibited_by_group_id,
        inhibitorName: row.inhibitor_name,
        grouped: row.group_key !== null,
        together: row.digest_size,
      }),
      inhibitedByGroupId: row.inhibited_by_group_id,
      sentAt: iso(row.sent_at),
      createdAt: row.created_at.toISOString(),
    };
  });

  const fromEmails = emails.map((row): AlertNotification => {
    // A grouped alert email is `completed` once its group email is queued: that email says whether it went out.
    const viaGroup = row.group_email_id !== null && row.group_email_status !== null;
    const status = emailStatus(viaGroup ? (row.group_email_status ?? row.status) : row.status);
    const lastError = viaGroup ? row.group_email_error : row.last_error;
    const base = reasonOf({
      status,
      lastError,
      inhibitedByGroupId: row.inhibited_by_group_id,
      inhibitorName: row.inhibitor_name,
      grouped: row.status === 'grouped',
      together: null,
    });
    return {
      id: row.id,
      notifier: 'email',
      ruleId: row.rule_id,
      ruleName: row.rule_name ?? null,
      instanceId: row.instance_id,
      kind: row.kind as AlertEmailKind,
      sequence: row.sequence,
      status,
      destination: row.recipients.join(', '),
      text: row.subject,
      attempts: row.attempts,
      lastError,
      reason: viaGroup ? [`in group email #${row.group_email_id}`, base].filter(Boolean).join(': ') : base,
      inhibitedByGroupId: row.inhibited_by_group_id,
      sentAt: iso(viaGroup ? row.group_email_sent_at : row.sent_at),
      createdAt: row.created_at.toISOString(),
    };
  });

  return [...fromNotifications, ...fromEmails].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id).slice(0, limit);
}
