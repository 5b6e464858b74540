import { ErrorResponse, ExplainBody, ExplainView, type LabelSet } from '@sentryhub/contracts';
import { activeSilences, type Database } from '@sentryhub/db';
import { fingerprint, matchCriteria, selectRule, silenceMatches, silenceState } from '@sentryhub/rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { renderEmail, renderSlack, selectable, snapshotOf, type SelectableRule } from '../rule-kinds';

export interface ExplainRoutesOptions {
  db: Kysely<Database>;
  defaultChannel: string;
}

function explainRules<R>(rules: SelectableRule<R>[], labels: LabelSet) {
  return rules.map((rule) => {
    const result = matchCriteria(rule.matchCriteria, labels);
    const reason = !rule.isActive ? 'inactive' : result.matched ? null : `${result.failure.label}: ${result.failure.reason}`;
    return { id: rule.id, name: rule.name, priority: rule.priority, isActive: rule.isActive, matched: rule.isActive && result.matched, reason };
  });
}

/**
 * `POST /api/v1/explain`: for labels (or a known fingerprint), what SentryHub would do — the
 * fingerprint, the silences that match now, every rule with why it matches or not, the winners
 * and what they would send.
 */
export async function explainRoutes(app: FastifyInstance, { db, defaultChannel }: ExplainRoutesOptions): Promise<void> {
  app.withTypeProvider<ZodTypeProvider>().post('/explain', { config: { role: 'editor' }, schema: { body: ExplainBody, response: { 200: ExplainView, 404: ErrorResponse } } }, async (request, reply) => {
    const body = request.body;
    const byFingerprint = 'fingerprint' in body ? await db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', body.fingerprint).executeTakeFirst() : undefined;
    if ('fingerprint' in body && !byFingerprint) return reply.code(404).send({ error: `no alert group has fingerprint ${body.fingerprint}` });
    const labels = 'labels' in body ? body.labels : (byFingerprint?.labels ?? {});
    const print = fingerprint(labels);
    const group = byFingerprint ?? (await db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', print).executeTakeFirst());
    const now = new Date();
    const [silences, slackRows, emailRows, instance] = await Promise.all([
      activeSilences(db, now),
      db.selectFrom('slack_rules').selectAll().orderBy('priority', 'desc').orderBy('name').execute(),
      db.selectFrom('email_rules').selectAll().orderBy('priority', 'desc').orderBy('name').execute(),
      group ? db.selectFrom('alert_instances').selectAll().where('group_id', '=', group.id).orderBy('starts_at', 'desc').limit(1).executeTakeFirst() : undefined,
    ]);
    const matching = silences.filter((silence) => silenceMatches(silence, labels, now));
    const silence = silenceState(silences, labels, now);
    // A group not seen yet is pictured as a new firing one, so that its message can be shown.
    const stand = group ?? { id: 0, fingerprint: print, name: labels['alertname'] || 'Unknown Alert', labels, severity: labels['severity'] ?? 'warning', instance: labels['instance'] ?? null, source: labels['source'] ?? 'explain', current_status: 'firing' as const, firing_count: 0, first_occurrence: now, last_occurrence: now, acknowledged: false, acknowledged_by: null, acknowledged_at: null };
    const snapshot = snapshotOf(stand, instance, silence);
    const kind = snapshot.group.status;

    const slackRules = slackRows.map(selectable);
    const slackWinner = selectRule(slackRules, labels);
    const slackMessage = slackWinner ? renderSlack(slackWinner.row, snapshot, kind, defaultChannel) : null;
    const emailRules = emailRows.map(selectable);
    const emailWinner = selectRule(emailRules, labels);
    return {
      fingerprint: print,
      labels,
      groupId: group?.id ?? null,
      silences: matching.map((s) => ({ id: s.id, endsAt: s.endsAt.toISOString(), comment: s.comment, createdBy: s.createdBy })),
      silenced: silence.silenced,
      slack: {
        rules: explainRules(slackRules, labels),
        winner: slackWinner?.name ?? null,
        channel: slackMessage?.channel ?? null,
        text: slackMessage?.text ?? null,
      },
      email: {
        rules: explainRules(emailRules, labels),
        winner: emailWinner?.name ?? null,
        recipients: emailWinner?.row.recipients ?? [],
        subject: emailWinner ? renderEmail(emailWinner.row, snapshot, kind).subject.text : null,
      },
    };
  });
}
