import { MatchCriteria, type MatchableRule } from '@sentryhub/contracts';
import type { Database, EmailRule } from '@sentryhub/db';
import type { Logger } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';

export type ActiveEmailRule = MatchableRule & { row: EmailRule };

/** Active email rules, re-read at most every `cacheMs`; a rule with invalid criteria is skipped and logged. */
export function emailRuleStore(db: Kysely<Database>, cacheMs: number, logger: Logger) {
  let cached: { rules: ActiveEmailRule[]; until: number } | null = null;
  return async (): Promise<ActiveEmailRule[]> => {
    if (cached && cached.until > Date.now()) return cached.rules;
    const rows = await db.selectFrom('email_rules').selectAll().where('is_active', '=', true).execute();
    const rules = rows.flatMap((row) => {
      const criteria = MatchCriteria.safeParse(row.match_criteria);
      if (!criteria.success) {
        logger.warn({ ruleId: row.id, rule: row.name }, 'email rule has invalid match criteria; ignored');
        return [];
      }
      return [{ name: row.name, priority: row.priority, isActive: row.is_active, matchCriteria: criteria.data, row }];
    });
    cached = { rules, until: Date.now() + cacheMs };
    return rules;
  };
}
