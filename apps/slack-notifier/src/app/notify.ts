import type { AlertChange } from '@sentryhub/contracts';
import { findInhibitingSource, firingsTold, recordInhibitedNotification, type Database, type RuleRepository, type StoredSlackRule } from '@sentryhub/db';
import { lazyChild, type Logger } from '@sentryhub/service-runtime';
import {
  composeMessage,
  decide,
  describeInhibition,
  groupKeyOf,
  inhibitionPredicates,
  needsInhibitionCheck,
  routeAlert,
  type Decision,
  type Inhibition,
} from '@sentryhub/rules';
import type { Kysely } from 'kysely';
import type { SlackMetrics } from './metrics';
import type { NotificationDraft, NotificationRepo } from './notification-repo';
import type { DeliveryOutcome, DeliveryRequest } from './slack-delivery';
import { scheduleGroupFlush, scheduleTimers } from './timers';

export interface NotifyDeps {
  db: Kysely<Database>;
  rules: Pick<RuleRepository, 'activeSlackRules' | 'activeInhibitRules'>;
  notifications: NotificationRepo;
  metrics: SlackMetrics;
  defaultChannel: string;
  /** How often a held-back firing is looked at again, at least (timers.ts); 30 s when not given. */
  heldRecheckMs?: number;
}

export interface NotifyOptions {
  logger: Logger;
  /** The broker will not retry this message again: a transient failure now is final. */
  lastAttempt: boolean;
  /** `AlertProcessed.processedAt` of the event that carries the change. */
  processedAt: string;
}

export type NotifyOutcome = 'no-rule' | 'resolved-disabled' | 'suppressed' | 'inhibited' | 'grouped' | DeliveryOutcome;

/** What a change comes to for one rule before anything is sent: settled already, or a notification to deliver. */
export type PreparedChange = { settled: NotifyOutcome } | { deliver: { channel: string; request: DeliveryRequest } };

/** The inhibition that holds a group back now, read through the shared rule storage (bounded SQL). */
export async function inhibitionOf(deps: Pick<NotifyDeps, 'db' | 'rules'>, groupId: number, labels: Record<string, string>): Promise<Inhibition | null> {
  const rules = await deps.rules.activeInhibitRules();
  if (rules.length === 0) return null;
  const found = await findInhibitingSource(deps.db, rules, { groupId, labels }, inhibitionPredicates);
  return found ? { ruleId: found.rule.id, ruleName: found.rule.name, sourceGroupId: found.sourceGroupId } : null;
}

/**
 * One change of an `alert.processed` event, up to the send. The notification policy
 * (libs/rules notification-policy.ts) says which rules apply (the first match by priority,
 * then name, and the next ones while a rule has `continue`) and what each does: send, or be
 * recorded `suppressed` (silenced) or `inhibited` (naming the source). Each applied rule has
 * its own `notifications` row (one per instance, rule and kind); what is left to deliver goes
 * to the channel's pacer (slack-delivery.ts). One result per applied rule; one `no-rule` when
 * none applies.
 */
export async function prepareChange(deps: NotifyDeps, change: AlertChange, options: NotifyOptions): Promise<PreparedChange[]> {
  const kind = change.instance.status;
  const base = lazyChild(options.logger, { groupId: change.group.id, instanceId: change.instance.id, kind });
  const route = routeAlert(await deps.rules.activeSlackRules(), change.group.labels);
  if (route.applied.length === 0) {
    base.debug({ labels: change.group.labels }, 'no active slack rule matches; not notified');
    return [{ settled: 'no-rule' }];
  }
  const silence = { silenced: change.group.silenced, until: change.group.silencedUntil };
  // Read only what can change a decision: inhibition sources when some rule would tell, earlier
  // firings for a resolved change under a silence or an inhibition.
  const inhibition = !silence.silenced && needsInhibitionCheck(route, kind) ? await inhibitionOf(deps, change.group.id, change.group.labels) : null;
  const firingSentUnder =
    kind === 'resolved' && (silence.silenced || inhibition)
      ? await firingsTold(
          deps.db,
          'slack',
          change.instance.id,
          route.applied.map((rule) => rule.id),
        )
      : new Set<number>();
  const { decisions } = decide(route, { kind, silence, inhibition, firingSentUnder });
  return Promise.all(decisions.map((decision) => prepareDecision(deps, change, decision, base, options)));
}

async function prepareDecision(
  deps: NotifyDeps,
  change: AlertChange,
  decision: Decision<StoredSlackRule>,
  base: Logger,
  options: NotifyOptions,
): Promise<PreparedChange> {
  const { rule } = decision;
  const kind = change.instance.status;
  const log = lazyChild(base, { ruleId: rule.id, rule: rule.name });
  if (decision.action === 'skip') {
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
    groupKey: decision.action === 'send' ? groupKeyOf(rule.groupBy, change.group.labels) : null,
  };
  // Counted once per notification, when its row is created, not on every redelivery.
  const countTemplateFailure = () => {
    if (message.templateError === null) return;
    deps.metrics.templateFailures.inc();
    log.warn({ templateError: message.templateError }, 'rule template failed to render; using the safe default message');
  };

  // Timers first (idempotent): a crash after them leaves the notice to the timer, never lost.
  const timerFor = { groupId: change.group.id, instanceId: change.instance.id, kind, labels: change.group.labels };
  if (decision.action === 'suppressed' || decision.action === 'inhibited') await scheduleTimers(deps.db, decision, timerFor, new Date(), deps.heldRecheckMs);
  if (decision.action === 'suppressed') {
    if (await deps.notifications.recordSuppressed(draft)) {
      countTemplateFailure();
      deps.metrics.notifications.inc({ status: 'suppressed' });
      log.info({ channel: message.channel, silencedUntil: change.group.silencedUntil }, 'group is silenced; notification suppressed');
    }
    return { settled: 'suppressed' };
  }
  if (decision.action === 'inhibited') {
    const reason = describeInhibition(decision.by);
    if (await recordInhibitedNotification(deps.db, { ...draft, inhibitedByGroupId: decision.by.sourceGroupId, reason })) {
      countTemplateFailure();
      deps.metrics.notifications.inc({ status: 'inhibited' });
      log.info({ channel: message.channel, inhibitedBy: decision.by }, 'group is inhibited; notification held back');
    }
    return { settled: 'inhibited' };
  }

  const { created, row } = await deps.notifications.ensurePending(draft);
  if (created) countTemplateFailure();
  if (row.status !== 'pending') {
    log.debug({ notificationId: row.id, status: row.status }, 'notification already settled; redelivery ignored');
    return { settled: 'already-settled' };
  }
  // Repeats and escalation start with the firing that is about to be told.
  await scheduleTimers(deps.db, decision, timerFor, new Date(), deps.heldRecheckMs);
  if (row.group_key !== null) {
    // A grouped rule: the row goes out with its group's next message (timers.ts, group_flush).
    await scheduleGroupFlush(deps.db, rule, row.group_key);
    return { settled: 'grouped' };
  }
  // The stored channel: a row left pending by a crash is sent as it was recorded.
  return {
    deliver: {
      channel: row.channel,
      request: { notificationId: row.id, lastAttempt: options.lastAttempt, processedAt: options.processedAt, logger: log },
    },
  };
}
