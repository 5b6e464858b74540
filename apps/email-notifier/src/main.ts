import { QUEUES } from '@sentryhub/contracts';
import { alertProcessedSubscription, openNotifierDatabase, ruleRepository } from '@sentryhub/db';
import { runWorker, subscribe } from '@sentryhub/messaging';
import { loadConfig, type ShutdownStep } from '@sentryhub/service-runtime';
import { EmailNotifierConfig } from './app/config';
import { emailQueue } from './app/email-queue';
import { startEmailSender } from './app/email-sender';
import { alertProcessedHandler } from './app/handle-alert-processed';
import { startHousekeeping } from './app/housekeeping';
import { createMailer } from './app/mailer';

const config = loadConfig(EmailNotifierConfig);
let sender: ReturnType<typeof startEmailSender>;
let handler: ReturnType<typeof alertProcessedHandler>;

await runWorker({
  name: 'email-notifier',
  config,
  topology: { consumes: [QUEUES.emailNotifierAlertsProcessed], prefetch: 20 },
  components: ['database'],
  open: async ({ readiness, logger, registry }): Promise<ShutdownStep[]> => {
    const database = await openNotifierDatabase({
      notifier: 'email',
      url: config.DATABASE_URL,
      poolSize: config.DATABASE_POOL_SIZE,
      preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
      readiness,
      logger,
    });
    const db = database.db;
    const mailer = createMailer(config.SMTP_URL, config.EMAIL_FROM, config.SMTP_TIMEOUT_MS);
    if (mailer.mode === 'log') logger.warn('SMTP_URL is not set: emails go to the log');
    sender = startEmailSender({
      queue: emailQueue(db),
      mailer,
      logger,
      registry,
      maxAttempts: config.EMAIL_MAX_ATTEMPTS,
      retryDelayMs: config.EMAIL_RETRY_DELAY_MS,
      pollMs: config.EMAIL_POLL_MS,
    });
    const stopHousekeeping = startHousekeeping(emailQueue(db), config.EMAIL_RETENTION_DAYS, logger);
    handler = alertProcessedHandler({
      db,
      rules: ruleRepository(db, {
        cacheMs: config.EMAIL_RULES_CACHE_MS,
        onInvalid: (kind, rule, problem) => logger.warn({ kind, ruleId: rule.id, rule: rule.name, problem }, 'stored rule does not validate; ignored'),
      }),
      queue: emailQueue(db),
      registry,
      wake: () => sender.wake(),
      logger,
    });
    return [
      database.startTimers(handler.handleTimer),
      { name: 'email sender', run: () => sender.stop() },
      { name: 'mailer', run: async () => (stopHousekeeping(), mailer.close()) },
      database.close,
    ];
  },
  subscribe: async ({ messaging, logger }) => [
    await subscribe(messaging, alertProcessedSubscription(QUEUES.emailNotifierAlertsProcessed, handler, logger, config.NOTIFIER_MAX_PENDING_BYTES)),
  ],
});
