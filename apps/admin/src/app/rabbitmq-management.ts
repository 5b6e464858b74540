import { z } from 'zod';

/** Where the admin reaches RabbitMQ for queue management, and whether it may at all. */
export interface ManagementSettings {
  enabled: boolean;
  /** The management plugin's HTTP API, e.g. http://localhost:15672. */
  url: string;
  user: string;
  password: string;
  /** The vhost whose queues are managed: the one the services use. */
  vhost: string;
  /** AMQP URL(s) of that vhost, every node of a cluster (the first that answers is used): purge, test publish and replay go over AMQP with confirms. */
  amqpUrl: string | readonly string[];
  publishTimeoutMs: number;
  /** Per management API request. */
  requestTimeoutMs?: number;
}

/** The management API could not answer: unreachable, refused our credentials, or failed. */
export class ManagementUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ManagementUnavailableError';
  }
}

const rate = z.object({ rate: z.number().default(0) }).optional();
const RawQueue = z.object({
  name: z.string(),
  type: z.string().default('classic'),
  durable: z.boolean().default(true),
  state: z.string().optional(),
  messages: z.number().default(0),
  messages_ready: z.number().default(0),
  messages_unacknowledged: z.number().default(0),
  consumers: z.number().default(0),
  arguments: z.record(z.string(), z.unknown()).default({}),
  message_stats: z.object({ publish_details: rate, deliver_get_details: rate, ack_details: rate, redeliver_details: rate }).optional(),
});
export type RawQueue = z.infer<typeof RawQueue>;

// The management API sends `[]` instead of `{}` for a message without properties.
const emptyAsObject = (value: unknown) => (Array.isArray(value) && value.length === 0 ? {} : value);
const RawMessage = z.object({
  payload: z.string(),
  payload_encoding: z.enum(['string', 'base64']),
  redelivered: z.boolean().default(false),
  /** Messages left in the queue after this one, when it was fetched. */
  message_count: z.number().default(0),
  properties: z.preprocess(
    emptyAsObject,
    z.object({
      message_id: z.string().optional(),
      correlation_id: z.string().optional(),
      timestamp: z.number().optional(),
      content_type: z.string().optional(),
      headers: z.preprocess(emptyAsObject, z.record(z.string(), z.unknown())).default({}),
    }),
  ),
});
export type RawMessage = z.infer<typeof RawMessage>;

/** The few calls of the RabbitMQ management HTTP API the admin needs. */
export function managementClient(settings: ManagementSettings) {
  const authorization = `Basic ${Buffer.from(`${settings.user}:${settings.password}`).toString('base64')}`;
  const vhost = encodeURIComponent(settings.vhost);
  const timeoutMs = settings.requestTimeoutMs ?? 5_000;

  /** The parsed body, or null for a 404. */
  async function call<T extends z.ZodType>(schema: T, method: 'GET' | 'POST', path: string, body?: unknown): Promise<z.infer<T> | null> {
    const url = new URL(`api/${path}`, settings.url.endsWith('/') ? settings.url : `${settings.url}/`);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: { authorization, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new ManagementUnavailableError(
        `RabbitMQ management API at ${settings.url} is unreachable (${(error as Error).message}): is the rabbitmq_management plugin enabled?`,
        { cause: error },
      );
    }
    if (response.status === 404) return null;
    if (response.status === 401 || response.status === 403) {
      throw new ManagementUnavailableError(
        `RabbitMQ management API refused user "${settings.user}" (${response.status}): it needs the management or administrator tag`,
      );
    }
    if (!response.ok) throw new ManagementUnavailableError(`RabbitMQ management API answered ${response.status} to ${method} ${url.pathname}`);
    const parsed = schema.safeParse(await response.json());
    if (!parsed.success)
      throw new ManagementUnavailableError(
        `unexpected answer from the RabbitMQ management API to ${method} ${url.pathname}: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`,
      );
    return parsed.data;
  }

  return {
    /** Every queue of the vhost with its counts and rates, sorted by name. */
    async listQueues(): Promise<RawQueue[]> {
      const queues = (await call(z.array(RawQueue), 'GET', `queues/${vhost}`)) ?? [];
      return queues.sort((a, b) => a.name.localeCompare(b.name));
    },
    async getQueue(name: string): Promise<RawQueue | null> {
      return call(RawQueue, 'GET', `queues/${vhost}/${encodeURIComponent(name)}`);
    },
    /**
     * The first `count` messages without consuming them: fetched and put back in place
     * (`ack_requeue_true`); null when the queue does not exist.
     */
    async peek(queue: string, count: number): Promise<RawMessage[] | null> {
      return call(z.array(RawMessage), 'POST', `queues/${vhost}/${encodeURIComponent(queue)}/get`, {
        count,
        ackmode: 'ack_requeue_true',
        encoding: 'auto',
        truncate: 50_000,
      });
    },
  };
}
export type ManagementClient = ReturnType<typeof managementClient>;

export const queueRates = (queue: RawQueue) => ({
  publish: queue.message_stats?.publish_details?.rate ?? 0,
  deliver: queue.message_stats?.deliver_get_details?.rate ?? 0,
  ack: queue.message_stats?.ack_details?.rate ?? 0,
  redeliver: queue.message_stats?.redeliver_details?.rate ?? 0,
});
