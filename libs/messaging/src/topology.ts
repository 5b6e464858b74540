import {
  deadLetterQueueName,
  EXCHANGES,
  QUEUES,
  RETRY_DELAYS_MS,
  retryQueueName,
  ROUTING_KEYS,
} from '@sentryhub/contracts';
import type { BrokerConfig } from 'rascal';

/** A work queue, what it is bound to, and how hard its consumer may be pushed. */
export interface WorkQueueSpec {
  name: string;
  exchange: string;
  bindingKeys: string[];
  /** Consecutive deliveries before RabbitMQ dead-letters a message that is never acked. */
  deliveryLimit: number;
}

/**
 * SPEC section 4: who consumes what. Every service declares all of them, so a publish
 * never finds its queue missing because the consumer has not started yet.
 */
export const WORK_QUEUES: readonly WorkQueueSpec[] = [
  { name: QUEUES.alertProcessorAlertsReceived, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsReceived], deliveryLimit: 10 },
  { name: QUEUES.slackNotifierAlertsProcessed, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsProcessed], deliveryLimit: 10 },
  { name: QUEUES.emailNotifierAlertsProcessed, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsProcessed], deliveryLimit: 10 },
  { name: QUEUES.adminAuditEvents, exchange: EXCHANGES.audit, bindingKeys: [ROUTING_KEYS.allAudit], deliveryLimit: 10 },
];

export interface TopologyOptions {
  /** Full AMQP URL, vhost and heartbeat included. */
  url: string;
  /** Queues this service consumes: a subscription is configured for each. */
  consumes: string[];
  /** The external intake queue (seed 000), declared only by the service that reads it. */
  externalQueue?: string;
  prefetch?: number;
  /** Confirm-channel pool size: rascal's default of 5 caps confirmed publishing far below the broker. */
  confirmPoolMax?: number;
  /** First reconnect delay; doubles up to 60 s. */
  retryDelayMs?: number;
  publishTimeoutMs?: number;
  /** Delays of the retry queues; shorter ones only in tests. */
  retryDelaysMs?: readonly number[];
}

export const VHOST_KEY = 'sentryhub';

type QueueConfig = NonNullable<NonNullable<BrokerConfig['vhosts']>[string]['queues']>;
type BindingConfig = Record<string, { source: string; destination: string; bindingKey: string; destinationType?: 'queue' }>;

function queuesFor(spec: { name: string; deliveryLimit: number; quorum: boolean; retryDelaysMs: readonly number[] }): { queues: Record<string, unknown>; bindings: BindingConfig } {
  const queues: Record<string, unknown> = {
    [spec.name]: {
      options: {
        durable: true,
        arguments: {
          ...(spec.quorum ? { 'x-queue-type': 'quorum', 'x-delivery-limit': spec.deliveryLimit } : {}),
          'x-dead-letter-exchange': EXCHANGES.deadLetter,
          'x-dead-letter-routing-key': spec.name,
        },
      },
    },
    [deadLetterQueueName(spec.name)]: { options: { durable: true } },
  };
  const bindings: BindingConfig = {
    [`${EXCHANGES.deadLetter}->${deadLetterQueueName(spec.name)}`]: {
      source: EXCHANGES.deadLetter,
      destination: deadLetterQueueName(spec.name),
      bindingKey: spec.name,
    },
  };
  spec.retryDelaysMs.forEach((delay, index) => {
    const retryQueue = retryQueueName(spec.name, index + 1);
    // Held for `delay`, then dead-lettered back to the work queue through the default exchange.
    queues[retryQueue] = {
      options: {
        durable: true,
        arguments: { 'x-message-ttl': delay, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': spec.name },
      },
    };
    bindings[`${EXCHANGES.deadLetter}->${retryQueue}`] = { source: EXCHANGES.deadLetter, destination: retryQueue, bindingKey: retryQueue };
  });
  return { queues, bindings };
}

/** The rascal configuration of SPEC section 4: exchanges, queues, bindings, publications, subscriptions. */
export function buildBrokerConfig(options: TopologyOptions): BrokerConfig {
  const queues: Record<string, unknown> = {};
  const bindings: BindingConfig = {};
  const add = (part: ReturnType<typeof queuesFor>) => {
    Object.assign(queues, part.queues);
    Object.assign(bindings, part.bindings);
  };
  const retryDelaysMs = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  for (const spec of WORK_QUEUES) {
    add(queuesFor({ name: spec.name, deliveryLimit: spec.deliveryLimit, quorum: true, retryDelaysMs }));
    for (const key of spec.bindingKeys) {
      bindings[`${spec.exchange}[${key}]->${spec.name}`] = { source: spec.exchange, destination: spec.name, bindingKey: key };
    }
  }
  // The external queue keeps the classic type: other systems publish to it and may already
  // have declared it (seed 000 declares it durable, classic).
  if (options.externalQueue) add(queuesFor({ name: options.externalQueue, deliveryLimit: 10, quorum: false, retryDelaysMs }));

  const publication = (exchange: string) => ({
    vhost: VHOST_KEY,
    exchange,
    confirm: true,
    timeout: options.publishTimeoutMs ?? 10_000,
    options: { persistent: true, mandatory: true },
  });
  const retryMin = options.retryDelayMs ?? 1_000;

  return {
    vhosts: {
      [VHOST_KEY]: {
        connection: {
          url: options.url,
          retry: { min: retryMin, max: 60_000, factor: 2, strategy: 'exponential' },
        } as NonNullable<BrokerConfig['vhosts']>[string]['connection'],
        publicationChannelPools: { confirmPool: { max: options.confirmPoolMax ?? 200, min: 1 } },
        exchanges: Object.fromEntries(Object.values(EXCHANGES).map((name) => [name, { type: 'topic', options: { durable: true } }])),
        queues: queues as QueueConfig,
        bindings,
      },
    },
    publications: Object.fromEntries(Object.values(EXCHANGES).map((name) => [name, publication(name)])),
    subscriptions: Object.fromEntries(
      options.consumes.map((queue) => [
        queue,
        {
          vhost: VHOST_KEY,
          queue,
          prefetch: options.prefetch ?? 50,
          // We parse the bytes ourselves, so that a bad body is dead-lettered with a reason.
          contentType: 'application/octet-stream',
          closeTimeout: 8_000,
          retry: { min: retryMin, max: 60_000, factor: 2, strategy: 'exponential' },
        },
      ]),
    ),
  } as BrokerConfig;
}
