import { runWorker } from '@sentryhub/messaging';
import { loadConfig, rabbitmqUrls } from '@sentryhub/service-runtime';
import { ConsumerConfig } from './app/config';
import { externalIntakeTopology, subscribeExternalIntake } from './app/external-intake';

const config = loadConfig(ConsumerConfig);
const topology = externalIntakeTopology(config);

await runWorker({
  name: 'rabbit-consumer',
  config,
  topology,
  open: async ({ logger }) => {
    if (config.RABBITMQ_CA_FILE) {
      logger.info(
        { file: config.RABBITMQ_CA_FILE, certificates: topology.socketOptions.ca?.length },
        'amqps:// broker certificate is checked against this CA bundle',
      );
    }
    return [];
  },
  subscribe: async ({ messaging, logger, registry }) => [
    await subscribeExternalIntake(messaging, {
      queue: config.RABBITMQ_EXTERNAL_QUEUE,
      logger,
      registry,
      broker: { url: rabbitmqUrls(config), socketOptions: topology.socketOptions },
      bodyLimitBytes: config.BODY_LIMIT_BYTES,
      intakeMaxFutureMs: config.INTAKE_MAX_FUTURE,
      retryDelayMs: config.RABBITMQ_RETRY_DELAY * 1000,
    }),
  ],
});
