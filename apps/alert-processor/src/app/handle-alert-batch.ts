import { randomUUID } from 'node:crypto';
import type { AlertReceived, NormalizedAlert } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Delivery, Messaging } from '@sentryhub/messaging';
import { fingerprint } from '@sentryhub/alert-identity';
import { Counter, Histogram, type Logger, type Registry } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { OpenEpisodes, renewLeases, storeBatch, type BatchAlert } from '@sentryhub/alert-state';
import { DEFAULT_RELAY_OPTIONS, heldEvent, relayOutbox, type OutboxSelection, type RelayOptions } from './outbox-relay';

/**
 * The alert with the fingerprint of its own labels. The group an alert updates is decided here,
 * never by a fingerprint a message carries: a message published before intake computed it, or
 * by anyone who can publish to the alerts exchange, cannot rewrite another group's labels.
 */
function keyedByLabels(alert: NormalizedAlert): NormalizedAlert {
  const computed = fingerprint(alert.labels);
  return computed === alert.fingerprint ? alert : { ...alert, fingerprint: computed };
}

/** Batches whose events may wait for their publish with their bodies in memory (see below). */
const MAX_BATCHES_HOLDING_BODIES = 4;

/**
 * A batch of `alert.received.*` messages -> one transaction (state + outbox) -> after commit,
 * its `alert.processed.<status>` events are published from the outbox. The batch is acked right
 * after the commit; its events are published while the next batch is written, and a publish
 * that fails is left to the outbox relay: never lost.
 */
export function alertBatchHandler(
  db: Kysely<Database>,
  messaging: Pick<Messaging, 'publish'>,
  registry: Registry,
  logger: Logger,
  relay: RelayOptions = DEFAULT_RELAY_OPTIONS,
) {
  const alertsProcessed = new Counter({ name: 'sentryhub_processor_alerts_total', help: 'Alerts processed', registers: [registry] });
  const changesPublished = new Counter({
    name: 'sentryhub_processor_changes_total',
    help: 'State changes recorded for alert.processed',
    labelNames: ['change'] as const,
    registers: [registry],
  });
  const batchAlerts = new Histogram({
    name: 'sentryhub_processor_batch_alerts',
    help: 'Alerts per batch',
    buckets: [1, 10, 50, 100, 250, 500, 1000],
    registers: [registry],
  });
  const batchSeconds = new Histogram({
    name: 'sentryhub_processor_batch_seconds',
    help: 'Time to store a batch',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });

  const renewalBatches = new Counter({
    name: 'sentryhub_processor_renewal_batches_total',
    help: 'Batches made only of lease renewals of open episodes, stored in one statement',
    registers: [registry],
  });
  /** The episodes this processor last stored as open: batches of re-sent alerts take one statement. */
  const openEpisodes = new OpenEpisodes();

  let publishing: Promise<void> = Promise.resolve();
  /** Batches whose events wait in the chain below with their bodies in memory. */
  let holdingBodies = 0;

  const handle = async (batch: Delivery<AlertReceived>[]): Promise<void> => {
    const alerts: BatchAlert[] = batch.flatMap(({ data, context }) =>
      data.alerts.map((alert) => ({
        alert: keyedByLabels(alert),
        source: data.source,
        receivedAt: new Date(data.receivedAt),
        correlationId: alert.correlationId ?? context.correlationId,
      })),
    );
    const batchId = randomUUID();
    const timer = batchSeconds.startTimer();
    // A database error that means "unavailable" reaches the subscriber as it is: its
    // dependencyUnavailable option (main.ts) holds the batch instead of retrying it.
    const store = async () => {
      const rest = await renewLeases(db, alerts, openEpisodes);
      if (rest.length === 0) return { renewed: true, events: [] };
      return { renewed: false, events: await storeBatch(db, batchId, rest, undefined, openEpisodes) };
    };
    const { renewed, events } = await store().finally(() => timer());
    if (renewed) renewalBatches.inc();
    alertsProcessed.inc(alerts.length);
    batchAlerts.observe(alerts.length);
    for (const event of events) for (const change of event.payload.changes) changesPublished.inc({ change: change.change });
    logger.debug({ batchId, messages: batch.length, alerts: alerts.length, events: events.length }, 'batch stored');
    if (events.length === 0) return;
    // The events are safe in the outbox once committed: the batch is acked now, and their
    // publish overlaps the next batch's write (one publish at a time, in order). They are
    // published from the bodies in memory, unless a storm stores faster than it publishes:
    // past MAX_BATCHES_HOLDING_BODIES waiting batches only the ids wait in the chain and the
    // payloads are read back from the outbox, so the backlog is not held in memory.
    const keepBodies = holdingBodies < MAX_BATCHES_HOLDING_BODIES;
    const selection: OutboxSelection = keepBodies ? { events: events.map(heldEvent) } : { messageIds: events.map((event) => event.messageId) };
    if (keepBodies) holdingBodies += 1;
    publishing = publishing.then(() =>
      relayOutbox(db, messaging, selection, relay)
        .then(
          () => undefined,
          (error: unknown) => logger.warn({ err: error, batchId }, 'events stored but not yet published; the outbox relay will publish them'),
        )
        .finally(() => {
          if (keepBodies) holdingBodies -= 1;
        }),
    );
  };
  /** Waits for the publishes started so far (shutdown). */
  const drained = () => publishing;
  return Object.assign(handle, { drained });
}
