import { AlertReceived, QUEUES } from '@sentryhub/contracts';
import { createDb, watchDatabase } from '@sentryhub/db';
import { runWorker, subscribe } from '@sentryhub/messaging';
import { loadConfig } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import type { Database } from '@sentryhub/db';
import { ProcessorConfig } from './app/config';
import { alertReceivedHandler } from './app/handle-alert-received';

const config = loadConfig(ProcessorConfig);
let db: Kysely<Database>;

await runWorker({
  name: 'alert-processor',
  config,
  topology: { consumes: [QUEUES.alertProcessorAlertsReceived], prefetch: config.PROCESSOR_PREFETCH },
  components: ['database'],
  open: async ({ readiness, logger }) => {
    db = createDb(config.DATABASE_URL, { maxConnections: config.DATABASE_POOL_SIZE, applicationName: 'alert-processor' });
    const stopWatching = await watchDatabase(db, readiness, logger);
    return [{ name: 'database', run: () => (stopWatching(), db.destroy()) }];
  },
  subscribe: async ({ messaging, logger, registry }) => [
    await subscribe(messaging, {
      queue: QUEUES.alertProcessorAlertsReceived,
      parse: (json) => AlertReceived.safeParse(json),
      handler: alertReceivedHandler(db, messaging, registry),
      logger,
    }),
  ],
});
