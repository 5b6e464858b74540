import { subscribe, type Messaging, type Subscription, type TopologyOptions } from '@sentryhub/messaging';
import type { Logger, Registry } from '@sentryhub/service-runtime';
import type { ConsumerConfig } from './config';
import { externalMessageHandler } from './handle-external-message';
import { parseExternalMessage } from './parse-external-message';

type QueueConfig = Pick<ConsumerConfig, 'RABBITMQ_EXTERNAL_QUEUE' | 'RABBITMQ_PREFETCH'>;

/** The topology this service adds: the external queue (durable, with `<queue>.dead`), consumed. */
export function externalIntakeTopology(config: QueueConfig): Pick<TopologyOptions, 'externalQueue' | 'consumes' | 'prefetch'> {
  return { externalQueue: config.RABBITMQ_EXTERNAL_QUEUE, consumes: [config.RABBITMQ_EXTERNAL_QUEUE], prefetch: config.RABBITMQ_PREFETCH };
}

/** Consumes the external queue: invalid bodies are dead-lettered by `subscribe`, valid ones republished. */
export function subscribeExternalIntake(
  messaging: Messaging,
  deps: { queue: string; logger: Logger; registry: Registry },
): Promise<Subscription> {
  return subscribe(messaging, {
    queue: deps.queue,
    parse: parseExternalMessage,
    handler: externalMessageHandler(messaging, deps.registry),
    logger: deps.logger,
  });
}
