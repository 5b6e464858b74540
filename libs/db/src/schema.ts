import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
/** Defaults to now() on insert; set it on every update. */
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json<T> = ColumnType<T, string, string>;

export type Labels = Record<string, string>;

export interface AlertGroupsTable {
  id: Generated<number>;
  fingerprint: string;
  name: string;
  labels: Json<Labels>;
  severity: string;
  instance: string | null;
  source: string;
  current_status: 'firing' | 'resolved';
  firing_count: number;
  first_occurrence: Timestamp;
  last_occurrence: Timestamp;
  acknowledged: Generated<boolean>;
  acknowledged_by: string | null;
  acknowledged_at: Timestamp | null;
}

export interface AlertInstancesTable {
  id: Generated<number>;
  group_id: number;
  status: 'firing' | 'resolved';
  starts_at: Timestamp;
  ends_at: Timestamp | null;
  annotations: Json<Labels>;
  generator_url: string | null;
  resolution_type: 'normal' | 'inferred' | 'manual' | 'expired' | null;
  intake_source: string | null;
  /** When the episode's lease runs out (it then resolves as `expired`); null: it never expires. */
  lease_ends_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /**
   * When lease expiry next looks at this episode (its index finds the due ones): at or before
   * `lease_ends_at` (the trigger `alert_instances_lease_check` sets it to the lease end when it is
   * missing or later), and moved up by the expiry when it finds the lease renewed. A renewal moves
   * only `lease_ends_at`, an unindexed column, so it is a HOT update.
   */
  lease_check_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: CreatedAt;
}

export interface AlertCommentsTable {
  id: Generated<number>;
  group_id: number;
  author: string;
  body: string;
  created_at: CreatedAt;
}

export interface AlertAcknowledgementsTable {
  id: Generated<number>;
  group_id: number;
  action: 'acknowledge' | 'unacknowledge';
  actor: string;
  comment: string | null;
  created_at: CreatedAt;
}

export interface SilenceMatcherRow {
  name: string;
  value: string;
  isEqual: boolean;
  isRegex: boolean;
}

export interface SilencesTable {
  id: Generated<number>;
  /** The silence's id in the Alertmanager API (`/api/v2`). */
  uuid: Generated<string>;
  matchers: Json<SilenceMatcherRow[]>;
  starts_at: Timestamp;
  ends_at: Timestamp;
  created_by: string;
  comment: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface RuleColumns {
  id: Generated<number>;
  name: string;
  is_active: Generated<boolean>;
  priority: Generated<number>;
  match_criteria: Json<Record<string, unknown>>;
  send_resolved: Generated<boolean>;
  /** After this rule applied, the search for matching rules goes on (Alertmanager's `continue`). */
  continue: Generated<boolean>;
  /** Tell a still-firing, unacknowledged, unsilenced episode again at this interval (Alertmanager duration); null: never. */
  repeat_interval: ColumnType<string | null, string | null | undefined, string | null>;
  /** A rule of the same kind whose receiver is told too when the episode still fires unacknowledged after `escalate_after`. */
  escalate_to: ColumnType<number | null, number | null | undefined, number | null>;
  /** Alertmanager duration; with `escalate_to`. */
  escalate_after: ColumnType<string | null, string | null | undefined, string | null>;
  /** Label names: one message per (rule, their values) (Alertmanager's `group_by`); null: one per alert. */
  group_by: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
  /** Alertmanager duration before a new group's first message; null: `0s`. */
  group_wait: ColumnType<string | null, string | null | undefined, string | null>;
  /** Alertmanager duration between a group's messages; null: `5m`. */
  group_interval: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface SlackRulesTable extends RuleColumns {
  slack_channel: string | null;
  message_template: string;
  resolved_message_template: string | null;
  /** Replace every IPv4/IPv6 address in the message with `IP`. */
  replace_ip_addresses: Generated<boolean>;
}

export interface EmailRulesTable extends RuleColumns {
  recipients: string[];
  subject_template: string;
  body_template: string;
}

export interface WebhookRulesTable extends RuleColumns {
  /** A receiver's name in WEBHOOK_RECEIVERS_FILE (never a URL). */
  receiver: string;
  /** A Liquid template that renders the JSON body; null: the preset's. */
  body_template: string | null;
  /** A body shipped in code (`pagerduty`, `teams`, `opsgenie`, `alertmanager`), used when body_template is null. */
  preset: string | null;
}

export interface NotificationsTable {
  id: Generated<number>;
  channel: string;
  rule_id: number | null;
  group_id: number;
  instance_id: number;
  /** `repeat`: the n-th repeat (`sequence`) of a firing; `escalation`: the escalation rule's notice. */
  kind: 'firing' | 'resolved' | 'repeat' | 'escalation';
  /** The repeat's number (1, 2, ...); 0 for every other kind. Part of the once-per key. */
  sequence: Generated<number>;
  status: 'pending' | 'sent' | 'failed' | 'suppressed' | 'inhibited';
  attempts: Generated<number>;
  last_error: string | null;
  text: string;
  sent_at: Timestamp | null;
  /** Set when the notification went out folded into a digest: shared by the digest's rows. */
  digest_id: string | null;
  /** How many notifications that digest carried. */
  digest_size: number | null;
  /** `slack` or `sink` (Slack), `webhook` once sent; null before. */
  delivered_via: 'slack' | 'sink' | 'webhook' | null;
  /** Which notifier's row: `slack` (rule in `rule_id`) or `webhook` (rule in `webhook_rule_id`). */
  notifier: Generated<'slack' | 'webhook'>;
  /** The webhook rule of a webhook notification (no foreign key: kept when the rule is deleted). */
  webhook_rule_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** The firing group whose inhibition rule held this notification back (status `inhibited`). */
  inhibited_by_group_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** The group a grouped rule's pending row waits in, to go out in the group's next message. */
  group_key: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface EmailQueueTable {
  id: Generated<number>;
  rule_id: number | null;
  group_id: number | null;
  instance_id: number | null;
  kind: string;
  /** The repeat's number (1, 2, ...); 0 for every other kind. Part of the once-per key. */
  sequence: Generated<number>;
  recipients: string[];
  subject: string;
  body_text: string;
  body_html: string | null;
  /** Paths or inline content, as the seed's email service took them; alerts send none. */
  attachments: ColumnType<unknown[], string | undefined, string>;
  /** `grouped`: an alert email of a grouped rule waiting for its group's email (`group_key`). */
  status: 'pending' | 'processing' | 'completed' | 'failed' | 'inhibited' | 'grouped';
  attempts: Generated<number>;
  last_error: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
  sent_at: Timestamp | null;
  next_attempt_at: ColumnType<Date, Date | string | undefined, Date | string>;
  claimed_at: Timestamp | null;
  /** The firing group whose inhibition rule held this email back (status `inhibited`). */
  inhibited_by_group_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** The group a grouped rule's alert email waits in (status `grouped`), or that a group's email tells. */
  group_key: ColumnType<string | null, string | null | undefined, string | null>;
  /** The group's email that told this alert (a `completed` member); its own row says whether it went out. */
  group_email_id: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface InhibitRulesTable {
  id: Generated<number>;
  name: string | null;
  source_matchers: Json<SilenceMatcherRow[]>;
  target_matchers: Json<SilenceMatcherRow[]>;
  equal: ColumnType<string[], string[] | undefined, string[]>;
  comment: Generated<string>;
  created_by: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export type TimerKind = 'repeat' | 'silence_end' | 'escalation' | 'group_flush';

/** Due work of the notifiers (libs/db timers.ts): one row per (kind, notifier, rule, instance, group key). */
export interface NotificationTimersTable {
  id: Generated<number>;
  kind: TimerKind;
  notifier: 'slack' | 'email' | 'webhook';
  rule_id: number;
  /** The episode's alert group; null for a group's `group_flush`. */
  group_id: number | null;
  instance_id: number | null;
  group_key: Generated<string>;
  /** The repeat to send next (1, 2, ...); 0 for other kinds. */
  sequence: Generated<number>;
  due_at: Timestamp;
  /** While set and in the future, a replica works on the timer; after it, any replica may take it again. */
  leased_until: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  attempts: Generated<number>;
  last_error: string | null;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface AuditLogTable {
  id: Generated<number>;
  event_id: string;
  actor: string;
  entity: string;
  entity_id: string | null;
  action: string;
  changes: Json<Record<string, unknown>>;
  at: Timestamp;
}

export interface ApiKeysTable {
  id: Generated<number>;
  name: string;
  role: 'viewer' | 'editor' | 'admin';
  key_prefix: string;
  key_hash: string;
  created_at: CreatedAt;
  revoked_at: Timestamp | null;
  last_used_at: Timestamp | null;
}

export interface AlertOutboxTable {
  id: Generated<number>;
  message_id: string;
  routing_key: string;
  correlation_id: string | null;
  /** The event's message body (JSON text), published as it is. */
  payload: string;
  created_at: CreatedAt;
  /** How many times the broker refused the event; set aside at PROCESSOR_OUTBOX_MAX_REFUSALS. */
  refusals: Generated<number>;
}

export interface Database {
  alert_groups: AlertGroupsTable;
  alert_instances: AlertInstancesTable;
  alert_comments: AlertCommentsTable;
  alert_acknowledgements: AlertAcknowledgementsTable;
  silences: SilencesTable;
  slack_rules: SlackRulesTable;
  email_rules: EmailRulesTable;
  webhook_rules: WebhookRulesTable;
  inhibit_rules: InhibitRulesTable;
  notifications: NotificationsTable;
  email_queue: EmailQueueTable;
  notification_timers: NotificationTimersTable;
  audit_log: AuditLogTable;
  api_keys: ApiKeysTable;
  alert_outbox: AlertOutboxTable;
}

export type AlertGroup = Selectable<AlertGroupsTable>;
export type NewAlertGroup = Insertable<AlertGroupsTable>;
export type AlertGroupUpdate = Updateable<AlertGroupsTable>;
export type AlertInstance = Selectable<AlertInstancesTable>;
export type NewAlertInstance = Insertable<AlertInstancesTable>;
export type Silence = Selectable<SilencesTable>;
export type SlackRule = Selectable<SlackRulesTable>;
export type NewSlackRule = Insertable<SlackRulesTable>;
export type EmailRule = Selectable<EmailRulesTable>;
export type WebhookRule = Selectable<WebhookRulesTable>;
export type InhibitRuleRow = Selectable<InhibitRulesTable>;
export type Notification = Selectable<NotificationsTable>;
export type NewNotification = Insertable<NotificationsTable>;
export type EmailQueueRow = Selectable<EmailQueueTable>;
export type NotificationTimer = Selectable<NotificationTimersTable>;
export type AuditLogRow = Selectable<AuditLogTable>;
export type ApiKey = Selectable<ApiKeysTable>;
