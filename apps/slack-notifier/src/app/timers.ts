import {
  dueTimerHandler,
  groupSendTry,
  notificationGroupTimers,
  readEpisodes,
  timerRepo,
  type DueTimerTell,
  type Database,
  type GroupDeadLetter,
  type Notification,
  type NotificationTimer,
  type RuleRepository,
  type StoredSlackRule,
  type TimerOutcome,
} from '@sentryhub/db';
import type { Logger } from '@sentryhub/service-runtime';
import {
  composeGroupMessage,
  composeMessage,
  DEFAULT_HELD_RECHECK_MS,
  groupKeyOf,
  replaceIpAddresses,
  truncateMessage,
  timerPolicy,
  timersFor,
  type Decision,
} from '@sentryhub/rules';
import type { Kysely } from 'kysely';
import type { NotificationDraft, NotificationRepo } from './notification-repo';
import type { DeliveryOutcome, SlackDelivery } from './slack-delivery';
import type { SlackSender } from './slack-client';
import { randomUUID } from 'node:crypto';
import { RETRY_DELAYS_MS, type AlertChange } from '@sentryhub/contracts';

/**
 * The Slack notifier's due timers (libs/db timers.ts claims them, libs/rules `timerVerdict`
 * decides): a repeat tells a still-firing, unacknowledged, unsilenced episode again under the
 * rule (a `repeat` row numbered by `sequence`); an escalation tells the `escalateTo` rule's
 * channel once (an `escalation` row under that rule); a held-back firing (`suppressed` or
 * `inhibited` row) is released to `pending` once nothing holds it. Every message goes through
 * its own `notifications` row and the same exactly-once delivery as an event's.
 */
export interface SlackTimerDeps {
  db: Kysely<Database>;
  rules: Pick<RuleRepository, 'activeSlackRules' | 'activeInhibitRules'>;
  notifications: NotificationRepo;
  delivery: SlackDelivery;
  /** A group's message goes straight to Slack (one per group and group interval, not paced per alert). */
  slack: SlackSender;
  defaultChannel: string;
  logger: Logger;
  /** How often a held-back firing or a waiting repeat is looked at again, at least. */
  recheckMs?: number;
  /**
   * The delays between the tries of a group's message that Slack did not take (the broker's
   * MESSAGE_RETRY_DELAYS_MS); after the last, its rows are `failed` and it is dead-lettered.
   */
  retryDelaysMs?: readonly number[];
  /** Where a group's message that Slack never took goes (`slack-notifier.alerts-processed.dead`); without it its rows only fail. */
  deadLetter?: GroupDeadLetter;
}

/** Schedules the timers a decision asks for (idempotent: a timer that exists stays as it is). */
export async function scheduleTimers(
  db: Kysely<Database>,
  decision: Decision<StoredSlackRule>,
  change: { groupId: number; instanceId: number; kind: 'firing' | 'resolved'; labels: Record<string, string> },
  now = new Date(),
  recheckMs = DEFAULT_HELD_RECHECK_MS,
): Promise<void> {
  await timerRepo(db).scheduleAll('slack', timersFor(decision, change.kind, now, recheckMs, change.labels), change);
}

/** A group's rows wait for its flush: at `groupWait` after the first, at `groupInterval` after a message (the timer exists then). */
export async function scheduleGroupFlush(db: Kysely<Database>, rule: StoredSlackRule, groupKey: string): Promise<void> {
  await timerRepo(db).scheduleGroupFlush('slack', rule, groupKey);
}

/** At most this many alerts in one group message; the rest go in the next one. */
export const MAX_ALERTS_PER_GROUP_MESSAGE = 1_000;

export function slackTimerHandler(deps: SlackTimerDeps): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const recheckMs = deps.recheckMs ?? DEFAULT_HELD_RECHECK_MS;
  const retryDelaysMs = deps.retryDelaysMs ?? RETRY_DELAYS_MS;

  async function deliver(draft: NotificationDraft, log: Logger, now: Date): Promise<DeliveryOutcome | 'already-settled'> {
    const { row } = await deps.notifications.ensurePending(draft);
    return deliverRow(row, log, now);
  }

  async function deliverRow(row: { id: number; status: string; channel: string }, log: Logger, now: Date): Promise<DeliveryOutcome | 'already-settled'> {
    if (row.status !== 'pending') return 'already-settled';
    return deps.delivery.submit(row.channel, { notificationId: row.id, lastAttempt: false, processedAt: now.toISOString(), logger: log });
  }

  /**
   * A group's message: its pending rows (what fired and resolved since its last message, or its
   * repeat rows), one Slack message: the rule's template rendered once with the group context
   * when it uses a group variable, else titled as Alertmanager's (`[FIRING:3] HighCPU (team=ops)`)
   * with each alert's own text; every row recorded `sent` with the message's `digest_id` in the
   * transaction that locked them (FOR UPDATE SKIP LOCKED: a replica that died before the commit
   * leaves them pending for the next try). Slack not taking it (5xx, timeout, 429) leaves them
   * pending and throws: the timer is tried again after the next of the retry delays; the try
   * after the last delay records them `failed` and dead-letters the group's alerts.
   */
  async function sendGroup(timer: NotificationTimer, rule: StoredSlackRule | undefined, rows: Notification[], log: Logger): Promise<void> {
    const episodes = await readEpisodes(
      deps.db,
      rows.map((row) => row.instance_id),
    );
    const attempt = groupSendTry(timer, {
      retryDelaysMs,
      deadLetter: deps.deadLetter,
      retryFallbackMs: DEFAULT_HELD_RECHECK_MS,
      notTaken: 'Slack did not take the group message',
    });
    const claimed = await deps.notifications.claimPending(
      rows.map((row) => row.id),
      async (pending) => {
        const entries = pending.map((row) => {
          const instance = episodes.get(row.instance_id)?.change;
          return {
            status: row.kind === 'resolved' ? ('resolved' as const) : ('firing' as const),
            labels: instance?.group.labels ?? {},
            annotations: instance?.instance.annotations ?? {},
            startsAt: instance?.instance.startsAt ?? row.created_at.toISOString(),
            endsAt: row.kind === 'resolved' ? (instance?.instance.endsAt ?? null) : null,
            text: row.text,
          };
        });
        // The rule's template, rendered once with the group context when it uses it (libs/rules composeGroupMessage).
        // (A rule deleted meanwhile: no template, the default message, still escaped for Slack.)
        const template = rule
          ? { ruleName: rule.name, source: rule.messageTemplate, resolvedSource: rule.resolvedMessageTemplate, escape: 'slack' as const }
          : { ruleName: '', source: '', escape: 'slack' as const };
        const message = composeGroupMessage(timer.group_key, entries, template);
        if (message.templateError !== null)
          log.warn({ templateError: message.templateError }, 'group template failed to render; the group message lists each alert instead');
        const text = rule?.replaceIpAddresses ? replaceIpAddresses(message.text) : message.text;
        const channel = pending[0]?.channel ?? deps.defaultChannel;
        const result = await deps.slack.deliver({ channel, text: truncateMessage(text) }, log);
        const record = await attempt.record(
          result,
          { status: 'sent', lastError: null, deliveredVia: deps.slack.mode === 'sink' ? 'sink' : 'slack' },
          pending,
          episodes,
        );
        return {
          records: new Map(pending.map((row) => [row.id, record])),
          digest: { id: randomUUID(), size: pending.length },
          result: { channel, ...message.context },
        };
      },
    );
    const dead = attempt.settle();
    if (dead)
      log.error(
        { alerts: claimed.attempted.length, attempts: timer.attempts, error: dead.error },
        'Slack never took the group message; its rows marked failed and the message dead-lettered',
      );
    else if (claimed.result)
      log.info({ channel: claimed.result.channel, firing: claimed.result.firing_count, resolved: claimed.result.resolved_count }, 'group message sent');
  }

  const draftFor = (target: StoredSlackRule, change: AlertChange, kind: NotificationDraft['kind'], sequence: number): NotificationDraft => {
    const message = composeMessage(target, change, deps.defaultChannel);
    return { instanceId: change.instance.id, groupId: change.group.id, ruleId: target.id, kind, sequence, channel: message.channel, text: message.text };
  };

  // A group's flush and a grouped rule's repeat: one message of the group's pending rows (libs/db group-send.ts).
  const group = notificationGroupTimers({
    rules: () => deps.rules.activeSlackRules(),
    notifications: deps.notifications,
    limit: MAX_ALERTS_PER_GROUP_MESSAGE,
    logger: deps.logger,
    draftFor,
    send: sendGroup,
    repeatTold: 'group still firing: told again',
    scheduleFlush: (rule, groupKey) => scheduleGroupFlush(deps.db, rule, groupKey),
  });

  // A silence end: the held row becomes pending; a firing held back before it was recorded (a
  // crash) is recorded now. A grouped rule's row waits in its group for the group's next message.
  const tellReleased = async ({ rule, change, now }: DueTimerTell<StoredSlackRule>, log: Logger): Promise<TimerOutcome> => {
    const groupKey = groupKeyOf(rule.groupBy, change.group.labels);
    const held = await deps.notifications.releaseHeld(change.instance.id, rule.id, groupKey);
    if (groupKey !== null) {
      const row = await group.joinGroup(rule, change, held, groupKey);
      log.info({ status: row.status }, "held-back firing joins its group's next message: nothing holds it any more");
    } else {
      const outcome = held ? await deliverRow(held, log, now) : await deliver(draftFor(rule, change, 'firing', 0), log, now);
      log.info({ outcome }, 'held-back firing told: nothing holds it any more');
    }
    await scheduleTimers(
      deps.db,
      { rule, action: 'send' },
      { groupId: change.group.id, instanceId: change.instance.id, kind: 'firing', labels: change.group.labels },
      now,
      recheckMs,
    );
    return { action: 'done' };
  };

  return dueTimerHandler({
    db: deps.db,
    rules: () => deps.rules.activeSlackRules(),
    inhibitRules: () => deps.rules.activeInhibitRules(),
    policy: timerPolicy,
    recheckMs,
    told: 'a message',
    logger: deps.logger,
    flushGroup: group.flushGroup,
    groupRepeat: group.groupRepeat,
    tellReleased,
    tellAgain: (kind, { target, change, now }, sequence, log) => deliver(draftFor(target, change, kind, sequence), log, now),
    toldAgain: 'still firing: told again',
  });
}
