import { Counter, Gauge, Histogram, type Registry } from '@sentryhub/service-runtime';

/** What every service's broker layer counts, the same names everywhere (docs/operations.md). */
export interface MessagingMetrics {
  published: Counter<'exchange' | 'outcome'>;
  consumed: Counter<'queue' | 'outcome'>;
  handlerSeconds: Histogram<'queue'>;
  /** What a subscriber with `maxParsedBytes` holds parsed, and what waits unparsed. */
  parsedBytes: Gauge<'queue'>;
  unparsedMessages: Gauge<'queue'>;
  connected: Gauge;
}

const byRegistry = new WeakMap<Registry, MessagingMetrics>();

export function messagingMetrics(registry: Registry): MessagingMetrics {
  const known = byRegistry.get(registry);
  if (known) return known;
  const metrics: MessagingMetrics = {
    published: new Counter({
      name: 'sentryhub_messages_published_total',
      help: 'Publishes by exchange and outcome (confirmed, returned, timeout, blocked, disconnected, error)',
      labelNames: ['exchange', 'outcome'] as const,
      registers: [registry],
    }),
    consumed: new Counter({
      name: 'sentryhub_messages_consumed_total',
      help: 'Messages consumed by queue and outcome (acked, retried, dead_lettered, requeued)',
      labelNames: ['queue', 'outcome'] as const,
      registers: [registry],
    }),
    handlerSeconds: new Histogram({
      name: 'sentryhub_handler_seconds',
      help: 'Time handlers take per message or batch',
      labelNames: ['queue'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    parsedBytes: new Gauge({
      name: 'sentryhub_consumer_parsed_bytes',
      help: 'Bytes of delivered messages parsed and not yet settled, by queue (at most its maxParsedBytes, or one larger message)',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    unparsedMessages: new Gauge({
      name: 'sentryhub_consumer_unparsed_messages',
      help: 'Delivered messages kept as their bytes, unparsed, until the queue consumer has room under its maxParsedBytes',
      labelNames: ['queue'] as const,
      registers: [registry],
    }),
    connected: new Gauge({ name: 'sentryhub_broker_connected', help: '1 while connected to RabbitMQ and not blocked', registers: [registry] }),
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
