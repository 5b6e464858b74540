// The admin API's answers as the console reads them: the types of libs/contracts' zod schemas
// (types only: nothing of zod reaches the browser).
import type * as contracts from '@sentryhub/contracts';
import type { z } from 'zod';

export type Page<T> = { items: T[]; total: number; page: number; pageSize: number };
export type Items<T> = { items: T[] };

export type Role = contracts.Role;
export type AlertGroup = z.infer<typeof contracts.AlertGroupView>;
export type AlertGroupDetail = z.infer<typeof contracts.AlertGroupDetail>;
export type AlertInstance = z.infer<typeof contracts.AlertInstanceView>;
export type AlertNotification = z.infer<typeof contracts.AlertNotificationView>;
export type Notification = z.infer<typeof contracts.NotificationView>;
export type Silence = z.infer<typeof contracts.SilenceView>;
export type SilenceMatcher = z.infer<typeof contracts.SilenceMatcher>;
export type SlackRule = z.infer<typeof contracts.SlackRuleView>;
export type EmailRule = z.infer<typeof contracts.EmailRuleView>;
export type WebhookRule = z.infer<typeof contracts.WebhookRuleView>;
export type Rule = SlackRule | EmailRule | WebhookRule;
export type MatchCriteria = z.infer<typeof contracts.MatchCriteria>;
export type Preview = z.infer<typeof contracts.PreviewView>;
export type GroupPreview = z.infer<typeof contracts.GroupPreviewView>;
export type Explain = z.infer<typeof contracts.ExplainView>;
export type InhibitRule = z.infer<typeof contracts.InhibitRuleView>;
export type Receivers = z.infer<typeof contracts.ReceiversView>;
export type ApiKey = z.infer<typeof contracts.ApiKeyView>;
export type CreatedApiKey = z.infer<typeof contracts.CreatedApiKey>;
export type EmailQueueEntry = z.infer<typeof contracts.EmailQueueView>;
export type AuditEntry = z.infer<typeof contracts.AuditLogView>;
export type Queue = z.infer<typeof contracts.QueueView>;
export type QueueList = z.infer<typeof contracts.QueueList>;
export type QueuePublished = z.infer<typeof contracts.QueuePublished>;
export type QueuePurged = z.infer<typeof contracts.QueuePurged>;
export type DeadLetter = z.infer<typeof contracts.DeadLetterView>;
export type DeadLetterList = z.infer<typeof contracts.DeadLetterList>;
export type DeadLetterReplayResult = z.infer<typeof contracts.DeadLetterReplayResult>;
export type WebhookTest = z.infer<typeof contracts.WebhookTestView>;

/** What the router gives a page (app.ts). */
export interface PageContext {
  /** The route's captured parts (`/alerts/(\d+)`: the id). */
  params: string[];
  query: URLSearchParams;
  title(text: string): void;
  /** Renders the page again, keeping focus and scroll (after an action). */
  reload(): Promise<void>;
  go(hash: string): void;
  /** Whether this page is still the one shown (a later navigation replaced it otherwise). */
  alive(): boolean;
}
