import { recentSilences, timerEpisode, timerRepo, type Database, type NotificationTimer, type RuleRepository, type StoredEmailRule, type TimerOutcome } from '@sentryhub/db';
import type { Logger } from '@sentryhub/service-runtime';
import { DEFAULT_HELD_RECHECK_MS, inhibitionPredicates, silenceState, timersFor, timerVerdict, type Decision, type PolicyTimerKind } from '@sentryhub/rules';
import type { Kysely } from 'kysely';
import { composeEmail } from './compose-email';
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
export async function scheduleEmailTimers(db: Kysely<Database>, decision: Decision<StoredEmailRule>, change: { groupId: number; instanceId: number; kind: 'firing' | 'resolved' }, recheckMs = DEFAULT_HELD_RECHECK_MS): Promise<void> {
  await timerRepo(db).scheduleAll('email', timersFor(decision, change.kind, new Date(), recheckMs), change);
}

export function emailTimerHandler(deps: EmailTimerDeps): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const recheckMs = deps.recheckMs ?? DEFAULT_HELD_RECHECK_MS;
  const silences = recentSilences(deps.db);

  return async (timer: NotificationTimer): Promise<TimerOutcome> => {
    const kind = timer.kind as PolicyTimerKind | 'group_flush';
    if (kind === 'group_flush' || timer.instance_id === null) return { action: 'done' };
    const log = deps.logger.child({ timerId: timer.id, timer: kind, ruleId: timer.rule_id, instanceId: timer.instance_id });
    const rules = await deps.rules.activeEmailRules();
    const rule = rules.find((candidate) => candidate.id === timer.rule_id);
    if (!rule) return { action: 'done' };
    const now = new Date();
    const episode = await timerEpisode(deps.db, timer.instance_id, { inhibitRules: deps.rules.activeInhibitRules, silenceState, predicates: inhibitionPredicates, silences }, now);
    if (!episode) return { action: 'done' };
    const verdict = timerVerdict(kind, episode, now, recheckMs);
    if (verdict.action === 'drop') {
      log.debug({ reason: verdict.reason }, 'timer ends without an email');
      return { action: 'done' };
    }
    if (verdict.action === 'wait') return { action: 'reschedule', dueAt: verdict.until };

    const { change } = episode;
    const emailFor = (target: StoredEmailRule, emailKind: QueuedEmail['kind'], sequence: number): QueuedEmail => {
      const email = composeEmail(target.row, change);
      return { ruleId: target.id, groupId: change.group.id, instanceId: change.instance.id, kind: emailKind, sequence, recipients: target.recipients, subject: email.subject, text: email.text, html: email.html };
    };
    const queue = async (email: QueuedEmail) => {
      const queued = await deps.queue.enqueue(email);
      if (queued) deps.wake();
      return queued;
    };

    switch (kind) {
      case 'silence_end': {
        const released = await deps.queue.releaseInhibited(change.instance.id, rule.id);
        const queued = released || (await queue(emailFor(rule, 'firing', 0)));
        if (released) deps.wake();
        log.info({ queued }, 'held-back firing queued: nothing holds it any more');
        await scheduleEmailTimers(deps.db, { rule, action: 'send' }, { groupId: change.group.id, instanceId: change.instance.id, kind: 'firing' }, recheckMs);
        return { action: 'done' };
      }
      case 'repeat': {
        if (!rule.repeatIntervalMs) return { action: 'done' };
        const queued = await queue(emailFor(rule, 'repeat', timer.sequence));
        log.info({ queued, sequence: timer.sequence }, 'still firing: repeat queued');
        return { action: 'reschedule', dueAt: new Date(now.getTime() + rule.repeatIntervalMs), sequence: timer.sequence + 1 };
      }
      case 'escalation': {
        const target = rule.escalateTo === null ? undefined : rules.find((candidate) => candidate.id === rule.escalateTo);
        if (!target) {
          log.warn({ escalateTo: rule.escalateTo }, 'escalation rule is gone or inactive; not escalated');
          return { action: 'done' };
        }
        const queued = await queue(emailFor(target, 'escalation', 0));
        log.info({ queued, escalatedTo: target.id }, 'still firing unacknowledged: escalation queued');
        return { action: 'done' };
      }
    }
  };
}
