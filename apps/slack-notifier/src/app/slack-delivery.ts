import { randomUUID } from 'node:crypto';
import type { Notification } from '@sentryhub/db';
import { foldDigest } from '@sentryhub/rules';
import { DependencyUnavailableError } from '@sentryhub/messaging';
import type { Logger } from '@sentryhub/service-runtime';
import { channelPacer, type Settlement } from './channel-pacer';
import type { SlackMetrics } from './metrics';
import type { AttemptRecord, DigestRef, NotificationRepo } from './notification-repo';
import type { DeliveryResult, SlackSender } from './slack-client';

/** A `pending` notification that wants to go out. */
export interface DeliveryRequest {
  notificationId: number;
  /** The broker will not retry this message again: a transient failure now is final. */
  lastAttempt: boolean;
  /** When the alert processor processed the change (`AlertProcessed.processedAt`): where latency starts. */
  processedAt: string;
  /** The logger of the message and change that asked (correlationId, rule, instance). */
  logger: Logger;
}

/** What came of a request, when Slack need not be asked again. */
export type DeliveryOutcome = 'sent' | 'failed' | 'already-settled' | 'in-progress';

/** A delivery that may work later (429, 5xx, network): the broker retries the message with back-off. */
export class RetryableDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetryableDeliveryError';
  }
}

/**
 * Slack answered 429: the message comes back after the outage delay without using up a retry
 * (a DependencyUnavailableError to the subscriber), however long Slack keeps limiting.
 */
export class SlackRateLimitedError extends DependencyUnavailableError {
  constructor(message: string) {
    super(message);
    this.name = 'SlackRateLimitedError';
  }
}

export interface SlackDeliveryOptions {
  notifications: NotificationRepo;
  slack: SlackSender;
  metrics: SlackMetrics;
  /** SLACK_MAX_PER_SECOND: messages per channel per second. */
  maxPerSecond: number;
}

export interface SlackDelivery {
  /**
   * Delivers the notification in its channel's next slot, alone or folded into a digest with
   * everything else that waited for that channel. Resolves once Slack said `ok` (or the row
   * needs no send); rejects with RetryableDeliveryError when it may work later.
   */
  submit(channel: string, request: DeliveryRequest): Promise<DeliveryOutcome>;
}

function attemptRecord(result: DeliveryResult, lastAttempt: boolean, deliveredVia: 'slack' | 'sink'): AttemptRecord {
  switch (result.outcome) {
    case 'sent':
      return { status: 'sent', lastError: null, deliveredVia };
    case 'rejected':
      return { status: 'failed', lastError: result.error };
    case 'retry':
      // On the last attempt the message is dead-lettered next: the row must not stay pending.
      // A 429 never is: Slack asked us to wait, and waiting uses up no retry.
      return { status: lastAttempt && !result.rateLimited ? 'failed' : 'pending', lastError: result.error };
  }
}

/** The text of one send: a single notification as it was recorded, several as a digest. */
function messageText(rows: Notification[], digest: DigestRef | null): string {
  const [only] = rows;
  if (!digest && only) return only.text;
  return foldDigest(rows.map((row) => ({ text: row.text, status: row.kind === 'resolved' ? 'resolved' : 'firing' }))).text;
}

/**
 * Slack delivery with per-channel pacing (docs/contracts.md §7.1). Everything that waited for a
 * channel's slot goes out as one message; its rows are locked, sent and recorded in one
 * transaction, and each waiting request settles with the outcome of its own row.
 */
export function slackDelivery(options: SlackDeliveryOptions): SlackDelivery {
  const { notifications, slack, metrics } = options;
  const deliveredVia = options.slack.mode === 'sink' ? 'sink' : 'slack';
  /**
   * Rows Slack accepted whose `sent` the database never recorded (it went away between Slack's
   * `ok` and the commit): when their message comes back they are recorded, not sent again.
   * This closes the duplicate window for database outages; a crash of this process in that
   * window still sends them twice (docs/reliability.md).
   */
  const acceptedUnrecorded = new Set<number>();

  /** Records the rows of `requests` that Slack already accepted; their settlements by row id. */
  const recordAccepted = async (requests: DeliveryRequest[]): Promise<Map<number, Settlement<DeliveryOutcome>>> => {
    const ids = [...new Set(requests.map((request) => request.notificationId).filter((id) => acceptedUnrecorded.has(id)))];
    const settled = new Map<number, Settlement<DeliveryOutcome>>();
    if (ids.length === 0) return settled;
    const changed = new Set(await notifications.markSent(ids, deliveredVia));
    for (const id of ids) {
      acceptedUnrecorded.delete(id);
      if (changed.has(id)) metrics.notifications.inc({ status: 'sent' });
      settled.set(id, { ok: true, value: changed.has(id) ? 'sent' : 'already-settled' });
    }
    requests[0]?.logger.info({ notificationIds: ids }, 'recorded notifications Slack had accepted before the database went away; not sent again');
    return settled;
  };

  const send = async (channel: string, requests: DeliveryRequest[]): Promise<Settlement<DeliveryOutcome>[]> => {
    const recorded = await recordAccepted(requests);
    // Two copies of one event in flight ask for the same row: it is sent once, for both.
    const byRow = new Map<number, DeliveryRequest[]>();
    for (const request of requests) {
      if (!recorded.has(request.notificationId)) byRow.set(request.notificationId, [...(byRow.get(request.notificationId) ?? []), request]);
    }
    // A row is given up only when none of the messages asking for it will be retried.
    const lastAttempt = (id: number) => (byRow.get(id) ?? []).every((request) => request.lastAttempt);
    const loggerOf = (id: number) => byRow.get(id)?.[0]?.logger;

    /** The rows Slack accepted in this send, until their `sent` is committed. */
    let accepted: number[] = [];
    const claim = await notifications
      .claimPending([...byRow.keys()], async (pending) => {
        const digest = pending.length > 1 ? { id: randomUUID(), size: pending.length } : null;
        const firstLogger = loggerOf(pending[0]?.id ?? -1) ?? requests[0]?.logger;
        if (!firstLogger) throw new Error('a send without requests');
        const log = digest ? firstLogger.child({ digestId: digest.id, digestSize: digest.size }) : firstLogger;
        const result = await slack.deliver({ channel, text: messageText(pending, digest) }, log);
        if (result.outcome === 'sent') accepted = pending.map((row) => row.id);
        metrics.requests.inc({ result: result.outcome });
        if (result.outcome === 'retry' && result.rateLimited) metrics.rateLimited.inc();
        if (digest && result.outcome === 'sent') {
          metrics.digests.inc();
          metrics.digestNotifications.inc(digest.size);
          log.info({ channel }, 'slack digest sent');
        }
        const records = new Map(pending.map((row) => [row.id, attemptRecord(result, lastAttempt(row.id), deliveredVia)]));
        return { records, digest, result };
      })
      .catch((error: unknown) => {
        for (const id of accepted) acceptedUnrecorded.add(id);
        if (accepted.length > 0)
          requests[0]?.logger.warn(
            { err: error, notificationIds: accepted },
            'Slack accepted, but recording it failed; recorded on the next attempt, not sent again',
          );
        throw error;
      });

    /** Counts, logs and settles one row that this send attempted. */
    const settleAttempted = (row: Notification, result: DeliveryResult): Settlement<DeliveryOutcome> => {
      const log = loggerOf(row.id);
      const fields = { notificationId: row.id, channel: row.channel, attempts: row.attempts, ...(row.digest_id ? { digestId: row.digest_id } : {}) };
      switch (result.outcome) {
        case 'sent': {
          metrics.notifications.inc({ status: 'sent' });
          const processedAt = Date.parse(byRow.get(row.id)?.[0]?.processedAt ?? '');
          if (Number.isFinite(processedAt)) metrics.deliveryLatency.observe({ channel }, Math.max(0, Date.now() - processedAt) / 1_000);
          log?.info(fields, 'slack notification sent');
          return { ok: true, value: 'sent' };
        }
        case 'rejected':
          metrics.notifications.inc({ status: 'failed' });
          log?.error({ ...fields, error: result.error }, 'Slack rejected the notification; marked failed, not retried');
          return { ok: true, value: 'failed' };
        case 'retry':
          if (row.status === 'failed') {
            metrics.notifications.inc({ status: 'failed' });
            log?.error({ ...fields, error: result.error }, 'last delivery attempt failed; marked failed');
          } else {
            metrics.retries.inc();
          }
          return { ok: false, error: result.rateLimited ? new SlackRateLimitedError(result.error) : new RetryableDeliveryError(result.error) };
      }
    };

    const outcomes = new Map<number, Settlement<DeliveryOutcome>>();
    const { result } = claim;
    if (result) for (const row of claim.attempted) outcomes.set(row.id, settleAttempted(row, result));
    const locked = new Set(claim.locked.map((row) => row.id));

    return requests.map((request): Settlement<DeliveryOutcome> => {
      const outcome = recorded.get(request.notificationId) ?? outcomes.get(request.notificationId);
      if (outcome) return outcome;
      if (locked.has(request.notificationId)) {
        request.logger.debug({ notificationId: request.notificationId }, 'notification already settled; redelivery ignored');
        return { ok: true, value: 'already-settled' };
      }
      // Another consumer holds the row right now: it finishes it, or its message comes back.
      request.logger.debug({ notificationId: request.notificationId }, 'another consumer is delivering this notification');
      return { ok: true, value: 'in-progress' };
    });
  };

  const pacer = channelPacer<DeliveryRequest, DeliveryOutcome>({
    intervalMs: 1_000 / options.maxPerSecond,
    // Wait out a 429 before taking the rows: no connection is held while blocked, and what
    // arrives meanwhile joins the digest.
    whenOpen: () => slack.whenOpen(),
    send,
  });

  return { submit: (channel, request) => pacer.submit(channel, request) };
}
