import amqp, { type ChannelModel } from 'amqplib';
import { redactUrl } from '@sentryhub/service-runtime';
import type { BrokerSocketOptions } from './topology';

/**
 * Raw amqplib connections (outside rascal) for the rare paths that need one: the rabbit-consumer's
 * check of the external queue, the admin's purge/test publish/replay, the doctor. Each is given
 * every broker address (RABBITMQ_URLS: the nodes of a cluster) and connects to the first that
 * answers, in the configured order, as rascal does for the services' own connection.
 */
export interface RawConnectionOptions {
  /** The socket options and client properties of the services' connection (CA bundle, `connection_name`). */
  socketOptions?: BrokerSocketOptions;
  /** Per address: how long the TCP connect may take before the next address is tried (amqplib `timeout`). */
  connectTimeoutMs?: number;
}

/** Every address refused or failed: one line per address (password hidden), in the order tried. */
export class BrokerUnreachableError extends Error {
  constructor(readonly failures: readonly { url: string; error: unknown }[]) {
    super(`no RabbitMQ address answered (${failures.length} tried): ${failures.map(({ url, error }) => `${url}: ${messageOf(error)}`).join('; ')}`, {
      cause: failures.at(-1)?.error,
    });
    this.name = 'BrokerUnreachableError';
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message.split('\n')[0] : String(error));

/**
 * Opens a connection to the first of `urls` that accepts one, trying each in turn. Resolves
 * with the connection and the address it reached; rejects with a BrokerUnreachableError listing
 * every address's failure (passwords hidden) when none did, or at once when the list is empty.
 */
export async function connectFirstReachable(
  urls: string | readonly string[],
  options: RawConnectionOptions = {},
): Promise<{ connection: ChannelModel; url: string }> {
  const list = typeof urls === 'string' ? [urls] : [...urls];
  if (list.length === 0) throw new Error('connectFirstReachable: no RabbitMQ URL given (RABBITMQ_URLS, RABBITMQ_URL or the RABBITMQ_* parts)');
  const failures: { url: string; error: unknown }[] = [];
  for (const url of list) {
    try {
      const connection = await amqp.connect(url, {
        ...options.socketOptions,
        ...(options.connectTimeoutMs !== undefined ? { timeout: options.connectTimeoutMs } : {}),
      });
      return { connection, url };
    } catch (error) {
      failures.push({ url: redactUrl(url), error });
    }
  }
  throw new BrokerUnreachableError(failures);
}

/**
 * Runs `work` on a short-lived connection to the first reachable of `urls` and closes it
 * afterwards, whatever `work` did. A channel the broker closes (404, 406) also emits on the
 * connection: that event is swallowed here and the awaited amqplib call reports it instead.
 */
export async function withRawConnection<T>(
  urls: string | readonly string[],
  options: RawConnectionOptions,
  work: (connection: ChannelModel, url: string) => Promise<T>,
): Promise<T> {
  const { connection, url } = await connectFirstReachable(urls, options);
  connection.on('error', () => undefined);
  try {
    return await work(connection, url);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
