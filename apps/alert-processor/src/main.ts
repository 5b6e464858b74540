import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { createDb, isDatabaseUnavailable, watchDatabase, type Database } from '@sentryhub/db';
import { runWorker, subscribeBatch } from '@sentryhub/messaging';
import { loadConfig, type ShutdownStep } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { ProcessorConfig } from './app/config';
import { alertBatchHandler } from './app/handle-alert-batch';
import { startHousekeeping } from './app/housekeeping';
import { startLeaseExpiry } from './app/lease-expiry';
import { outboxMetrics } from './app/outbox-relay';
import { startOutboxSweeper } from './app/outbox-sweeper';
import { retentionPolicy } from './app/retention';

const config = loadConfig(ProcessorConfig);
let db: Kysely<Database>;
let stopSweeper: (() => Promise<void>) | undefined;
let stopHousekeeping: (() => Promise<void>) | undefined;
let stopLeaseExpiry: (() => Promise<void>) | undefined;

await runWorker({
  name: 'alert-processor',
  config,
  topology: { consumes: [QUEUES.alertProcessorAlertsReceived], prefetch: config.PROCESSOR_PREFETCH },
  components: ['database'],
  open: async ({ readiness, logger }): Promise<ShutdownStep[]> => {
    db = createDb(config.DATABASE_URL, {
      maxConnections: config.DATABASE_POOL_SIZE,
      applicationName: 'alert-processor',
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
    });
    const stopWatching = await watchDatabase(db, readiness, logger);
    // Retention (RETENTION_*): batched deletes, safe with several replicas.
    stopHousekeeping = startHousekeeping(db, retentionPolicy(config), logger, config.RETENTION_INTERVAL_MINUTES * 60_000);
    return [
      { name: 'retention', run: async () => stopHousekeeping?.() },
      { name: 'lease expiry', run: async () => stopLeaseExpiry?.() },
      { name: 'outbox relay', run: async () => stopSweeper?.() },
      { name: 'database', run: () => (stopWatching(), db.destroy()) },
    ];
  },
  subscribe: async ({ messaging, logger, registry }) => {
    const relay = {
      maxEventBytes: config.PROCESSOR_EVENT_MAX_BYTES,
      maxRefusals: config.PROCESSOR_OUTBOX_MAX_REFUSALS,
      logger,
      events: outboxMetrics(registry),
    };
    stopSweeper = startOutboxSweeper(db, messaging, logger, { intervalMs: config.OUTBOX_SWEEP_MS, relay });
    // Leases (Alertmanager's semantics): due episodes resolve as expired; safe with several replicas.
    stopLeaseExpiry = startLeaseExpiry(db, messaging, logger, { intervalMs: config.LEASE_EXPIRY_INTERVAL_MS, relay, registry });
    const handler = alertBatchHandler(db, messaging, registry, logger, relay);
    const subscription = await subscribeBatch(messaging, {
      queue: QUEUES.alertProcessorAlertsReceived,
      parse: (json) => AlertReceived.safeParse(json),
      handler,
      weight: (message) => message.alerts.length,
      maxWeight: config.PROCESSOR_BATCH_ALERTS,
      maxWaitMs: config.PROCESSOR_BATCH_WAIT_MS,
      // A database outage holds the batch (no republishing, no retry used up).
      dependencyUnavailable: isDatabaseUnavailable,
      logger,
    });
    // On shutdown: finish the last batches, then their publishes, before the broker closes.
    return [{ ...subscription, cancel: async () => (await subscription.cancel(), await handler.drained()) }];
  },
});
