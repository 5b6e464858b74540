import { runWorker } from '@sentryhub/messaging';
import { loadConfig } from '@sentryhub/service-runtime';
import { readCaBundle, trustCaCertificates } from './app/ca-bundle';
import { ConsumerConfig } from './app/config';
import { externalIntakeTopology, subscribeExternalIntake } from './app/external-intake';

const config = loadConfig(ConsumerConfig);

await runWorker({
  name: 'rabbit-consumer',
  config,
  topology: externalIntakeTopology(config),
  // Runs before the broker connection, so that amqps:// already trusts the CA.
  open: async ({ logger }) => {
    if (config.RABBITMQ_CA_FILE) {
      const certificates = readCaBundle(config.RABBITMQ_CA_FILE);
      trustCaCertificates(certificates);
      logger.info({ file: config.RABBITMQ_CA_FILE, certificates: certificates.length }, 'trusting CA bundle for amqps://');
    }
    return [];
  },
  subscribe: async ({ messaging, logger, registry }) => [
    await subscribeExternalIntake(messaging, { queue: config.RABBITMQ_EXTERNAL_QUEUE, logger, registry }),
  ],
});
