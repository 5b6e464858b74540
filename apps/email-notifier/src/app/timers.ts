import {
  dueTimerHandler,
  readEpisodes,
  timerRepo,
  type DueGroupRepeat,
  type DueTimerTell,
  type Database,
  type NotificationTimer,
  type RuleRepository,
  type StoredEmailRule,
  type TimerOutcome,
} from '@sentryhub/db';
import type { AlertChange } from '@sentryhub/contracts';
import type { Logger } from '@sentryhub/service-runtime';
import { composeEmail, composeGroupEmail, DEFAULT_HELD_RECHECK_MS, groupKeyOf, timerPolicy, timersFor, type Decision } from '@sentryhub/rules';
import type { Kysely } from 'kysely';
import type { EmailQueue, QueuedEmail } from './email-queue';

/**
 * The email notifier's due timers (libs/db timers.ts claims them, libs/rules `timerVerdict`
 * decides). What a timer tells is an `email_queue` row under the once-per key (instance, rule,
 * kind, sequence), inserted idempotently and sent by the sender like any other: a repeat
 * (`repeat`, numbered), an escalation (`escalation`, under the `escalateTo` rule), or a firing
 * held back (a silenced firing has no row yet: it is queued now; an inhibited one's row is
 * released to `pending`).
 */
export interface EmailTimerDeps {
  db: Kysely<Database>;
  rules: Pick<RuleRepository, 'activeEmailRules' | 'activeInhibitRules'>;
  queue: EmailQueue;
  /** Wakes the sender when a row was queued. */
  wake: () => void;
  logger: Logger;
  /** How often a held-back firing or a waiting repeat is looked at again, at least. */
  recheckMs?: number;
}

/** Schedules the timers a decision asks for (idempotent). */
export async function scheduleEmailTimers(
  db: Kysely<Database>,
  decision: Decision<StoredEmailRule>,
  change: { groupId: number; instanceId: number; kind: 'firing' | 'resolved'; labels: Record<string, string> },
  recheckMs = DEFAULT_HELD_RECHECK_MS,
): Promise<void> {
  await timerRepo(db).scheduleAll('email', timersFor(decision, change.kind, new Date(), recheckMs, change.labels), change);
}

/** A group's emails wait for its flush: at `groupWait` after the first, at `groupInterval` after an email (the timer exists then). */
export async function scheduleEmailGroupFlush(db: Kysely<Database>, rule: StoredEmailRule, groupKey: string): Promise<void> {
  await timerRepo(db).scheduleGroupFlush('email', rule, groupKey);
}

/** At most this many alerts in one group email; the rest go in the next one. */
export const MAX_ALERTS_PER_GROUP_EMAIL = 1_000;

export function emailTimerHandler(deps: EmailTimerDeps): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const recheckMs = deps.recheckMs ?? DEFAULT_HELD_RECHECK_MS;

  /**
   * A group's email: what fired and resolved since its last one (the group's `grouped` rows),
   * one `email_queue` row made of them and queued in the transaction that marks them `completed`
   * (email-queue.ts `flushGroup`); the sender sends it as any other, with its retries. Due again
   * after `groupInterval`; a flush that finds nothing ends the group's timer.
   */
  async function flushGroup(timer: NotificationTimer): Promise<TimerOutcome> {
    const rule = (await deps.rules.activeEmailRules()).find((candidate) => candidate.id === timer.rule_id);
    const flushed = await queueGroupEmail(timer, rule, 'changes');
    if (!flushed) return { action: 'done' };
    return { action: 'reschedule', dueAt: new Date(Date.now() + (rule?.groupIntervalMs ?? 0)) };
  }

  /** One email of the group's waiting rows (`changes` or `repeats`), queued; false when none waits. */
  async function queueGroupEmail(timer: NotificationTimer, rule: StoredEmailRule | undefined, which: 'changes' | 'repeats'): Promise<boolean> {
    const log = deps.logger.child({ timerId: timer.id, timer: timer.kind, ruleId: timer.rule_id, groupKey: timer.group_key });
    const flushed = await deps.queue.flushGroup(
      timer.rule_id,
      timer.group_key,
      MAX_ALERTS_PER_GROUP_EMAIL,
      async (rows) => {
        const episodes = await readEpisodes(
          deps.db,
          rows.map((row) => row.instance_id ?? 0),
        );
        const entries = rows.map((row) => {
          const change = row.instance_id === null ? undefined : episodes.get(row.instance_id)?.change;
          return {
            status: row.kind === 'resolved' ? ('resolved' as const) : ('firing' as const),
            labels: change?.group.labels ?? {},
            annotations: change?.instance.annotations ?? {},
            startsAt: change?.instance.startsAt ?? row.created_at.toISOString(),
            endsAt: row.kind === 'resolved' ? (change?.instance.endsAt ?? null) : null,
            text: row.body_text,
          };
        });
        // A rule deleted meanwhile: its templates are gone; the email lists each alert's own body.
        const email = composeGroupEmail(rule?.row ?? { name: `#${timer.rule_id}`, subject_template: '', body_template: '' }, timer.group_key, entries);
        if (email.templateError !== null)
          log.warn({ templateError: email.templateError }, 'group template failed to render; the group email lists each alert instead');
        return { recipients: rule?.recipients ?? rows[0]?.recipients ?? [], subject: email.subject, text: email.text, html: email.html };
      },
      which,
    );
    if (!flushed) return false;
    deps.wake();
    log.info({ emailId: flushed.emailId, alerts: flushed.rows.length }, which === 'repeats' ? 'group still firing: repeat email queued' : 'group email queued');
    return true;
  }

  /** A grouped rule's repeat (libs/db `dueTimerHandler` decides which alerts): each alert's `repeat` row, waiting in the group, then one email of them. */
  async function tellGroupRepeat(due: DueGroupRepeat<StoredEmailRule>, _log: Logger, timer: NotificationTimer): Promise<void> {
    for (const change of due.changes) {
      const email = composeEmail(due.rule.row, change);
      await deps.queue.enqueue({
        ruleId: due.rule.id,
        groupId: change.group.id,
        instanceId: change.instance.id,
        kind: 'repeat',
        sequence: due.sequence,
        recipients: due.rule.recipients,
        subject: email.subject,
        text: email.text,
        html: email.html,
        groupKey: due.groupKey,
      });
    }
    // Every waiting repeat row of the group (a try that died after queueing them included).
    await queueGroupEmail(timer, due.rule, 'repeats');
  }

  const emailFor = (target: StoredEmailRule, change: AlertChange, kind: QueuedEmail['kind'], sequence: number): QueuedEmail => {
    const email = composeEmail(target.row, change);
    return {
      ruleId: target.id,
      groupId: change.group.id,
      instanceId: change.instance.id,
      kind,
      sequence,
      recipients: target.recipients,
      subject: email.subject,
      text: email.text,
      html: email.html,
    };
  };
  /** Queues the email (once per row: false when it was queued before) and wakes the sender. */
  const queue = async (email: QueuedEmail) => {
    const queued = await deps.queue.enqueue(email);
    if (queued) deps.wake();
    return queued;
  };

  // A silence end: a grouped rule's email waits in its group for the group's next email.
  const tellReleased = async ({ rule, change }: DueTimerTell<StoredEmailRule>, log: Logger): Promise<TimerOutcome> => {
    const groupKey = groupKeyOf(rule.groupBy, change.group.labels);
    const released = await deps.queue.releaseInhibited(change.instance.id, rule.id, groupKey);
    const queued = released || (await queue({ ...emailFor(rule, change, 'firing', 0), groupKey }));
    if (groupKey !== null) await scheduleEmailGroupFlush(deps.db, rule, groupKey);
    else if (released) deps.wake();
    log.info(
      { queued, grouped: groupKey !== null },
      groupKey === null ? 'held-back firing queued: nothing holds it any more' : "held-back firing joins its group's next email: nothing holds it any more",
    );
    await scheduleEmailTimers(
      deps.db,
      { rule, action: 'send' },
      { groupId: change.group.id, instanceId: change.instance.id, kind: 'firing', labels: change.group.labels },
      recheckMs,
    );
    return { action: 'done' };
  };

  return dueTimerHandler({
    db: deps.db,
    rules: () => deps.rules.activeEmailRules(),
    inhibitRules: () => deps.rules.activeInhibitRules(),
    policy: timerPolicy,
    recheckMs,
    told: 'an email',
    logger: deps.logger,
    flushGroup,
    tellReleased,
    tellAgain: (kind, { target, change }, sequence) => queue(emailFor(target, change, kind, sequence)),
    toldAgain: 'still firing: repeat queued',
    groupRepeat: {
      firingsTold: (ruleId, groupKey, limit) => deps.queue.firingsToldInGroup(ruleId, groupKey, limit),
      limit: MAX_ALERTS_PER_GROUP_EMAIL,
      tell: tellGroupRepeat,
    },
  });
}
