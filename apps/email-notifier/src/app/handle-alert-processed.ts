import type { AlertChange, AlertProcessed } from '@sentryhub/contracts';
import { findInhibitingSource, firingsTold, recordInhibitedEmail, type Database, type RuleRepository, type StoredEmailRule } from '@sentryhub/db';
import type { HandlerContext } from '@sentryhub/messaging';
import {
  composeEmail,
  decide,
  describeInhibition,
  groupKeyOf,
  inhibitionPredicates,
  needsInhibitionCheck,
  routeAlert,
  type Decision,
  type Inhibition,
} from '@sentryhub/rules';
import { Counter, createLogger, lazyChild, type Logger, type Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import type { EmailQueue } from './email-queue';
import { emailTimerHandler, scheduleEmailGroupFlush, scheduleEmailTimers } from './timers';

export interface EnqueueDeps {
  db: Kysely<Database>;
  /** The shared rule storage (libs/db): active email rules and inhibition rules, cached. */
  rules: Pick<RuleRepository, 'activeEmailRules' | 'activeInhibitRules'>;
  queue: EmailQueue;
  registry: Registry;
  /** Wakes the sender when a row was queued. */
  wake: () => void;
  /** Where the timers report (repeats, escalations, held-back firings). */
  logger?: Logger;
  /** How often a held-back firing (silence, inhibition) is looked at again, at least; 30 s when not given. */
  heldRecheckMs?: number;
}

type Outcome = 'queued' | 'grouped' | 'duplicate' | 'no_rule' | 'not_sent_resolved' | 'silenced' | 'inhibited';

/**
 * `alert.processed.*` -> at most one `email_queue` row per (instance, rule, kind), for every
 * rule the notification policy applies (libs/rules: the first matching rule by priority, then
 * name, and the next ones while a rule has `continue`). A silenced group gets no row (as
 * before); an inhibited one gets an `inhibited` row naming the source group, which the sender
 * never picks. The message is acked once its rows are stored; sending is the sender's job,
 * from the table, so that a requeued row and a redelivered event follow the same path.
 */
export function alertProcessedHandler(deps: EnqueueDeps) {
  const outcomes = new Counter({
    name: 'sentryhub_email_changes_total',
    help: 'alert.processed changes seen by the email notifier, by outcome (one per applied rule)',
    labelNames: ['outcome'] as const,
    registers: [deps.registry],
  });
  const templateFailures = new Counter({
    name: 'sentryhub_email_template_failures_total',
    help: 'Emails sent with the safe default text because a template failed',
    registers: [deps.registry],
  });

  async function inhibitionOf(change: AlertChange): Promise<Inhibition | null> {
    const rules = await deps.rules.activeInhibitRules();
    if (rules.length === 0) return null;
    const found = await findInhibitingSource(deps.db, rules, { groupId: change.group.id, labels: change.group.labels }, inhibitionPredicates);
    return found ? { ruleId: found.rule.id, ruleName: found.rule.name, sourceGroupId: found.sourceGroupId } : null;
  }

  async function handleChange(change: AlertChange, logger: Logger): Promise<Outcome[]> {
    const route = routeAlert(await deps.rules.activeEmailRules(), change.group.labels);
    if (route.applied.length === 0) return ['no_rule'];
    const kind = change.instance.status;
    const silence = { silenced: change.group.silenced, until: change.group.silencedUntil };
    const inhibition = !silence.silenced && needsInhibitionCheck(route, kind) ? await inhibitionOf(change) : null;
    const firingSentUnder =
      kind === 'resolved' && (silence.silenced || inhibition)
        ? await firingsTold(
            deps.db,
            'email',
            change.instance.id,
            route.applied.map((rule) => rule.id),
          )
        : new Set<number>();
    const { decisions } = decide(route, { kind, silence, inhibition, firingSentUnder });
    const results: Outcome[] = [];
    for (const decision of decisions) results.push(await handleDecision(change, decision, logger));
    return results;
  }

  async function handleDecision(change: AlertChange, decision: Decision<StoredEmailRule>, logger: Logger): Promise<Outcome> {
    const { rule } = decision;
    const kind = change.instance.status;
    if (decision.action === 'skip') return 'not_sent_resolved';
    // Repeats and escalation of a told firing; the end of what holds a held-back one (idempotent).
    await scheduleEmailTimers(
      deps.db,
      decision,
      { groupId: change.group.id, instanceId: change.instance.id, kind, labels: change.group.labels },
      deps.heldRecheckMs,
    );
    // Silenced groups are not notified (no row), except the resolution of an episode whose firing went out.
    if (decision.action === 'suppressed') return 'silenced';
    const email = composeEmail(rule.row, change);
    const held = {
      ruleId: rule.id,
      groupId: change.group.id,
      instanceId: change.instance.id,
      kind,
      recipients: rule.recipients,
      subject: email.subject,
      text: email.text,
      html: email.html,
    };
    if (decision.action === 'inhibited') {
      const reason = describeInhibition(decision.by);
      if (await recordInhibitedEmail(deps.db, { ...held, inhibitedByGroupId: decision.by.sourceGroupId, reason }))
        logger.info({ rule: rule.name, inhibitedBy: decision.by }, 'group is inhibited; email held back');
      return 'inhibited';
    }
    if (email.templateError) {
      templateFailures.inc();
      logger.warn({ rule: rule.name, error: email.templateError }, 'email template failed; sending the safe default text');
    }
    const groupKey = groupKeyOf(rule.groupBy, change.group.labels);
    if (groupKey !== null) {
      // A grouped rule: the email waits for its group's email (timers.ts, group_flush).
      const created = await deps.queue.enqueue({ ...held, groupKey });
      await scheduleEmailGroupFlush(deps.db, rule, groupKey);
      return created ? 'grouped' : 'duplicate';
    }
    const created = await deps.queue.enqueue(held);
    return created ? 'queued' : 'duplicate';
  }

  const handler = async (event: AlertProcessed, context: HandlerContext): Promise<void> => {
    let queued = 0;
    for (const change of event.changes) {
      const logger = lazyChild(context.logger, { groupId: change.group.id, instanceId: change.instance.id });
      for (const outcome of await handleChange(change, logger)) {
        outcomes.inc({ outcome });
        if (outcome === 'queued') queued += 1;
      }
    }
    if (queued > 0) {
      context.logger.info({ eventId: event.id, queued }, 'emails queued');
      deps.wake();
    }
  };

  /** The due timers of this notifier, for the timer loop (libs/db timerLoop). */
  const handleTimer = emailTimerHandler({
    db: deps.db,
    rules: deps.rules,
    queue: deps.queue,
    wake: deps.wake,
    logger: deps.logger ?? createLogger('email-notifier', 'silent'),
    ...(deps.heldRecheckMs === undefined ? {} : { recheckMs: deps.heldRecheckMs }),
  });
  return Object.assign(handler, { handleTimer });
}
