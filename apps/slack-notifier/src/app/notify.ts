import type { AlertChange } from '@sentryhub/contracts';
import type { Logger } from '@sentryhub/service-runtime';
import { composeMessage, selectRule } from '@sentryhub/rules';
import type { SlackMetrics } from './metrics';
import type { NotificationDraft, NotificationRepo } from './notification-repo';
import type { SlackRuleStore } from './rule-store';
import type { DeliveryOutcome, DeliveryRequest } from './slack-delivery';

export interface NotifyDeps {
  rules: SlackRuleStore;
  notifications: NotificationRepo;
  metrics: SlackMetrics;
  defaultChannel: string;
}

export interface NotifyOptions {
  logger: Logger;
  /** The broker will not retry this message again: a transient failure now is final. */
  lastAttempt: boolean;
  /** `AlertProcessed.processedAt` of the event that carries the change. */
  processedAt: string;
}

export type NotifyOutcome = 'no-rule' | 'resolved-disabled' | 'suppressed' | DeliveryOutcome;

/** What a change comes to before anything is sent: settled already, or a notification to deliver. */
export type PreparedChange = { settled: NotifyOutcome } | { deliver: { channel: string; request: DeliveryRequest } };

/**
 * One change of an `alert.processed` event, as SPEC section 6 says, up to the send: the
 * winning rule, the silence policy, and the `notifications` row (one per instance, rule and
 * kind). What is left to deliver goes to the channel's pacer (slack-delivery.ts).
 */
export async function prepareChange(deps: NotifyDeps, change: AlertChange, options: NotifyOptions): Promise<PreparedChange> {
  const kind = change.instance.status;
  const base = options.logger.child({ groupId: change.group.id, instanceId: change.instance.id, kind });
  const rule = selectRule(await deps.rules.activeRules(base), change.group.labels);
  if (!rule) {
    base.debug({ labels: change.group.labels }, 'no active slack rule matches; not notified');
    return { settled: 'no-rule' };
  }
  const log = base.child({ ruleId: rule.id, rule: rule.name });
  if (kind === 'resolved' && !rule.sendResolved) {
    log.debug('rule does not send resolved notifications');
    return { settled: 'resolved-disabled' };
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
    return { settled: 'suppressed' };
  }

  const { created, row } = await deps.notifications.ensurePending(draft);
  if (created) countTemplateFailure();
  if (row.status !== 'pending') {
    log.debug({ notificationId: row.id, status: row.status }, 'notification already settled; redelivery ignored');
    return { settled: 'already-settled' };
  }
  // The stored channel: a row left pending by a crash is sent as it was recorded.
  return {
    deliver: {
      channel: row.channel,
      request: { notificationId: row.id, lastAttempt: options.lastAttempt, processedAt: options.processedAt, logger: log },
    },
  };
}
