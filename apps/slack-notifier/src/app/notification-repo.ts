/** The notification rows live in libs/db (shared with the webhook-notifier); Slack's are the default. */
export {
  notificationRepo,
  type AttemptRecord,
  type BatchAttempt,
  type ClaimedBatch,
  type DigestRef,
  type NotificationDraft,
  type NotificationKey,
  type NotificationKind,
  type NotificationRepo,
} from '@sentryhub/db';
