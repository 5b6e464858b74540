import type { AlertChange, AlertProcessed } from '@sentryhub/contracts';
import {
  findInhibitingSource,
  firingsTold,
  notificationRepo,
  type AttemptRecord,
  type Database,
  type Notification,
  type NotificationDraft,
  type RuleRepository,
  type StoredWebhookRule,
  type GroupDeadLetter,
} from '@sentryhub/db';
import { DependencyUnavailableError, type HandlerContext } from '@sentryhub/messaging';
import {
  decide,
  describeInhibition,
  episodeDedupKey,
  groupKeyOf,
  inhibitionPredicates,
  needsInhibitionCheck,
  renderWebhookBody,
  routeAlert,
  webhookContext,
  webhookTemplateOf,
  withReceiverParams,
  type Decision,
  type Inhibition,
} from '@sentryhub/rules';
import { Counter, lazyChild, type Logger, type Registry, type WebhookClient, type WebhookReceiver, type WebhookResult } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { scheduleWebhookGroupFlush, scheduleWebhookTimers, webhookTimerHandler } from './timers';

export interface AlertProcessedHandlerOptions {
  db: Kysely<Database>;
  rules: Pick<RuleRepository, 'activeWebhookRules' | 'activeInhibitRules'>;
  client: WebhookClient;
  receivers: ReadonlyMap<string, WebhookReceiver>;
  registry: Registry;
  /** WEBHOOK_EXTERNAL_URL: `external_url` in bodies. */
  externalUrl: string;
  /** Where the timers report (repeats, escalations, held-back firings). */
  logger: Logger;
  /** How often a held-back firing is looked at again, at least (timers.ts); 30 s when not given. */
  heldRecheckMs?: number;
  /** The delays between the tries of a group's body that the receiver did not take (MESSAGE_RETRY_DELAYS_MS). */
  retryDelaysMs?: readonly number[];
  /** Where a group's body that the receiver never took is dead-lettered. */
  deadLetter?: GroupDeadLetter;
}

/** A delivery that may work later (5xx, 408, network, timeout): the broker retries the message with back-off. */
export class RetryableDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableDeliveryError';
  }
}

/**
 * A receiver answered 429: the message comes back after the outage delay without using up a
 * retry, and the next attempt first waits out the Retry-After.
 */
export class WebhookRateLimitedError extends DependencyUnavailableError {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookRateLimitedError';
  }
}

export type WebhookOutcome = 'no-rule' | 'resolved-disabled' | 'suppressed' | 'inhibited' | 'grouped' | 'sent' | 'failed' | 'already-settled' | 'in-progress';

export function webhookMetrics(registry: Registry) {
  return {
    notifications: new Counter({
      name: 'sentryhub_webhook_notifications_total',
      help: 'Webhook notifications settled, by final status (sent, failed, suppressed, inhibited)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    requests: new Counter({
      name: 'sentryhub_webhook_requests_total',
      help: 'Requests to webhook receivers, by result (sent, rejected, retry, rate_limited)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

/** 429s waited out in one handling of a message before it goes back to the broker (outage retry, no retry used). */
const MAX_RATE_LIMITED_WAITS = 5;

/** The text of a row whose body could not be rendered (a JSON body never starts so). */
const NO_BODY = '(no body: ';

const asError = (error: unknown) => (error instanceof Error ? error : new Error(String(error)));

function attemptRecord(result: WebhookResult, lastAttempt: boolean): AttemptRecord {
  switch (result.outcome) {
    case 'sent':
      return { status: 'sent', lastError: null, deliveredVia: 'webhook' };
    case 'rejected':
      return { status: 'failed', lastError: result.error };
    case 'retry':
      // On the last attempt the message is dead-lettered next: the row must not stay pending.
      // A 429 never is: the receiver asked us to wait, and waiting uses up no retry.
      return { status: lastAttempt && !result.rateLimited ? 'failed' : 'pending', lastError: result.error };
  }
}

/**
 * `alert.processed.*` -> the webhook rules' notifications. The shared notification policy
 * (libs/rules) decides which rules apply and what each does; this only renders the body and
 * delivers it. Each applied rule has one `notifications` row per instance and kind (notifier
 * `webhook`), created `pending` before the request and claimed with FOR UPDATE SKIP LOCKED for
 * it, so two copies of an event (a redelivery, two replicas) post once. A transient failure
 * throws: the broker retries the message with back-off (retry queues), and on its last attempt
 * the row is marked failed and the message dead-lettered.
 */
export function alertProcessedHandler(options: AlertProcessedHandlerOptions) {
  const { db, rules, client, receivers } = options;
  const notifications = notificationRepo(db, { notifier: 'webhook' });
  const metrics = webhookMetrics(options.registry);
  /**
   * Rows a receiver accepted whose `sent` the database never recorded (it went away between the
   * 2xx and the commit): when their message comes back they are recorded, not posted again. A
   * crash of this process in that window still posts them twice (the receiver sees the same
   * X-SentryHub-Notification and dedup key).
   */
  const acceptedUnrecorded = new Set<number>();

  async function inhibitionOf(groupId: number, labels: Record<string, string>): Promise<Inhibition | null> {
    const inhibitRules = await rules.activeInhibitRules();
    if (inhibitRules.length === 0) return null;
    const found = await findInhibitingSource(db, inhibitRules, { groupId, labels }, inhibitionPredicates);
    return found ? { ruleId: found.rule.id, ruleName: found.rule.name, sourceGroupId: found.sourceGroupId } : null;
  }

  async function handleChange(change: AlertChange, context: HandlerContext): Promise<WebhookOutcome[]> {
    const kind = change.instance.status;
    const base = lazyChild(context.logger, { groupId: change.group.id, instanceId: change.instance.id, kind });
    const route = routeAlert(await rules.activeWebhookRules(), change.group.labels);
    if (route.applied.length === 0) return ['no-rule'];
    const silence = { silenced: change.group.silenced, until: change.group.silencedUntil };
    const inhibition = !silence.silenced && needsInhibitionCheck(route, kind) ? await inhibitionOf(change.group.id, change.group.labels) : null;
    const firingSentUnder =
      kind === 'resolved' && (silence.silenced || inhibition)
        ? await firingsTold(
            db,
            'webhook',
            change.instance.id,
            route.applied.map((rule) => rule.id),
          )
        : new Set<number>();
    const { decisions } = decide(route, { kind, silence, inhibition, firingSentUnder });
    const settled = await Promise.allSettled(decisions.map((decision) => handleDecision(change, decision, base, context.lastAttempt)));
    const failures = settled.flatMap((result) => (result.status === 'rejected' ? [asError(result.reason)] : []));
    // A rate limit is waited out first; any other failure uses up a retry.
    const [first] = failures.filter((error) => !(error instanceof WebhookRateLimitedError));
    if (first) throw first;
    if (failures[0]) throw failures[0];
    return settled.map((result) => (result.status === 'fulfilled' ? result.value : 'failed'));
  }

  async function handleDecision(change: AlertChange, decision: Decision<StoredWebhookRule>, base: Logger, lastAttempt: boolean): Promise<WebhookOutcome> {
    const { rule } = decision;
    const kind = change.instance.status;
    const log = lazyChild(base, { ruleId: rule.id, rule: rule.name, receiver: rule.receiver });
    if (decision.action === 'skip') return 'resolved-disabled';

    const draft = draftFor(rule, change, kind);
    // Repeats and escalation of a told firing; the end of what holds a held-back one (idempotent,
    // before the row: a crash after them leaves the notice to the timer, never lost).
    await scheduleWebhookTimers(
      db,
      decision,
      { groupId: change.group.id, instanceId: change.instance.id, kind, labels: change.group.labels },
      options.heldRecheckMs,
    );

    if (decision.action === 'suppressed') {
      if (await notifications.recordSuppressed(draft)) {
        metrics.notifications.inc({ status: 'suppressed' });
        log.info({ silencedUntil: change.group.silencedUntil }, 'group is silenced; webhook notification suppressed');
      }
      return 'suppressed';
    }
    if (decision.action === 'inhibited') {
      if (await notifications.recordInhibited(draft, decision.by.sourceGroupId, describeInhibition(decision.by))) {
        metrics.notifications.inc({ status: 'inhibited' });
        log.info({ inhibitedBy: decision.by }, 'group is inhibited; webhook notification held back');
      }
      return 'inhibited';
    }

    const groupKey = groupKeyOf(rule.groupBy, change.group.labels);
    if (groupKey === null) return deliverDraft(draft, change, rule, log, lastAttempt);
    // A grouped rule: the row goes out with its group's next message (timers.ts, group_flush).
    const { row } = await notifications.ensurePending({ ...draft, groupKey });
    if (row.status !== 'pending') return 'already-settled';
    if (row.group_key === null) return deliverRow(row, change, rule, log, lastAttempt);
    await scheduleWebhookGroupFlush(db, rule, row.group_key);
    return 'grouped';
  }

  /**
   * The row of `rule` for this episode: its body rendered now, with placeholders for the
   * receiver's params (never their values); a body that cannot be rendered makes a row that fails.
   */
  function draftFor(rule: StoredWebhookRule, change: AlertChange, kind: NotificationDraft['kind'], sequence = 0): NotificationDraft {
    const receiver = receivers.get(rule.receiver);
    const source = webhookTemplateOf(rule);
    const rendered =
      source === null
        ? ({ ok: false, error: `rule has neither a body template nor a known preset ("${rule.preset ?? ''}")` } as const)
        : renderWebhookBody(
            source,
            webhookContext(
              change.group,
              change.instance,
              { name: rule.receiver, params: Object.keys(receiver?.params ?? {}) },
              { externalUrl: options.externalUrl },
            ),
          );
    return {
      instanceId: change.instance.id,
      ruleId: rule.id,
      kind,
      sequence,
      groupId: change.group.id,
      channel: rule.receiver,
      text: rendered.ok ? rendered.body : `${NO_BODY}${rendered.error})`,
    };
  }

  /** Creates (or finds) the draft's row and posts it once, exactly as an event's notification. */
  async function deliverDraft(
    draft: NotificationDraft,
    change: AlertChange,
    rule: StoredWebhookRule,
    log: Logger,
    lastAttempt: boolean,
  ): Promise<WebhookOutcome> {
    const { row } = await notifications.ensurePending(draft);
    return deliverRow(row, change, rule, log, lastAttempt);
  }

  async function deliverRow(row: Notification, change: AlertChange, rule: StoredWebhookRule, log: Logger, lastAttempt: boolean): Promise<WebhookOutcome> {
    const receiver = receivers.get(rule.receiver);
    if (row.status !== 'pending') {
      log.debug({ notificationId: row.id, status: row.status }, 'notification already settled; redelivery ignored');
      return 'already-settled';
    }
    if (acceptedUnrecorded.has(row.id)) {
      const changed = await notifications.markSent([row.id], 'webhook');
      acceptedUnrecorded.delete(row.id);
      if (changed.length > 0) metrics.notifications.inc({ status: 'sent' });
      log.info({ notificationId: row.id }, 'recorded a webhook notification the receiver had accepted before the database went away; not posted again');
      return changed.length > 0 ? 'sent' : 'already-settled';
    }

    // A 429 is waited out here, in this process (the receiver's Retry-After), and the row claimed
    // again: the message stays with this consumer instead of going to a replica that never saw the 429.
    for (let limited = 0; ; limited++) {
      const outcome = await attempt(row.id, change, rule, receiver, log, lastAttempt);
      if (outcome !== 'rate-limited') return outcome.value;
      if (limited + 1 >= MAX_RATE_LIMITED_WAITS) throw new WebhookRateLimitedError(`receiver ${rule.receiver} kept answering 429`);
    }
  }

  /** One claim and request of a pending row; `rate-limited` once the receiver's Retry-After has passed. */
  async function attempt(
    rowId: number,
    change: AlertChange,
    rule: StoredWebhookRule,
    receiver: WebhookReceiver | undefined,
    log: Logger,
    lastAttempt: boolean,
  ): Promise<{ value: WebhookOutcome } | 'rate-limited'> {
    const kind = change.instance.status;
    await client.whenOpen(rule.receiver);
    let accepted = false;
    const claim = await notifications
      .claimPending([rowId], async (pending) => {
        const [only] = pending;
        if (!only) throw new Error('claimPending attempted without a row');
        let result: WebhookResult;
        // A body that could not be rendered is refused as a receiver would refuse it: failed, not retried.
        if (only.text.startsWith(NO_BODY)) result = { outcome: 'rejected', error: only.text };
        else {
          // The row's text: a row left pending by a crash is posted as it was recorded.
          result = await client.deliver({
            receiver: rule.receiver,
            body: withReceiverParams(only.text, receiver?.params ?? {}),
            kind,
            dedupKey: episodeDedupKey(change.group.id, change.instance.id),
            notificationId: only.id,
          });
          metrics.requests.inc({ result: result.outcome === 'retry' && result.rateLimited ? 'rate_limited' : result.outcome });
        }
        accepted = result.outcome === 'sent';
        return { records: new Map([[only.id, attemptRecord(result, lastAttempt)]]), digest: null, result };
      })
      .catch((error: unknown) => {
        if (accepted) {
          acceptedUnrecorded.add(rowId);
          log.warn({ err: error, notificationId: rowId }, 'the receiver accepted, but recording it failed; recorded on the next attempt, not posted again');
        }
        throw error;
      });

    const [attempted] = claim.attempted;
    const { result } = claim;
    if (!attempted || !result) {
      if (claim.locked.length > 0) return { value: 'already-settled' };
      // Another consumer holds the row right now: it finishes it, or its message comes back.
      log.debug({ notificationId: rowId }, 'another consumer is delivering this webhook notification');
      return { value: 'in-progress' };
    }
    const fields = { notificationId: attempted.id, attempts: attempted.attempts };
    switch (result.outcome) {
      case 'sent':
        metrics.notifications.inc({ status: 'sent' });
        log.info({ ...fields, status: result.status }, 'webhook notification sent');
        return { value: 'sent' };
      case 'rejected':
        metrics.notifications.inc({ status: 'failed' });
        log.error({ ...fields, error: result.error }, 'webhook notification refused; marked failed, not retried');
        return { value: 'failed' };
      case 'retry':
        if (attempted.status === 'failed') {
          metrics.notifications.inc({ status: 'failed' });
          log.error({ ...fields, error: result.error }, 'last delivery attempt failed; marked failed');
        } else {
          log.warn({ ...fields, error: result.error }, 'webhook delivery failed; retried later');
        }
        if (result.rateLimited) return 'rate-limited';
        throw new RetryableDeliveryError(result.error);
    }
  }

  const handler = async (event: AlertProcessed, context: HandlerContext): Promise<void> => {
    const settled = await Promise.allSettled(event.changes.map((change) => handleChange(change, context)));
    const failures = settled.flatMap((result) => (result.status === 'rejected' ? [asError(result.reason)] : []));
    context.logger.debug(
      { eventId: event.id, changes: event.changes.length, failures: failures.length, lastAttempt: context.lastAttempt },
      'alert.processed handled',
    );
    const [first] = failures.filter((error) => !(error instanceof WebhookRateLimitedError));
    if (first) throw first;
    if (failures[0]) throw failures[0];
  };

  /** The due timers of this notifier (repeats, escalations, held-back firings), for the timer loop (libs/db timerLoop). */
  const handleTimer = webhookTimerHandler({
    db,
    rules,
    logger: options.logger,
    heldRecheckMs: options.heldRecheckMs,
    retryDelaysMs: options.retryDelaysMs,
    deadLetter: options.deadLetter,
    draftFor,
    notifications,
    client,
    receivers,
    externalUrl: options.externalUrl,
    countSettled: (status, n) => metrics.notifications.inc({ status }, n),
    countRequest: (result) => metrics.requests.inc({ result }),
    deliverDraft: (draft, change, rule, log) => deliverDraft(draft, change, rule, log, false),
    deliverRow: (row, change, rule, log) => deliverRow(row, change, rule, log, false),
  });
  return Object.assign(handler, { handleTimer });
}
