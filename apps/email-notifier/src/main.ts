import { AlertProcessed, QUEUES } from '@sentryhub/contracts';
import { createDb, isDatabaseUnavailable, ruleRepository, timerLoop, watchDatabase, type Database } from '@sentryhub/db';
import { runWorker, subscribe } from '@sentryhub/messaging';
import { loadConfig, type ShutdownStep } from '@sentryhub/service-runtime';
import type { Kysely } from 'kysely';
import { EmailNotifierConfig } from './app/config';
import { emailQueue } from './app/email-queue';
import { startEmailSender } from './app/email-sender';
import { alertProcessedHandler } from './app/handle-alert-processed';
import { startHousekeeping } from './app/housekeeping';
import { createMailer } from './app/mailer';

const config = loadConfig(EmailNotifierConfig);
let db: Kysely<Database>;
let sender: ReturnType<typeof startEmailSender>;
let handler: ReturnType<typeof alertProcessedHandler>;

await runWorker({
  name: 'email-notifier',
  config,
  topology: { consumes: [QUEUES.emailNotifierAlertsProcessed], prefetch: 20 },
  components: ['database'],
  open: async ({ readiness, logger, registry }): Promise<ShutdownStep[]> => {
    db = createDb(config.DATABASE_URL, { maxConnections: config.DATABASE_POOL_SIZE, applicationName: 'email-notifier' });
    const stopWatching = await watchDatabase(db, readiness, logger);
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
    // Repeats, escalations and held-back firings: timers in PostgreSQL, shared by the replicas.
    const timers = timerLoop({ db, notifier: 'email', handle: handler.handleTimer, logger });
    timers.start();
    return [
      { name: 'timers', run: () => timers.stop() },
      { name: 'email sender', run: () => sender.stop() },
      { name: 'mailer', run: async () => (stopHousekeeping(), mailer.close()) },
      { name: 'database', run: () => (stopWatching(), db.destroy()) },
    ];
  },
  subscribe: async ({ messaging, logger }) => [
    await subscribe(messaging, {
      queue: QUEUES.emailNotifierAlertsProcessed,
      parse: (json) => AlertProcessed.safeParse(json),
      // A database outage waits (outage retry queue) without using up the message's retries.
      dependencyUnavailable: isDatabaseUnavailable,
      handler,
      logger,
    }),
  ],
});
