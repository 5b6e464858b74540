import { deadLetterQueueName, EXCHANGES, QUEUES, RETRY_DELAYS_MS, retryQueueName, ROUTING_KEYS } from '@sentryhub/contracts';
import type { BrokerConfig } from 'rascal';
import { withQueueLimits } from './queue-limits';

/** A work queue, what it is bound to, and how hard its consumer may be pushed. */
export interface WorkQueueSpec {
  name: string;
  exchange: string;
  bindingKeys: string[];
  /** Consecutive deliveries before RabbitMQ dead-letters a message that is never acked. */
  deliveryLimit: number;
}

/**
 * docs/contracts.md §4.3: who consumes what. Every service declares all of them, so a publish
 * never finds its queue missing because the consumer has not started yet.
 */
export const WORK_QUEUES: readonly WorkQueueSpec[] = [
  { name: QUEUES.alertProcessorAlertsReceived, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsReceived], deliveryLimit: 10 },
  { name: QUEUES.slackNotifierAlertsProcessed, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsProcessed], deliveryLimit: 10 },
  { name: QUEUES.emailNotifierAlertsProcessed, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsProcessed], deliveryLimit: 10 },
  { name: QUEUES.webhookNotifierAlertsProcessed, exchange: EXCHANGES.alerts, bindingKeys: [ROUTING_KEYS.allAlertsProcessed], deliveryLimit: 10 },
  { name: QUEUES.adminAuditEvents, exchange: EXCHANGES.audit, bindingKeys: [ROUTING_KEYS.allAudit], deliveryLimit: 10 },
];

export interface TopologyOptions {
  /**
   * Full AMQP URL, vhost and heartbeat included; several for the nodes of a cluster
   * (RABBITMQ_URLS): rascal connects to one and, when it is lost, tries each in turn.
   */
  url: string | readonly string[];
  /** Queues this service consumes: a subscription is configured for each. */
  consumes: string[];
  /** The external intake queue, declared only by the service that reads it. */
  externalQueue?: string;
  prefetch?: number;
  /** Confirm-channel pool size: rascal's default of 5 caps confirmed publishing far below the broker. */
  confirmPoolMax?: number;
  /** First reconnect delay; doubles up to MAX_RECONNECT_DELAY_MS (15 s). */
  retryDelayMs?: number;
  publishTimeoutMs?: number;
  /** Delays of the retry queues; shorter ones only in tests. */
  retryDelaysMs?: readonly number[];
  /** Options of this broker connection's socket only (amqplib `socketOptions`), never process-wide. */
  socketOptions?: BrokerSocketOptions;
}

/**
 * What amqplib passes to `tls.connect` (amqps://) or `net.connect`, and the AMQP client
 * properties it announces.
 */
export interface BrokerSocketOptions {
  /** PEM CA certificates that an amqps:// broker's certificate must chain to; they replace the default CAs for this connection. */
  ca?: string[];
  /** `connection_name` is what RabbitMQ shows (management UI, `rabbitmqctl list_connections client_properties`). */
  clientProperties?: Readonly<Record<string, string>>;
}

/**
 * How the external intake queue is declared: durable, classic, without arguments, exactly as
 * existing publishers declare it (pika's `queue_declare(queue, durable=True)`). RabbitMQ refuses
 * with 406 PRECONDITION_FAILED any declaration whose arguments differ from the existing
 * queue's, so this service never re-declares a queue that exists (see rabbit-consumer's
 * ensureExternalQueue) and never adds arguments that would refuse the other systems' own
 * declarations. Nothing is lost without `x-dead-letter-*`: the subscriber dead-letters by
 * publishing to `dead-letter` with the queue name as routing key, never by rejecting.
 */
export const EXTERNAL_QUEUE_DECLARATION = { durable: true } as const;

export const VHOST_KEY = 'sentryhub';

/**
 * Reconnect and re-subscribe back-off doubles from RABBITMQ_RETRY_DELAY up to this: however long
 * the broker was away, every service is back within this long of its return (the
 * broker-restart fault scenario asks for 30 s).
 */
export const MAX_RECONNECT_DELAY_MS = 15_000;

/**
 * Every queue SentryHub owns is a quorum queue, replicated on every node of a cluster (no
 * `x-quorum-initial-group-size`: RabbitMQ's default is all members when it is declared): the
 * four work queues, their `.dead` and `.retry.<n>` queues, and the external queue's.
 */
const QUORUM = { 'x-queue-type': 'quorum' } as const;

/**
 * `<queue>.dead` has no consumer: a message goes back to it only when the admin's dead-letter
 * replay fetched and returned it. RabbitMQ 4 gives quorum queues a delivery limit of 20 by
 * default, past which such a message would be dropped; this one is far above any number of replays.
 */
export const DEAD_LETTER_DELIVERY_LIMIT = 1_000;

type QueueConfig = NonNullable<NonNullable<BrokerConfig['vhosts']>[string]['queues']>;
type BindingConfig = Record<string, { source: string; destination: string; bindingKey: string; destinationType?: 'queue' }>;

function queuesFor(spec: { name: string; deliveryLimit: number; quorum: boolean; retryDelaysMs: readonly number[] }): {
  queues: Record<string, unknown>;
  bindings: BindingConfig;
} {
  const queues: Record<string, unknown> = {
    [spec.name]: {
      options: {
        durable: true,
        arguments: {
          ...(spec.quorum ? { ...QUORUM, 'x-delivery-limit': spec.deliveryLimit } : {}),
          'x-dead-letter-exchange': EXCHANGES.deadLetter,
          'x-dead-letter-routing-key': spec.name,
        },
      },
    },
    // Quorum as well: a classic queue lives on one node of a cluster, and while that node is
    // down every re-declaration of it (each reconnect of every service) is refused with 404,
    // and whatever is dead-lettered or retried to it is lost.
    [deadLetterQueueName(spec.name)]: { options: { durable: true, arguments: { ...QUORUM, 'x-delivery-limit': DEAD_LETTER_DELIVERY_LIMIT } } },
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
        arguments: { ...QUORUM, 'x-message-ttl': delay, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': spec.name },
      },
    };
    bindings[`${EXCHANGES.deadLetter}->${retryQueue}`] = { source: EXCHANGES.deadLetter, destination: retryQueue, bindingKey: retryQueue };
  });
  return { queues, bindings };
}

type VhostConfig = NonNullable<BrokerConfig['vhosts']>[string];

/**
 * The vhost's connection (one URL) or connections (a cluster's nodes, tried in a random order
 * that stays the same within the process: rascal's default `random` strategy spreads the
 * services over the nodes). rascal keeps only the address and socket options of each
 * connection; the reconnect back-off is read from the vhost's connection defaults.
 */
function connectionsOf(options: TopologyOptions): Pick<VhostConfig, 'connection' | 'connections'> & { defaults: unknown } {
  const retry = { min: options.retryDelayMs ?? 1_000, max: MAX_RECONNECT_DELAY_MS, factor: 2, strategy: 'exponential' };
  const urls = typeof options.url === 'string' ? [options.url] : [...options.url];
  if (urls.length === 0) throw new Error('buildBrokerConfig: no RabbitMQ URL');
  // No Nagle delay: a confirmed publish otherwise waits up to 40 ms for its ack
  // (measured by the processor benchmark: 44 ms -> 0.6 ms per confirm).
  const connections = urls.map((url) => ({ url, socketOptions: { noDelay: true, ...options.socketOptions }, retry }) as NonNullable<VhostConfig['connection']>);
  return {
    ...(connections.length === 1 ? { connection: connections[0] } : { connections }),
    defaults: { connection: { retry } },
  };
}

/** The rascal configuration of docs/contracts.md §4: exchanges, queues, bindings, publications, subscriptions. */
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
  if (options.externalQueue) {
    // Its `<queue>.dead` and retry queues are ours and declared as every work queue's. The
    // queue itself belongs to the systems that publish to it too: rascal must neither assert
    // it (406 against a queue declared with other arguments) nor fail when it is missing, so
    // the consumer checks it and declares it only when missing (EXTERNAL_QUEUE_DECLARATION).
    const external = queuesFor({ name: options.externalQueue, deliveryLimit: 10, quorum: false, retryDelaysMs });
    external.queues[options.externalQueue] = { assert: false, check: false, options: EXTERNAL_QUEUE_DECLARATION };
    add(external);
  }

  const publication = (exchange: string) => ({
    vhost: VHOST_KEY,
    exchange,
    confirm: true,
    timeout: options.publishTimeoutMs ?? 10_000,
    options: { persistent: true, mandatory: true },
  });
  const retryMin = options.retryDelayMs ?? 1_000;

  // TTLs and length bounds of every queue: libs/messaging/src/queue-limits.ts.
  return withQueueLimits({
    vhosts: {
      [VHOST_KEY]: {
        ...connectionsOf(options),
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
          retry: { min: retryMin, max: MAX_RECONNECT_DELAY_MS, factor: 2, strategy: 'exponential' },
        },
      ]),
    ),
  } as BrokerConfig);
}
