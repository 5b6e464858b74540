import { QUEUES } from '@sentryhub/contracts';
import { groupDeadLetterPublisher, alertProcessedSubscription, openNotifierDatabase, ruleRepository } from '@sentryhub/db';
import { runWorker, subscribe, type Messaging } from '@sentryhub/messaging';
import {
  createWebhookClient,
  loadConfig,
  readWebhookReceivers,
  resolveWebhookReceivers,
  WebhookReceiversError,
  type WebhookReceiver,
} from '@sentryhub/service-runtime';
import { WebhookNotifierConfig } from './app/config';
import { alertProcessedHandler } from './app/handle-alert-processed';

const config = loadConfig(WebhookNotifierConfig);

/** The receivers file and the variables it names, checked before anything starts: exit 1 naming each problem. */
function loadReceivers(): Map<string, WebhookReceiver> {
  try {
    return resolveWebhookReceivers(readWebhookReceivers(config.WEBHOOK_RECEIVERS_FILE), process.env);
  } catch (error) {
    if (!(error instanceof WebhookReceiversError)) throw error;
    for (const problem of error.problems) process.stderr.write(`invalid configuration: ${problem}\n`);
    process.exit(1);
  }
}

const receivers = loadReceivers();
const client = createWebhookClient(receivers);
let handler: ReturnType<typeof alertProcessedHandler>;
/** The broker connection, once the worker has it: a group's message that was never taken is dead-lettered through it. */
let broker: Messaging | null = null;

await runWorker({
  name: 'webhook-notifier',
  config,
  topology: { consumes: [QUEUES.webhookNotifierAlertsProcessed], prefetch: config.NOTIFIER_PREFETCH },
  components: ['database'],
  open: async ({ readiness, logger, registry }) => {
    if (receivers.size === 0) logger.warn("WEBHOOK_RECEIVERS_FILE names no receivers: webhook rules' notifications fail naming their receiver");
    else logger.info({ receivers: [...receivers.keys()] }, 'webhook receivers configured');
    const database = await openNotifierDatabase({
      notifier: 'webhook',
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
      readiness,
      logger,
    });
    const db = database.db;
    const rules = ruleRepository(db, {
      cacheMs: config.WEBHOOK_RULES_CACHE_MS,
      onInvalid: (kind, rule, problem) => logger.warn({ kind, ruleId: rule.id, rule: rule.name, problem }, 'stored rule does not validate; ignored'),
    });
    handler = alertProcessedHandler({
      db,
      rules,
      client,
      receivers,
      registry,
      externalUrl: config.WEBHOOK_EXTERNAL_URL,
      logger,
      retryDelaysMs: config.MESSAGE_RETRY_DELAYS_MS,
      deadLetter: groupDeadLetterPublisher(() => broker, QUEUES.webhookNotifierAlertsProcessed),
    });
    return [database.startTimers(handler.handleTimer), { name: 'webhook client', run: () => client.close() }, database.close];
  },
  subscribe: async ({ messaging, logger }) => {
    broker = messaging;
    return [await subscribe(messaging, alertProcessedSubscription(QUEUES.webhookNotifierAlertsProcessed, handler, logger, config.NOTIFIER_MAX_PENDING_BYTES))];
  },
});
