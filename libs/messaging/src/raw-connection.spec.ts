import { createServer } from 'node:net';
import { createTestVhost, type TestVhost } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerUnreachableError, connectFirstReachable, withRawConnection } from './raw-connection';

/** A TCP port nothing listens on (bound once, then released): connecting there is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('raw amqplib connections over every broker address (real RabbitMQ)', () => {
  let vhost: TestVhost;
  let refusing: string;

  beforeAll(async () => {
    vhost = await createTestVhost('raw-connection');
    refusing = `amqp://guest:s3cret@127.0.0.1:${await closedPort()}/${encodeURIComponent(vhost.vhost)}`;
  });
  afterAll(async () => {
    await vhost?.destroy();
  });

  it('goes on to the next address when the first refuses, and says which one it reached', async () => {
    const { connection, url } = await connectFirstReachable([refusing, vhost.url]);
    try {
      expect(url).toBe(vhost.url);
      const channel = await connection.createChannel();
      // The broker answers for real: a queue declared here exists in the test vhost.
      await channel.assertQueue('raw-connection-probe', { durable: false, autoDelete: false });
      expect((await channel.checkQueue('raw-connection-probe')).queue).toBe('raw-connection-probe');
      await channel.deleteQueue('raw-connection-probe');
    } finally {
      await connection.close();
    }
  });

  it('withRawConnection runs the work on the reachable node and closes the connection afterwards', async () => {
    let closed = false;
    const count = await withRawConnection(
      [refusing, vhost.url],
      { socketOptions: { clientProperties: { connection_name: 'raw-connection spec' } } },
      async (connection) => {
        connection.on('close', () => (closed = true));
        const channel = await connection.createChannel();
        await channel.assertQueue('raw-connection-count', { durable: false });
        channel.sendToQueue('raw-connection-count', Buffer.from('x'));
        await new Promise((resolve) => setTimeout(resolve, 200));
        const { messageCount } = await channel.checkQueue('raw-connection-count');
        await channel.deleteQueue('raw-connection-count');
        return messageCount;
      },
    );
    expect(count).toBe(1);
    expect(closed).toBe(true);
  });

  it('a channel the broker closes (404) is reported by the awaited call, not as an unhandled error', async () => {
    await expect(
      withRawConnection(vhost.url, {}, async (connection) => {
        const channel = await connection.createChannel();
        channel.on('error', () => undefined);
        await channel.checkQueue('raw-connection-missing');
      }),
    ).rejects.toThrow(/404/);
  });

  it('when no address answers: one error naming every address tried and why, passwords hidden', async () => {
    const other = `amqp://guest:other-secret@127.0.0.1:${await closedPort()}/`;
    const error = await connectFirstReachable([refusing, other]).then(
      () => null,
      (rejection: unknown) => rejection,
    );
    expect(error).toBeInstanceOf(BrokerUnreachableError);
    const unreachable = error as BrokerUnreachableError;
    expect(unreachable.failures.map(({ url }) => new URL(url).port)).toEqual([new URL(refusing).port, new URL(other).port]);
    expect(unreachable.message).toMatch(/no RabbitMQ address answered \(2 tried\)/);
    expect(unreachable.message).toContain('ECONNREFUSED');
    expect(unreachable.message).not.toContain('s3cret');
    expect(unreachable.message).not.toContain('other-secret');
  });

  it('refuses an empty list by name', async () => {
    await expect(connectFirstReachable([])).rejects.toThrow(/no RabbitMQ URL given/);
  });
});
