import type { AlertChange } from '@sentryhub/contracts';
import { recentSilences, timerEpisode, timerRepo, type Database, type Notification, type NotificationDraft, type NotificationTimer, type RuleRepository, type StoredWebhookRule, type TimerOutcome } from '@sentryhub/db';
import { DEFAULT_HELD_RECHECK_MS, inhibitionPredicates, silenceState, timersFor, timerVerdict, type Decision, type PolicyTimerKind } from '@sentryhub/rules';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';

/**
 * The webhook notifier's due timers (libs/db timers.ts claims them, libs/rules `timerVerdict`
 * decides), as the Slack and email notifiers' own: a repeat posts a still-firing,
 * unacknowledged, unsilenced episode again under the rule (a `repeat` row numbered by
 * `sequence`); an escalation posts it once to the `escalateTo` rule's receiver (an `escalation`
 * row under that rule); a held-back firing (`suppressed` or `inhibited` row) is released to
 * `pending` and posted once nothing holds it. Every post goes through its own `notifications`
 * row and the same exactly-once delivery as an event's. A repeat is a firing body with the
 * episode's dedup key: PagerDuty takes it as a trigger of the incident it already has.
 */
export interface WebhookTimerDeps {
  db: Kysely<Database>;
  rules: Pick<RuleRepository, 'activeWebhookRules' | 'activeInhibitRules'>;
  logger: Logger;
  /** How often a held-back firing or a waiting repeat is looked at again, at least. */
  heldRecheckMs?: number | undefined;
  /** A held-back firing's row made pending (or as it is, when an earlier try got this far). */
  releaseHeld: (instanceId: number, ruleId: number) => Promise<Notification | undefined>;
  draftFor: (rule: StoredWebhookRule, change: AlertChange, kind: NotificationDraft['kind'], sequence?: number) => NotificationDraft;
  deliverDraft: (draft: NotificationDraft, change: AlertChange, rule: StoredWebhookRule, log: Logger) => Promise<string>;
  deliverRow: (row: Notification, change: AlertChange, rule: StoredWebhookRule, log: Logger) => Promise<string>;
}

/** Schedules the timers a decision asks for (idempotent: a timer that exists stays as it is). */
export async function scheduleWebhookTimers(
  db: Kysely<Database>,
  decision: Decision<StoredWebhookRule>,
  change: { groupId: number; instanceId: number; kind: 'firing' | 'resolved' },
  recheckMs = DEFAULT_HELD_RECHECK_MS,
): Promise<void> {
  await timerRepo(db).scheduleAll('webhook', timersFor(decision, change.kind, new Date(), recheckMs), change);
}

/** A post that did not go out now (5xx, timeout, 429s) throws: the timer loop tries the timer again. */
const FAILED_FOR_NOW = new Set(['in-progress']);

export function webhookTimerHandler(deps: WebhookTimerDeps): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const recheckMs = deps.heldRecheckMs ?? DEFAULT_HELD_RECHECK_MS;
  const silences = recentSilences(deps.db);

  return async (timer: NotificationTimer): Promise<TimerOutcome> => {
    const kind = timer.kind as PolicyTimerKind | 'group_flush';
    // Webhook rules have no grouping yet: a group flush of theirs has nothing to send.
    if (kind === 'group_flush' || timer.instance_id === null) return { action: 'done' };
    const log = deps.logger.child({ timerId: timer.id, timer: kind, ruleId: timer.rule_id, instanceId: timer.instance_id });
    const rules = await deps.rules.activeWebhookRules();
    const rule = rules.find((candidate) => candidate.id === timer.rule_id);
    if (!rule) {
      log.debug('the rule is gone or inactive; timer dropped');
      return { action: 'done' };
    }
    const now = new Date();
    const episode = await timerEpisode(deps.db, timer.instance_id, { inhibitRules: deps.rules.activeInhibitRules, silenceState, predicates: inhibitionPredicates, silences }, now);
    if (!episode) return { action: 'done' };
    const { change } = episode;
    const verdict = timerVerdict(kind, episode, now, recheckMs);
    if (verdict.action === 'drop') {
      log.debug({ reason: verdict.reason }, 'timer ends without a post');
      return { action: 'done' };
    }
    if (verdict.action === 'wait') return { action: 'reschedule', dueAt: verdict.until };

    const settled = (outcome: string) => {
      // Another consumer holds the row right now: look again after its post.
      if (FAILED_FOR_NOW.has(outcome)) throw new Error('another consumer is posting this notification; tried again later');
      return outcome;
    };

    switch (kind) {
      case 'silence_end': {
        // The held row becomes pending; a firing held back before it was recorded (a crash) is recorded now.
        const held = await deps.releaseHeld(change.instance.id, rule.id);
        const outcome = settled(held ? await deps.deliverRow(held, change, rule, log) : await deps.deliverDraft(deps.draftFor(rule, change, 'firing'), change, rule, log));
        log.info({ outcome }, 'held-back firing posted: nothing holds it any more');
        await scheduleWebhookTimers(deps.db, { rule, action: 'send' }, { groupId: change.group.id, instanceId: change.instance.id, kind: 'firing' }, recheckMs);
        return { action: 'done' };
      }
      case 'repeat': {
        if (!rule.repeatIntervalMs) return { action: 'done' };
        const outcome = settled(await deps.deliverDraft(deps.draftFor(rule, change, 'repeat', timer.sequence), change, rule, log));
        log.info({ outcome, sequence: timer.sequence }, 'still firing: posted again');
        return { action: 'reschedule', dueAt: new Date(now.getTime() + rule.repeatIntervalMs), sequence: timer.sequence + 1 };
      }
      case 'escalation': {
        const target = rule.escalateTo === null ? undefined : rules.find((candidate) => candidate.id === rule.escalateTo);
        if (!target) {
          log.warn({ escalateTo: rule.escalateTo }, 'escalation rule is gone or inactive; not escalated');
          return { action: 'done' };
        }
        const outcome = settled(await deps.deliverDraft(deps.draftFor(target, change, 'escalation'), change, target, log));
        log.info({ outcome, escalatedTo: target.id }, 'still firing unacknowledged: escalated');
        return { action: 'done' };
      }
    }
  };
}
