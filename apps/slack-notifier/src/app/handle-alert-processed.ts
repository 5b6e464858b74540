import { HEADERS, RETRY_DELAYS_MS, type AlertProcessed } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { HandlerContext } from '@sentryhub/messaging';
import type { Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { slackMetrics } from './metrics';
import { notificationRepo } from './notification-repo';
import { notifyChange, type NotifyOutcome } from './notify';
import { slackRuleStore } from './rule-store';
import type { SlackSender } from './slack-client';

export interface AlertProcessedHandlerOptions {
  db: Kysely<Database>;
  slack: SlackSender;
  registry: Registry;
  defaultChannel: string;
  rulesCacheMs: number;
}

/**
 * `alert.processed.*` -> one Slack notification per change whose group a rule matches.
 * Every change is tried even when an earlier one failed; then a transient failure throws,
 * so that the broker retries the message (changes already settled are skipped then).
 */
export function alertProcessedHandler(options: AlertProcessedHandlerOptions) {
  const deps = {
    rules: slackRuleStore(options.db, options.rulesCacheMs),
    notifications: notificationRepo(options.db),
    slack: options.slack,
    metrics: slackMetrics(options.registry),
    defaultChannel: options.defaultChannel,
  };

  return async (event: AlertProcessed, context: HandlerContext): Promise<void> => {
    const retries = Number(context.message.properties.headers?.[HEADERS.retryCount] ?? 0);
    const lastAttempt = retries >= RETRY_DELAYS_MS.length;
    const outcomes: Partial<Record<NotifyOutcome, number>> = {};
    const failures: Error[] = [];
    for (const change of event.changes) {
      try {
        const outcome = await notifyChange(deps, change, { logger: context.logger, lastAttempt });
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      } catch (error) {
        failures.push(error instanceof Error ? error : new Error(String(error)));
      }
    }
    context.logger.debug({ eventId: event.id, changes: event.changes.length, outcomes, failures: failures.length, retries }, 'alert.processed handled');
    const [first] = failures;
    if (first) {
      const message = failures.length === 1 ? first.message : `${failures.length} of ${event.changes.length} notifications failed; first: ${first.message}`;
      throw new Error(message, { cause: first });
    }
  };
}
