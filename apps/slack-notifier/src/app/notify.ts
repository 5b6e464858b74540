import type { AlertChange } from '@sentryhub/contracts';
import { selectRule } from '@sentryhub/rules';
import type { Logger } from '@sentryhub/service-runtime';
import { composeMessage } from './compose-message';
import type { SlackMetrics } from './metrics';
import type { AttemptRecord, NotificationDraft, NotificationRepo } from './notification-repo';
import type { SlackRuleStore } from './rule-store';
import type { DeliveryResult, SlackSender } from './slack-client';

export interface NotifyDeps {
  rules: SlackRuleStore;
  notifications: NotificationRepo;
  slack: SlackSender;
  metrics: SlackMetrics;
  defaultChannel: string;
}

export interface NotifyOptions {
  logger: Logger;
  /** The broker will not retry this message again: a transient failure now is final. */
  lastAttempt: boolean;
}

export type NotifyOutcome = 'no-rule' | 'resolved-disabled' | 'suppressed' | 'sent' | 'failed' | 'already-settled' | 'in-progress';

/** A delivery that may work later (429, 5xx, network): the broker retries the message with back-off. */
export class RetryableDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableDeliveryError';
  }
}

function attemptRecord(result: DeliveryResult, lastAttempt: boolean): AttemptRecord {
  switch (result.outcome) {
    case 'sent':
      return { status: 'sent', lastError: null };
    case 'rejected':
      return { status: 'failed', lastError: result.error };
    case 'retry':
      // On the last attempt the message is dead-lettered next: the row must not stay pending.
      return { status: lastAttempt ? 'failed' : 'pending', lastError: result.error };
  }
}

/**
 * One change of an `alert.processed` event, as SPEC section 6 says: the winning rule, the
 * silence policy, then at most one delivery per (instance, rule, kind), recorded in
 * `notifications`. Throws RetryableDeliveryError when Slack may accept it later.
 */
export async function notifyChange(deps: NotifyDeps, change: AlertChange, options: NotifyOptions): Promise<NotifyOutcome> {
  const kind = change.instance.status;
  const base = options.logger.child({ groupId: change.group.id, instanceId: change.instance.id, kind });
  const rule = selectRule(await deps.rules.activeRules(base), change.group.labels);
  if (!rule) {
    base.debug({ labels: change.group.labels }, 'no active slack rule matches; not notified');
    return 'no-rule';
  }
  const log = base.child({ ruleId: rule.id, rule: rule.name });
  if (kind === 'resolved' && !rule.sendResolved) {
    log.debug('rule does not send resolved notifications');
    return 'resolved-disabled';
  }

  const message = composeMessage(rule, change, deps.defaultChannel);
  const draft: NotificationDraft = {
    instanceId: change.instance.id,
    ruleId: rule.id,
    kind,
    groupId: change.group.id,
    channel: message.channel,
    text: message.text,
  };
  // Counted once per notification, when its row is created, not on every redelivery.
  const countTemplateFailure = () => {
    if (message.templateError === null) return;
    deps.metrics.templateFailures.inc();
    log.warn({ templateError: message.templateError }, 'rule template failed to render; using the safe default message');
  };

  // Never notify a silenced group, except the resolved of a firing that was notified.
  if (change.group.silenced && !(kind === 'resolved' && (await deps.notifications.firingWasSent(change.instance.id, rule.id)))) {
    if (await deps.notifications.recordSuppressed(draft)) {
      countTemplateFailure();
      deps.metrics.notifications.inc({ status: 'suppressed' });
      log.info({ channel: message.channel, silencedUntil: change.group.silencedUntil }, 'group is silenced; notification suppressed');
    }
    return 'suppressed';
  }

  if (await deps.notifications.ensurePending(draft)) countTemplateFailure();
  // Wait out a 429 before taking the row lock, so that no connection is held while blocked.
  await deps.slack.whenOpen();
  const claim = await deps.notifications.attemptPending(draft, async (row) => {
    // The stored text and channel: a row left pending by a crash is sent as it was recorded.
    const result = await deps.slack.deliver({ channel: row.channel, text: row.text }, log);
    deps.metrics.requests.inc({ result: result.outcome });
    return { record: attemptRecord(result, options.lastAttempt), result };
  });

  if (claim.state === 'busy') {
    log.debug('another consumer is delivering this notification');
    return 'in-progress';
  }
  if (claim.state === 'settled') {
    log.debug({ notificationId: claim.row.id, status: claim.row.status }, 'notification already settled; redelivery ignored');
    return 'already-settled';
  }
  const { row, result } = claim;
  const fields = { notificationId: row.id, channel: row.channel, attempts: row.attempts };
  switch (result.outcome) {
    case 'sent':
      deps.metrics.notifications.inc({ status: 'sent' });
      log.info(fields, 'slack notification sent');
      return 'sent';
    case 'rejected':
      deps.metrics.notifications.inc({ status: 'failed' });
      log.error({ ...fields, error: result.error }, 'Slack rejected the notification; marked failed, not retried');
      return 'failed';
    case 'retry':
      if (options.lastAttempt) {
        deps.metrics.notifications.inc({ status: 'failed' });
        log.error({ ...fields, error: result.error }, 'last delivery attempt failed; marked failed');
      }
      throw new RetryableDeliveryError(result.error);
  }
}
