import type { AlertChange, AlertProcessed } from '@sentryhub/contracts';
import type { HandlerContext } from '@sentryhub/messaging';
import { selectRule } from '@sentryhub/rules';
import { Counter, type Logger, type Registry } from '@sentryhub/service-runtime';
import { composeEmail } from './compose-email';
import type { EmailQueue } from './email-queue';
import type { ActiveEmailRule } from './email-rule-store';

export interface EnqueueDeps {
  rules: () => Promise<ActiveEmailRule[]>;
  queue: EmailQueue;
  registry: Registry;
  /** Wakes the sender when a row was queued. */
  wake: () => void;
}

type Outcome = 'queued' | 'duplicate' | 'no_rule' | 'not_sent_resolved' | 'silenced';

/**
 * `alert.processed.*` -> at most one `email_queue` row per (instance, rule, kind). The message is
 * acked once its rows are stored; sending is the sender's job, from the table, so that a
 * requeued row and a redelivered event follow the same path.
 */
export function alertProcessedHandler(deps: EnqueueDeps) {
  const outcomes = new Counter({ name: 'sentryhub_email_changes_total', help: 'alert.processed changes seen by the email notifier, by outcome', labelNames: ['outcome'] as const, registers: [deps.registry] });
  const templateFailures = new Counter({ name: 'sentryhub_email_template_failures_total', help: 'Emails sent with the safe default text because a template failed', registers: [deps.registry] });

  async function handleChange(change: AlertChange, logger: Logger): Promise<Outcome> {
    const rule = selectRule(await deps.rules(), change.group.labels);
    if (!rule) return 'no_rule';
    const kind = change.instance.status;
    if (kind === 'resolved' && !rule.row.send_resolved) return 'not_sent_resolved';
    // Silenced groups are not notified, except the resolution of an episode whose firing went out.
    if (change.group.silenced && (kind === 'firing' || !(await deps.queue.firingWasSent(change.instance.id, rule.row.id)))) return 'silenced';
    const email = composeEmail(rule.row, change);
    if (email.templateError) {
      templateFailures.inc();
      logger.warn({ rule: rule.name, error: email.templateError }, 'email template failed; sending the safe default text');
    }
    const created = await deps.queue.enqueue({ ruleId: rule.row.id, groupId: change.group.id, instanceId: change.instance.id, kind, recipients: rule.row.recipients, subject: email.subject, text: email.text, html: email.html });
    return created ? 'queued' : 'duplicate';
  }

  return async (event: AlertProcessed, context: HandlerContext): Promise<void> => {
    let queued = 0;
    for (const change of event.changes) {
      const logger = context.logger.child({ groupId: change.group.id, instanceId: change.instance.id });
      const outcome = await handleChange(change, logger);
      outcomes.inc({ outcome });
      if (outcome === 'queued') queued += 1;
    }
    if (queued > 0) {
      context.logger.info({ eventId: event.id, queued }, 'emails queued');
      deps.wake();
    }
  };
}
