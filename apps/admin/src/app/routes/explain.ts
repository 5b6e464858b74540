import { ErrorResponse, ExplainBody, ExplainView, type LabelSet } from '@sentryhub/contracts';
import { activeSilences, findInhibitingSource, firingsTold, ruleRepository, type Database, type StoredRule } from '@sentryhub/db';
import { fingerprint } from '@sentryhub/alert-identity';
import {
  decide,
  decisionReason,
  groupAttributes,
  inhibitionPredicates,
  matchCriteria,
  routeAlert,
  silenceMatches,
  silenceState,
  type Inhibition,
  type Route,
} from '@sentryhub/rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Kysely } from 'kysely';
import { renderEmail, renderSlack, snapshotOf } from '../rule-previews';

export interface ExplainRoutesOptions {
  db: Kysely<Database>;
  defaultChannel: string;
}

/** Every rule in the order of the search, with what the search did with it and why. */
function explainRules<R extends StoredRule & { row: { is_active: boolean } }>(route: Route<R>, labels: LabelSet) {
  return route.trace.map((step) => {
    const { rule } = step;
    const reason =
      step.outcome === 'inactive'
        ? rule.criteriaError
          ? `invalid match_criteria: ${rule.criteriaError}`
          : 'inactive'
        : step.outcome === 'no-match'
          ? `${step.failure.label}: ${step.failure.reason}`
          : step.outcome === 'not-reached'
            ? `not tried: the search stopped at "${route.stoppedAt?.name ?? ''}" (no continue)${rule.isActive && matchCriteria(rule.matchCriteria, labels).matched ? '; it would match' : ''}`
            : null;
    return {
      id: rule.id,
      name: rule.name,
      priority: rule.priority,
      isActive: rule.row.is_active,
      continue: rule.continue,
      matched: step.outcome === 'applied',
      outcome: step.outcome,
      reason,
    };
  });
}
/**
 * `POST /api/v1/explain`: for labels (or a known fingerprint), what SentryHub would do — the
 * fingerprint, the silences that match now, the inhibition that holds it back, every rule in
 * the order of the search with why it applies or not and where the search stopped, and what
 * each applied rule does (the notification policy of libs/rules, as the notifiers run it), for
 * the Slack, email and webhook rules alike (a webhook rule's receiver by name, never its URL).
 */
export async function explainRoutes(app: FastifyInstance, { db, defaultChannel }: ExplainRoutesOptions): Promise<void> {
  const rules = ruleRepository(db, { cacheMs: 0 });
  app
    .withTypeProvider<ZodTypeProvider>()
    .post(
      '/explain',
      { config: { role: 'editor' }, schema: { body: ExplainBody, response: { 200: ExplainView, 404: ErrorResponse } } },
      async (request, reply) => {
        const body = request.body;
        const byFingerprint =
          'fingerprint' in body ? await db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', body.fingerprint).executeTakeFirst() : undefined;
        if ('fingerprint' in body && !byFingerprint) return reply.code(404).send({ error: `no alert group has fingerprint ${body.fingerprint}` });
        const labels = 'labels' in body ? body.labels : (byFingerprint?.labels ?? {});
        const print = fingerprint(labels);
        const group = byFingerprint ?? (await db.selectFrom('alert_groups').selectAll().where('fingerprint', '=', print).executeTakeFirst());
        const now = new Date();
        const [silences, slackRules, emailRules, webhookRules, inhibitRules, instance] = await Promise.all([
          activeSilences(db, now),
          rules.allSlackRules(),
          rules.allEmailRules(),
          rules.allWebhookRules(),
          rules.allInhibitRules(),
          group
            ? db.selectFrom('alert_instances').selectAll().where('group_id', '=', group.id).orderBy('starts_at', 'desc').limit(1).executeTakeFirst()
            : undefined,
        ]);
        const matching = silences.filter((silence) => silenceMatches(silence, labels, now));
        const silence = silenceState(silences, labels, now);
        // A group not seen yet is pictured as a new firing one, so that its message can be shown.
        const stand = group ?? {
          id: 0,
          fingerprint: print,
          labels,
          ...groupAttributes(labels, 'explain'),
          current_status: 'firing' as const,
          firing_count: 0,
          first_occurrence: now,
          last_occurrence: now,
          acknowledged: false,
          acknowledged_by: null,
          acknowledged_at: null,
        };
        const snapshot = snapshotOf(stand, instance, silence);
        const kind = snapshot.group.status;

        const found = await findInhibitingSource(db, inhibitRules, { groupId: stand.id, labels }, inhibitionPredicates);
        const inhibition: Inhibition | null = found ? { ruleId: found.rule.id, ruleName: found.rule.name, sourceGroupId: found.sourceGroupId } : null;
        const source = found
          ? await db.selectFrom('alert_groups').select(['fingerprint', 'name']).where('id', '=', found.sourceGroupId).executeTakeFirst()
          : undefined;

        const slackRoute = routeAlert(slackRules, labels);
        const emailRoute = routeAlert(emailRules, labels);
        const webhookRoute = routeAlert(webhookRules, labels);
        const state = async (route: Route<StoredRule>, notifier: 'slack' | 'email' | 'webhook') => ({
          kind,
          silence: { silenced: silence.silenced, until: silence.until?.toISOString() ?? null },
          inhibition,
          firingSentUnder:
            instance && kind === 'resolved'
              ? await firingsTold(
                  db,
                  notifier,
                  instance.id,
                  route.applied.map((rule) => rule.id),
                )
              : new Set<number>(),
        });
        const slack = decide(slackRoute, await state(slackRoute, 'slack'));
        const email = decide(emailRoute, await state(emailRoute, 'email'));
        const webhook = decide(webhookRoute, await state(webhookRoute, 'webhook'));
        const slackApplied = slack.decisions.map((decision) => {
          const message = renderSlack(decision.rule.row, snapshot, kind, defaultChannel);
          return {
            rule: decision.rule.name,
            ruleId: decision.rule.id,
            decision: decision.action,
            reason: decisionReason(decision),
            channel: message.channel,
            text: message.text,
          };
        });
        const emailApplied = email.decisions.map((decision) => ({
          rule: decision.rule.name,
          ruleId: decision.rule.id,
          decision: decision.action,
          reason: decisionReason(decision),
          recipients: decision.rule.recipients,
          subject: renderEmail(decision.rule.row, snapshot, kind).subject.text,
        }));
        const webhookApplied = webhook.decisions.map((decision) => ({
          rule: decision.rule.name,
          ruleId: decision.rule.id,
          decision: decision.action,
          reason: decisionReason(decision),
          receiver: decision.rule.receiver,
        }));
        return {
          fingerprint: print,
          labels,
          groupId: group?.id ?? null,
          silences: matching.map((s) => ({ id: s.id, endsAt: s.endsAt.toISOString(), comment: s.comment, createdBy: s.createdBy })),
          silenced: silence.silenced,
          inhibitedBy: inhibition ? { ...inhibition, sourceFingerprint: source?.fingerprint ?? null, sourceName: source?.name ?? null } : null,
          slack: {
            rules: explainRules(slackRoute, labels),
            winner: slackApplied[0]?.rule ?? null,
            applied: slackApplied,
            stoppedAt: slack.stoppedAt?.name ?? null,
            channel: slackApplied[0]?.channel ?? null,
            text: slackApplied[0]?.text ?? null,
          },
          email: {
            rules: explainRules(emailRoute, labels),
            winner: emailApplied[0]?.rule ?? null,
            applied: emailApplied,
            stoppedAt: email.stoppedAt?.name ?? null,
            recipients: emailApplied[0]?.recipients ?? [],
            subject: emailApplied[0]?.subject ?? null,
          },
          webhook: {
            rules: explainRules(webhookRoute, labels),
            winner: webhookApplied[0]?.rule ?? null,
            applied: webhookApplied,
            stoppedAt: webhook.stoppedAt?.name ?? null,
            receiver: webhookApplied[0]?.receiver ?? null,
          },
        };
      },
    );
}
