import type { AlertChange } from '@sentryhub/contracts';
import { randomUUID } from 'node:crypto';
import { RETRY_DELAYS_MS } from '@sentryhub/contracts';
import {
  dueTimerHandler,
  groupSendTry,
  notificationGroupTimers,
  readEpisodes,
  timerRepo,
  type DueTimerTell,
  type GroupDeadLetter,
  type Database,
  type Notification,
  type NotificationDraft,
  type NotificationRepo,
  type NotificationTimer,
  type RuleRepository,
  type StoredWebhookRule,
  type TimerOutcome,
} from '@sentryhub/db';
import {
  DEFAULT_HELD_RECHECK_MS,
  groupDedupKey,
  groupKeyOf,
  renderWebhookBody,
  timersFor,
  timerPolicy,
  webhookGroupContext,
  webhookTemplateOf,
  withReceiverParams,
  type Decision,
  type WebhookGroupEntry,
} from '@sentryhub/rules';
import type { Logger, WebhookClient, WebhookReceiver, WebhookResult } from '@sentryhub/service-runtime';
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
  /** The webhook notifier's rows (held-back firings released, a group's pending rows claimed). */
  notifications: Pick<NotificationRepo, 'releaseHeld' | 'pendingInGroup' | 'claimPending' | 'ensurePending' | 'firingsToldInGroup'>;
  client: Pick<WebhookClient, 'deliver' | 'whenOpen'>;
  receivers: ReadonlyMap<string, WebhookReceiver>;
  /** WEBHOOK_EXTERNAL_URL: `external_url` in bodies. */
  externalUrl: string;
  countSettled: (status: 'sent' | 'failed', rows: number) => void;
  countRequest: (result: 'sent' | 'rejected' | 'retry' | 'rate_limited') => void;
  draftFor: (rule: StoredWebhookRule, change: AlertChange, kind: NotificationDraft['kind'], sequence?: number) => NotificationDraft;
  deliverDraft: (draft: NotificationDraft, change: AlertChange, rule: StoredWebhookRule, log: Logger) => Promise<string>;
  deliverRow: (row: Notification, change: AlertChange, rule: StoredWebhookRule, log: Logger) => Promise<string>;
  /**
   * The delays between the tries of a group's body that the receiver did not take (the broker's
   * MESSAGE_RETRY_DELAYS_MS); after the last, its rows are `failed` and it is dead-lettered.
   */
  retryDelaysMs?: readonly number[] | undefined;
  /** Where a group's body that the receiver never took goes (`webhook-notifier.alerts-processed.dead`); without it its rows only fail. */
  deadLetter?: GroupDeadLetter | undefined;
}

/** Schedules the timers a decision asks for (idempotent: a timer that exists stays as it is). */
export async function scheduleWebhookTimers(
  db: Kysely<Database>,
  decision: Decision<StoredWebhookRule>,
  change: { groupId: number; instanceId: number; kind: 'firing' | 'resolved'; labels: Record<string, string> },
  recheckMs = DEFAULT_HELD_RECHECK_MS,
): Promise<void> {
  await timerRepo(db).scheduleAll('webhook', timersFor(decision, change.kind, new Date(), recheckMs, change.labels), change);
}

/** A group's rows wait for its flush: at `groupWait` after the first, at `groupInterval` after a message (the timer exists then). */
export async function scheduleWebhookGroupFlush(db: Kysely<Database>, rule: StoredWebhookRule, groupKey: string): Promise<void> {
  await timerRepo(db).scheduleGroupFlush('webhook', rule, groupKey);
}

/** At most this many alerts in one group body; the rest go in the next one. */
export const MAX_ALERTS_PER_GROUP_BODY = 1_000;

/** A post that did not go out now (5xx, timeout, 429s) throws: the timer loop tries the timer again. */
const FAILED_FOR_NOW = new Set(['in-progress']);

export function webhookTimerHandler(deps: WebhookTimerDeps): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const recheckMs = deps.heldRecheckMs ?? DEFAULT_HELD_RECHECK_MS;
  const retryDelaysMs = deps.retryDelaysMs ?? RETRY_DELAYS_MS;

  /**
   * A group's body: its pending rows (what fired and resolved since its last body, or its repeat
   * rows) rendered once with the group context (libs/rules `webhookGroupContext`: the Alertmanager
   * preset is Alertmanager's own webhook of the group) and posted once; every row recorded with the
   * body's `digest_id` in the transaction that locked them (FOR UPDATE SKIP LOCKED: a replica that
   * died before the commit leaves them pending for the next try). A body that cannot be rendered,
   * a rule that is gone, a receiver that refuses: the rows fail. A receiver that does not take it
   * (5xx, timeout, 429) leaves them pending and throws: the timer is tried again after the next of
   * the retry delays; the try after the last delay records them `failed` and dead-letters the
   * group's alerts with the reason, as the broker does with an alert's post.
   */
  async function sendGroup(timer: NotificationTimer, rule: StoredWebhookRule | undefined, rows: Notification[], log: Logger): Promise<void> {
    const episodes = await readEpisodes(
      deps.db,
      rows.map((row) => row.instance_id),
    );
    if (rule) await deps.client.whenOpen(rule.receiver);
    const attempt = groupSendTry(timer, {
      retryDelaysMs,
      deadLetter: deps.deadLetter,
      retryFallbackMs: recheckMs,
      notTaken: 'the receiver did not take the group body',
    });
    const claimed = await deps.notifications.claimPending(
      rows.map((row) => row.id),
      async (pending) => {
        const entries: WebhookGroupEntry[] = pending.flatMap((row) => {
          const change = episodes.get(row.instance_id)?.change;
          if (!change) return [];
          // The row tells what happened (a firing row stays a firing in this body, even if it resolved since).
          const status = row.kind === 'resolved' ? ('resolved' as const) : ('firing' as const);
          return [{ group: change.group, instance: { ...change.instance, status, endsAt: status === 'firing' ? null : change.instance.endsAt } }];
        });
        const source = rule ? webhookTemplateOf(rule) : null;
        let result: WebhookResult;
        let firing = true;
        if (!rule) result = { outcome: 'rejected', error: 'the grouped rule is gone or inactive' };
        else if (source === null) result = { outcome: 'rejected', error: `rule has neither a body template nor a known preset ("${rule.preset ?? ''}")` };
        else if (entries.length === 0) result = { outcome: 'rejected', error: 'the alerts of the group are gone' };
        else {
          const receiver = deps.receivers.get(rule.receiver);
          const context = webhookGroupContext(
            rule.id,
            timer.group_key,
            entries,
            { name: rule.receiver, params: Object.keys(receiver?.params ?? {}) },
            { externalUrl: deps.externalUrl },
          );
          firing = context['status'] === 'firing';
          const rendered = renderWebhookBody(source, context);
          if (!rendered.ok) result = { outcome: 'rejected', error: rendered.error };
          else {
            result = await deps.client.deliver({
              receiver: rule.receiver,
              body: withReceiverParams(rendered.body, receiver?.params ?? {}),
              kind: firing ? 'firing' : 'resolved',
              dedupKey: groupDedupKey(rule.id, timer.group_key),
              // The same on every attempt of these rows: a receiver can drop a repeat.
              notificationId: `group-${Math.min(...pending.map((row) => row.id))}`,
            });
            deps.countRequest(result.outcome === 'retry' && result.rateLimited ? 'rate_limited' : result.outcome);
          }
        }
        const record = await attempt.record(result, { status: 'sent', lastError: null, deliveredVia: 'webhook' }, pending, episodes);
        return { records: new Map(pending.map((row) => [row.id, record])), digest: { id: randomUUID(), size: pending.length }, result: { result, firing } };
      },
    );
    const dead = attempt.settle();
    const outcome = claimed.result?.result;
    if (outcome?.outcome === 'sent') {
      deps.countSettled('sent', claimed.attempted.length);
      log.info({ receiver: rule?.receiver, alerts: claimed.attempted.length, firing: claimed.result?.firing }, 'group body posted');
    } else if (outcome?.outcome === 'rejected') {
      deps.countSettled('failed', claimed.attempted.length);
      log.error(
        { receiver: rule?.receiver, alerts: claimed.attempted.length, error: outcome.error },
        'group body refused; its rows marked failed, not retried',
      );
    } else if (dead) {
      deps.countSettled('failed', claimed.attempted.length);
      log.error(
        { receiver: rule?.receiver, alerts: claimed.attempted.length, attempts: timer.attempts, error: dead.error },
        'the receiver never took the group body; its rows marked failed and the body dead-lettered',
      );
    }
  }

  // A group's flush and a grouped rule's repeat (one firing body of the group's repeat rows under
  // the group's dedup key, PagerDuty: a trigger of the group's incident): libs/db group-send.ts.
  const group = notificationGroupTimers({
    rules: () => deps.rules.activeWebhookRules(),
    notifications: deps.notifications,
    limit: MAX_ALERTS_PER_GROUP_BODY,
    logger: deps.logger,
    draftFor: deps.draftFor,
    send: sendGroup,
    repeatTold: 'group still firing: posted again',
    scheduleFlush: (rule, groupKey) => scheduleWebhookGroupFlush(deps.db, rule, groupKey),
  });

  const settled = (outcome: string) => {
    // Another consumer holds the row right now: look again after its post.
    if (FAILED_FOR_NOW.has(outcome)) throw new Error('another consumer is posting this notification; tried again later');
    return outcome;
  };

  // A silence end: the held row becomes pending; a firing held back before it was recorded (a
  // crash) is recorded now. A grouped rule's row waits in its group for the group's next body.
  const tellReleased = async ({ rule, change }: DueTimerTell<StoredWebhookRule>, log: Logger): Promise<TimerOutcome> => {
    const groupKey = groupKeyOf(rule.groupBy, change.group.labels);
    const held = await deps.notifications.releaseHeld(change.instance.id, rule.id, groupKey);
    if (groupKey !== null) {
      const row = await group.joinGroup(rule, change, held, groupKey);
      log.info({ status: row.status }, "held-back firing joins its group's next body: nothing holds it any more");
    } else {
      const outcome = settled(
        held ? await deps.deliverRow(held, change, rule, log) : await deps.deliverDraft(deps.draftFor(rule, change, 'firing'), change, rule, log),
      );
      log.info({ outcome }, 'held-back firing posted: nothing holds it any more');
    }
    await scheduleWebhookTimers(
      deps.db,
      { rule, action: 'send' },
      { groupId: change.group.id, instanceId: change.instance.id, kind: 'firing', labels: change.group.labels },
      recheckMs,
    );
    return { action: 'done' };
  };

  return dueTimerHandler({
    db: deps.db,
    rules: () => deps.rules.activeWebhookRules(),
    inhibitRules: () => deps.rules.activeInhibitRules(),
    policy: timerPolicy,
    recheckMs,
    told: 'a post',
    logger: deps.logger,
    flushGroup: group.flushGroup,
    groupRepeat: group.groupRepeat,
    tellReleased,
    tellAgain: async (kind, { target, change }, sequence, log) =>
      settled(await deps.deliverDraft(deps.draftFor(target, change, kind, sequence), change, target, log)),
    toldAgain: 'still firing: posted again',
  });
}
