import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TEST_RABBITMQ_HOST = process.env['TEST_RABBITMQ_HOST'] ?? '127.0.0.1';

export interface TestVhost {
  vhost: string;
  url: string;
  destroy(): Promise<void>;
}

async function rabbitmqctl(...args: string[]): Promise<void> {
  await run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });
}

/** A throwaway RabbitMQ vhost for one test file: its own exchanges and queues; destroy() deletes it. */
export async function createTestVhost(label = 'test'): Promise<TestVhost> {
  const vhost = `sentryhub-${label}-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl('add_vhost', vhost);
  await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  return {
    vhost,
    url: `amqp://guest:guest@${TEST_RABBITMQ_HOST}:5672/${encodeURIComponent(vhost)}`,
    destroy: () => rabbitmqctl('delete_vhost', vhost),
  };
}
