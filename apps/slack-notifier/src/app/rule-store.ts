import { MatchCriteria, type MatchableRule } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';

/** An active `slack_rules` row, in the camelCase shape rule selection and rendering use. */
export interface ActiveSlackRule extends MatchableRule {
  id: number;
  slackChannel: string | null;
  messageTemplate: string;
  resolvedMessageTemplate: string | null;
  sendResolved: boolean;
  /** Every IPv4/IPv6 address in the text becomes `IP`. */
  replaceIpAddresses: boolean;
}

export interface SlackRuleStore {
  activeRules(logger: Logger): Promise<ActiveSlackRule[]>;
}

/**
 * The active Slack rules, read at most once per `cacheMs`: a burst of events costs one query,
 * and an edit in the console takes effect within seconds. Concurrent callers share one read.
 */
export function slackRuleStore(db: Kysely<Database>, cacheMs: number): SlackRuleStore {
  let cached: { rules: ActiveSlackRule[]; loadedAt: number } | null = null;
  let loading: Promise<ActiveSlackRule[]> | null = null;

  async function load(logger: Logger): Promise<ActiveSlackRule[]> {
    const rows = await db.selectFrom('slack_rules').selectAll().where('is_active', '=', true).execute();
    const rules: ActiveSlackRule[] = [];
    for (const row of rows) {
      const criteria = MatchCriteria.safeParse(row.match_criteria);
      if (!criteria.success) {
        // The admin API validates criteria; a row edited by hand must not match by accident.
        logger.warn({ ruleId: row.id, rule: row.name, issues: criteria.error.issues }, 'slack rule has invalid match_criteria; ignored');
        continue;
      }
      rules.push({
        id: row.id,
        name: row.name,
        priority: row.priority,
        isActive: row.is_active,
        matchCriteria: criteria.data,
        slackChannel: row.slack_channel,
        messageTemplate: row.message_template,
        resolvedMessageTemplate: row.resolved_message_template,
        sendResolved: row.send_resolved,
        replaceIpAddresses: row.replace_ip_addresses,
      });
    }
    return rules;
  }

  return {
    activeRules: (logger) => {
      if (cached && Date.now() - cached.loadedAt < cacheMs) return Promise.resolve(cached.rules);
      loading ??= load(logger)
        .then((rules) => {
          cached = { rules, loadedAt: Date.now() };
          return rules;
        })
        .finally(() => {
          loading = null;
        });
      return loading;
    },
  };
}
