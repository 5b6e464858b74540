import { EXCHANGES, HEADERS, ROUTING_KEYS, type AlertChange, type AlertProcessed } from '@sentryhub/contracts';
import { randomUUID } from 'node:crypto';
import type { Notification, NotificationTimer } from '../schema';
import type { AttemptRecord, NotificationDraft, NotificationRepo } from './notifications';
import { TimerRetryError, type EpisodeNow, type GroupRepeatOptions, type TimerLoopLogger, type TimerOutcome } from './timers';

/**
 * A group's message in the notifiers that send it themselves (Slack, webhooks): a grouped rule's
 * rows wait `pending` in their group (`group_key`) for its `group_flush` timer, or for its group
 * `repeat` timer, and go out as one message, claimed with `claimPending`. What is the same in
 * every such notifier lives here: the flush and the repeat around the send, and the send's
 * back-off over the broker's retry delays, its last try and its dead letter. What the message
 * is, and where it goes, is the notifier's `send`.
 */

/**
 * Where a group's send that a receiver did not take (5xx, timeout, 429) stands, from the timer's
 * `attempts` (counted by each claim, reset when a send is finished): tried again after the
 * `attempt`-th of `retryDelaysMs` (MESSAGE_RETRY_DELAYS_MS, the broker's retry delays), and the
 * attempt after the last delay is the last one, after which the rows fail and the group is
 * dead-lettered, as a broker message that used up its retries.
 */
export function groupSendAttempt(timer: Pick<NotificationTimer, 'attempts'>, retryDelaysMs: readonly number[]): { last: boolean; retryInMs: number } {
  const attempt = Math.max(1, timer.attempts);
  const last = attempt > retryDelaysMs.length;
  return { last, retryInMs: last ? 0 : (retryDelaysMs[attempt - 1] ?? 0) };
}

/**
 * Publishes a group's message that the receiver never took, once its rows are `failed`: the
 * notifier's dead-letter queue (`<queue>.dead`, reason in `x-error`), as a broker message that
 * used up its retries.
 */
export type GroupDeadLetter = (event: AlertProcessed, reason: string) => Promise<void>;

/** What `groupDeadLetterPublisher` needs of a broker connection (libs/messaging `Messaging`). */
export interface DeadLetterPublisher {
  publish(exchange: string, routingKey: string, body: unknown, meta?: { messageId?: string; headers?: Record<string, unknown> }): Promise<unknown>;
}

/**
 * The `GroupDeadLetter` of a notifier consuming `queue`: the event goes to the dead-letter
 * exchange under the queue's name (so to `<queue>.dead`) with the headers a dead-lettered
 * `alert.processed` message carries (`x-error`, `x-original-*`), so that the console's dead
 * letters show it and can replay it. `connection()` is the worker's broker connection, which
 * exists only once the worker is connected: before, the dead letter fails and the timer is tried again.
 */
export function groupDeadLetterPublisher(connection: () => DeadLetterPublisher | null | undefined, queue: string): GroupDeadLetter {
  return async (event, reason) => {
    const broker = connection();
    if (!broker) throw new Error('not connected to the broker yet: the dead letter is published on a later try');
    await broker.publish(EXCHANGES.deadLetter, queue, event, {
      messageId: event.id,
      headers: {
        [HEADERS.error]: reason.slice(0, 2000),
        [HEADERS.errorPath]: '',
        [HEADERS.originalExchange]: EXCHANGES.alerts,
        [HEADERS.originalRoutingKey]: ROUTING_KEYS.alertProcessed(event.status),
        [HEADERS.originalQueue]: queue,
      },
    });
  };
}

/**
 * The dead letter of a group's message: an `alert.processed` event of its alerts as the rows told
 * them (a `resolved` row as the episode's end, any other as its firing), so that the dead-letter
 * pages show what was not told.
 */
export function groupDeadLetterEvent(
  rows: readonly { instance_id: number | null; kind: string }[],
  episodes: ReadonlyMap<number, EpisodeNow>,
  now = new Date(),
): AlertProcessed | null {
  const changes = rows.flatMap((row): AlertChange[] => {
    const episode = row.instance_id === null ? undefined : episodes.get(row.instance_id);
    if (!episode) return [];
    const { change } = episode;
    if (row.kind === 'resolved') return [{ ...change, change: 'resolved', instance: { ...change.instance, status: 'resolved' } }];
    return [{ ...change, instance: { ...change.instance, status: 'firing', endsAt: null } }];
  });
  if (changes.length === 0) return null;
  return {
    id: randomUUID(),
    processedAt: now.toISOString(),
    status: changes.some((change) => change.instance.status === 'firing') ? 'firing' : 'resolved',
    changes,
  };
}

/** What a receiver made of a group's message: taken, refused for good, or not taken now (5xx, timeout; 429: `rateLimited`). */
export type GroupSendResult = { outcome: 'sent' } | { outcome: 'rejected'; error: string } | { outcome: 'retry'; error: string; rateLimited: boolean };

export interface GroupSendTryOptions {
  /** The delays between the tries (MESSAGE_RETRY_DELAYS_MS); the try after the last is the last. */
  retryDelaysMs: readonly number[];
  /** Where the alerts of a message never taken go; without it, its rows only fail. */
  deadLetter?: GroupDeadLetter | undefined;
  /** When to try again when no delay is left (a rate-limited last try: a 429 does not use up the tries). */
  retryFallbackMs: number;
  /** What the retry's error says first ("Slack did not take the group message"). */
  notTaken: string;
}

/** One try of a group's message; see `groupSendTry`. */
export interface GroupSendTry {
  /**
   * Inside `claimPending`'s attempt, once the receiver answered: the record of the group's rows:
   * `sent` when taken, `failed` when refused or not taken on the last try (the alerts then
   * dead-lettered first: a failed publish leaves the rows pending, tried again), else `pending`.
   */
  record(
    result: GroupSendResult,
    sent: AttemptRecord,
    rows: readonly { instance_id: number | null; kind: string }[],
    episodes: ReadonlyMap<number, EpisodeNow>,
  ): Promise<AttemptRecord>;
  /**
   * After the claim's transaction committed: throws a `TimerRetryError` (the timer is tried again
   * after the next retry delay) when the receiver did not take the message and tries are left;
   * the error when the last try was not taken (the rows failed, the message dead-lettered); null otherwise.
   */
  settle(): { error: string } | null;
}

/**
 * A try of a group's message that the receiver may not take (5xx, timeout, 429): from the
 * timer's `attempts` (`groupSendAttempt`), tried again after the next of the retry delays; the
 * try after the last delay records the rows `failed` and dead-letters the group's alerts, as
 * the broker does with a message that used up its retries. A 429 is never the last try.
 */
export function groupSendTry(timer: Pick<NotificationTimer, 'attempts'>, options: GroupSendTryOptions): GroupSendTry {
  const { last, retryInMs } = groupSendAttempt(timer, options.retryDelaysMs);
  let notTaken: { error: string; dead: boolean } | null = null;
  return {
    async record(result, sent, rows, episodes) {
      if (result.outcome === 'sent') return sent;
      if (result.outcome === 'rejected') return { status: 'failed', lastError: result.error };
      const dead = !result.rateLimited && last;
      notTaken = { error: result.error, dead };
      if (!dead) return { status: 'pending', lastError: result.error };
      const event = groupDeadLetterEvent(rows, episodes);
      if (event) await options.deadLetter?.(event, `retries exhausted after ${timer.attempts} attempts: ${result.error}`);
      return { status: 'failed', lastError: result.error };
    },
    settle() {
      if (!notTaken) return null;
      if (!notTaken.dead) throw new TimerRetryError(`${options.notTaken}; tried again later: ${notTaken.error}`, retryInMs || options.retryFallbackMs);
      return { error: notTaken.error };
    },
  };
}

export interface NotificationGroupOptions<R extends { id: number; groupIntervalMs: number }, L extends Pick<TimerLoopLogger, 'info'>> {
  /** The notifier's active rules (a rule gone meanwhile: `send` gets undefined). */
  rules: () => Promise<R[]>;
  notifications: Pick<NotificationRepo, 'pendingInGroup' | 'ensurePending' | 'firingsToldInGroup'>;
  /** At most this many alerts in one group message; the rest go in the next one. */
  limit: number;
  /** A flush's log is a child of it (timer id, rule, group key). */
  logger: { child(bindings: Record<string, unknown>): L };
  /** An alert's row under the rule (for a group's repeat: kind `repeat`, the repeat's number). */
  draftFor: (rule: R, change: AlertChange, kind: NotificationDraft['kind'], sequence: number) => NotificationDraft;
  /** Sends the group's pending rows as one message (claimed with `claimPending`, `groupSendTry`); throwing tries the timer again. */
  send: (timer: NotificationTimer, rule: R | undefined, rows: Notification[], log: L) => Promise<void>;
  /** The log line of a group's repeat told ("group still firing: told again"). */
  repeatTold: string;
  /** Schedules the group's flush (the notifier's `group_flush` timer; a timer that exists stays as it is). */
  scheduleFlush: (rule: R, groupKey: string) => Promise<void>;
}

/**
 * The `flushGroup` and `groupRepeat` of `dueTimerHandler` for a notifier of `notifications`
 * rows. A flush: what fired and resolved since the group's last message, sent; due again after
 * `groupInterval`; a flush that finds nothing ends the group's timer. A repeat (`dueTimerHandler`
 * decides which alerts): each alert's `repeat` row, then one message of every pending repeat row
 * of the group (a try that died after recording them included). A held-back firing released
 * (its silence or inhibition ended: `joinGroup`): its row (the held one, or one recorded now
 * when it was held back before it was recorded, a crash) waits in its group, whose flush is
 * scheduled while the row is pending.
 */
export function notificationGroupTimers<R extends { id: number; groupIntervalMs: number }, L extends Pick<TimerLoopLogger, 'info'>>(
  options: NotificationGroupOptions<R, L>,
): {
  flushGroup: (timer: NotificationTimer) => Promise<TimerOutcome>;
  groupRepeat: GroupRepeatOptions<R, L>;
  joinGroup: (rule: R, change: AlertChange, held: Notification | undefined, groupKey: string) => Promise<Notification>;
} {
  return {
    async flushGroup(timer) {
      const log = options.logger.child({ timerId: timer.id, timer: 'group_flush', ruleId: timer.rule_id, groupKey: timer.group_key });
      const rule = (await options.rules()).find((candidate) => candidate.id === timer.rule_id);
      const rows = await options.notifications.pendingInGroup(timer.rule_id, timer.group_key, options.limit);
      if (rows.length === 0) return { action: 'done' };
      await options.send(timer, rule, rows, log);
      return { action: 'reschedule', dueAt: new Date(Date.now() + (rule?.groupIntervalMs ?? 0)) };
    },
    groupRepeat: {
      firingsTold: (ruleId, groupKey, limit) => options.notifications.firingsToldInGroup(ruleId, groupKey, limit),
      limit: options.limit,
      async tell(due, log, timer) {
        await Promise.all(
          due.changes.map((change) =>
            options.notifications.ensurePending({ ...options.draftFor(due.rule, change, 'repeat', due.sequence), groupKey: due.groupKey }),
          ),
        );
        const rows = await options.notifications.pendingInGroup(due.rule.id, due.groupKey, options.limit, 'repeats');
        if (rows.length > 0) await options.send(timer, due.rule, rows, log);
        log.info({ alerts: rows.length, sequence: due.sequence }, options.repeatTold);
      },
    },
    async joinGroup(rule, change, held, groupKey) {
      const row = held ?? (await options.notifications.ensurePending({ ...options.draftFor(rule, change, 'firing', 0), groupKey })).row;
      if (row.status === 'pending' && row.group_key !== null) await options.scheduleFlush(rule, row.group_key);
      return row;
    },
  };
}
