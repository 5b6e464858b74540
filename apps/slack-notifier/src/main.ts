import { AlertProcessed, QUEUES } from '@sentryhub/contracts';
import { createDb, groupDeadLetterPublisher, isDatabaseUnavailable, timerLoop, watchDatabase, type Database } from '@sentryhub/db';
import { runWorker, subscribe, type Messaging } from '@sentryhub/messaging';
import { loadConfig } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { SlackNotifierConfig } from './app/config';
import { alertProcessedHandler } from './app/handle-alert-processed';
import { createSlackSender } from './app/slack-client';

const config = loadConfig(SlackNotifierConfig);
const slack = createSlackSender({ endpoint: config.SLACK_INTERNAL_ENDPOINT, timeoutMs: config.SLACK_TIMEOUT_MS });
let db: Kysely<Database>;
let handler: ReturnType<typeof alertProcessedHandler>;
/** The broker connection, once the worker has it: a group's message that was never taken is dead-lettered through it. */
let broker: Messaging | null = null;

await runWorker({
  name: 'slack-notifier',
  config,
  topology: { consumes: [QUEUES.slackNotifierAlertsProcessed], prefetch: config.NOTIFIER_PREFETCH },
  components: ['database'],
  open: async ({ readiness, logger, registry }) => {
    if (slack.mode === 'sink') logger.warn('SLACK_INTERNAL_ENDPOINT is not set: Slack messages go to the log (Slack sink)');
    db = createDb(config.DATABASE_URL, { maxConnections: config.DATABASE_POOL_SIZE, applicationName: 'slack-notifier' });
    const stopWatching = await watchDatabase(db, readiness, logger);
    handler = alertProcessedHandler({
      db,
      slack,
      registry,
      defaultChannel: config.SLACK_DEFAULT_CHANNEL,
      rulesCacheMs: config.SLACK_RULES_CACHE_MS,
      maxPerSecond: config.SLACK_MAX_PER_SECOND,
      maxPendingChanges: config.NOTIFIER_MAX_PENDING_CHANGES,
      logger,
      retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
      deadLetter: groupDeadLetterPublisher(() => broker, QUEUES.slackNotifierAlertsProcessed),
    });
    // Repeats, escalations and held-back firings: timers in PostgreSQL, shared by the replicas.
    const timers = timerLoop({ db, notifier: 'slack', handle: handler.handleTimer, logger });
    timers.start();
    return [
      { name: 'timers', run: () => timers.stop() },
      { name: 'slack client', run: () => slack.close() },
      { name: 'database', run: () => (stopWatching(), db.destroy()) },
    ];
  },
  subscribe: async ({ messaging, logger }) => {
    broker = messaging;
    return [
      await subscribe(messaging, {
        queue: QUEUES.slackNotifierAlertsProcessed,
        parse: (json) => AlertProcessed.safeParse(json),
        // A database outage waits (outage retry queue) without using up the message's retries.
        dependencyUnavailable: isDatabaseUnavailable,
        handler,
        logger,
      }),
    ];
  },
});
