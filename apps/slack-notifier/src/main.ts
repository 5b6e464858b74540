import { QUEUES } from '@sentryhub/contracts';
import { groupDeadLetterPublisher, alertProcessedSubscription, openNotifierDatabase } from '@sentryhub/db';
import { runWorker, subscribe, type Messaging } from '@sentryhub/messaging';
import { loadConfig } from '@sentryhub/service-runtime';
import { SlackNotifierConfig } from './app/config';
import { alertProcessedHandler } from './app/handle-alert-processed';
import { createSlackSender } from './app/slack-client';

const config = loadConfig(SlackNotifierConfig);
const slack = createSlackSender({ endpoint: config.SLACK_INTERNAL_ENDPOINT, timeoutMs: config.SLACK_TIMEOUT_MS });
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
    const database = await openNotifierDatabase({
      notifier: 'slack',
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
      readiness,
      logger,
    });
    handler = alertProcessedHandler({
      db: database.db,
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
    return [database.startTimers(handler.handleTimer), { name: 'slack client', run: () => slack.close() }, database.close];
  },
  subscribe: async ({ messaging, logger }) => {
    broker = messaging;
    return [await subscribe(messaging, alertProcessedSubscription(QUEUES.slackNotifierAlertsProcessed, handler, logger, config.NOTIFIER_MAX_PENDING_BYTES))];
  },
});
