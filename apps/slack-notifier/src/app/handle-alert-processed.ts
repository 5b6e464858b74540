import type { AlertProcessed } from '@sentryhub/contracts';
import { ruleRepository, type Database, type GroupDeadLetter } from '@sentryhub/db';
import { budget, type HandlerContext } from '@sentryhub/messaging';
import { createLogger, type Logger, type Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { slackMetrics } from './metrics';
import { notificationRepo } from './notification-repo';
import { prepareChange, type NotifyOutcome, type PreparedChange } from './notify';
import type { SlackSender } from './slack-client';
import { slackDelivery } from './slack-delivery';
import { slackTimerHandler } from './timers';

export interface AlertProcessedHandlerOptions {
  db: Kysely<Database>;
  slack: SlackSender;
  registry: Registry;
  defaultChannel: string;
  rulesCacheMs: number;
  /** SLACK_MAX_PER_SECOND; 1 when not given. */
  maxPerSecond?: number;
  /**
   * NOTIFIER_MAX_PENDING_CHANGES: changes held at once, over all messages (a budget of @sentryhub/messaging);
   * unbounded when not given.
   */
  maxPendingChanges?: number;
  /** Where a stored rule that does not validate is reported (it is ignored). */
  logger?: Logger;
  /** How often a held-back firing (silence, inhibition) is looked at again, at least; 30 s when not given. */
  heldRecheckMs?: number;
  /** The delays between the tries of a group's message that Slack did not take (MESSAGE_RETRY_DELAYS_MS). */
  retryDelaysMs?: readonly number[];
  /** Where a group's message that Slack never took is dead-lettered. */
  deadLetter?: GroupDeadLetter;
}

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

/**
 * `alert.processed.*` -> one Slack notification per change and rule that applies to its group
 * (the notification policy: the first matching rule, and the next ones while `continue`).
 * Every change is prepared (rule, silence, `notifications` row) first; then all of them are
 * handed to their channels' pacers in one go, so that an event's notifications for one
 * channel share a message. The handler resolves (and the message is acked) only when each
 * of them was delivered or needs no delivery; a transient failure of any throws, so that
 * the broker retries the message (notifications already settled are skipped then).
 */
export function alertProcessedHandler(options: AlertProcessedHandlerOptions) {
  const notifications = notificationRepo(options.db);
  const metrics = slackMetrics(options.registry);
  const deps = {
    db: options.db,
    rules: ruleRepository(options.db, {
      cacheMs: options.rulesCacheMs,
      onInvalid: (kind, rule, problem) => options.logger?.warn({ kind, ruleId: rule.id, rule: rule.name, problem }, 'stored rule does not validate; ignored'),
    }),
    notifications,
    metrics,
    defaultChannel: options.defaultChannel,
    ...(options.heldRecheckMs === undefined ? {} : { heldRecheckMs: options.heldRecheckMs }),
  };
  const delivery = slackDelivery({ notifications, slack: options.slack, metrics, maxPerSecond: options.maxPerSecond ?? 1 });
  const changes = budget(options.maxPendingChanges ?? Number.MAX_SAFE_INTEGER);
  const gauge = () => {
    metrics.changesHeld.set(changes.held);
    metrics.changesWaiting.set(changes.waiting.units);
  };
  gauge();

  const handler = async (event: AlertProcessed, context: HandlerContext): Promise<void> => {
    const release = changes.acquire(event.changes.length);
    gauge();
    const giveBack = await release;
    gauge();
    try {
      await handle(event, context);
    } finally {
      giveBack();
      gauge();
    }
  };

  /**
   * The due timers of this notifier (repeats, escalations, held-back firings), for the timer
   * loop (libs/db timerLoop): they share this handler's rules, rows and channel pacers.
   */
  const handleTimer = slackTimerHandler({
    db: options.db,
    rules: deps.rules,
    notifications,
    delivery,
    slack: options.slack,
    defaultChannel: options.defaultChannel,
    logger: options.logger ?? createLogger('slack-notifier', 'silent'),
    ...(options.heldRecheckMs === undefined ? {} : { recheckMs: options.heldRecheckMs }),
    ...(options.retryDelaysMs === undefined ? {} : { retryDelaysMs: options.retryDelaysMs }),
    ...(options.deadLetter === undefined ? {} : { deadLetter: options.deadLetter }),
  });
  return Object.assign(handler, { handleTimer });

  async function handle(event: AlertProcessed, context: HandlerContext): Promise<void> {
    const notifyOptions = { logger: context.logger, lastAttempt: context.lastAttempt, processedAt: event.processedAt };
    const perChange = await Promise.allSettled(event.changes.map((change) => prepareChange(deps, change, notifyOptions)));
    // One preparation per applied rule of each change (fan-out); a change that failed counts once.
    const prepared = perChange.flatMap((result): PromiseSettledResult<PreparedChange>[] =>
      result.status === 'fulfilled' ? result.value.map((value) => ({ status: 'fulfilled', value })) : [result],
    );
    // Submitted in one synchronous pass: the pacers see the whole event at once.
    const settled = await Promise.allSettled(
      prepared.map((preparation): Promise<NotifyOutcome> => {
        if (preparation.status === 'rejected') return Promise.reject(asError(preparation.reason));
        const { value } = preparation;
        return 'settled' in value ? Promise.resolve(value.settled) : delivery.submit(value.deliver.channel, value.deliver.request);
      }),
    );

    const outcomes: Partial<Record<NotifyOutcome, number>> = {};
    const failures: Error[] = [];
    for (const result of settled) {
      if (result.status === 'fulfilled') outcomes[result.value] = (outcomes[result.value] ?? 0) + 1;
      else failures.push(asError(result.reason));
    }
    context.logger.debug(
      { eventId: event.id, changes: event.changes.length, outcomes, failures: failures.length, lastAttempt: context.lastAttempt },
      'alert.processed handled',
    );
    const [first] = failures;
    if (first) {
      const message = failures.length === 1 ? first.message : `${failures.length} of ${event.changes.length} notifications failed; first: ${first.message}`;
      throw new Error(message, { cause: first });
    }
  }
}
