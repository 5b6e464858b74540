/**
 * The machine's own limits, measured in the same run as the stack: a bare fastify route, raw
 * amqplib confirmed publishing to a quorum queue, a raw `INSERT ... SELECT FROM unnest ... ON CONFLICT`.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import amqp from 'amqplib';
import pg from 'pg';
import { drive, type LoadResult } from './stack-bench-load';
import type { Options } from './stack-bench-options';
import type { BodyOf } from './stack-bench-scenarios';
import { BARE_FASTIFY, spawnNode, waitHttp } from './stack-bench-services';
import { freePort } from './system-stats';

export interface Limits {
  bareFastify: { requestsPerSecond: number; latencyMs: LoadResult['latencyMs'] };
  amqplibQuorumConfirmed: { messagesPerSecond: number; messages: number; bytesPerMessage: number; window: number };
  unnestUpsert: { insertRowsPerSecond: number; conflictRowsPerSecond: number; rows: number; rowsPerStatement: number };
}

export async function measureBareFastify(options: Options, body: BodyOf): Promise<Limits['bareFastify']> {
  const port = await freePort();
  const service = spawnNode('bare fastify', ['--input-type=module', '-e', BARE_FASTIFY], { PORT: String(port) }, port);
  await waitHttp(service, '/readyz');
  const load = await drive(`http://127.0.0.1:${port}`, '/', body, options, { durationS: options.durationS });
  await service.stop();
  return { requestsPerSecond: load.requestsPerSecond, latencyMs: load.latencyMs };
}

export async function measureAmqp(url: string, options: Options, body: Buffer): Promise<Limits['amqplibQuorumConfirmed']> {
  const connection = await amqp.connect(url, { noDelay: true });
  try {
    const channel = await connection.createConfirmChannel();
    const queue = 'bench.limit.quorum';
    await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const window = 500;
    let inFlight = 0;
    let wake: (() => void) | null = null;
    let nacked = 0;
    const started = performance.now();
    for (let m = 0; m < options.limitMessages; m++) {
      while (inFlight >= window) await new Promise<void>((resolve) => (wake = resolve));
      inFlight++;
      const flowing = channel.sendToQueue(queue, body, { persistent: true, contentType: 'application/json' }, (error: unknown) => {
        inFlight--;
        if (error) nacked++;
        const resume = wake;
        wake = null;
        resume?.();
      });
      if (!flowing) await once(channel, 'drain');
    }
    await channel.waitForConfirms();
    const seconds = (performance.now() - started) / 1000;
    if (nacked > 0) throw new Error(`RabbitMQ nacked ${nacked} raw publishes`);
    await channel.deleteQueue(queue);
    return { messagesPerSecond: options.limitMessages / seconds, messages: options.limitMessages, bytesPerMessage: body.length, window };
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export async function measureUnnest(databaseUrl: string, options: Options): Promise<Limits['unnestUpsert']> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('create table bench_limit (fingerprint text primary key, labels jsonb not null, status text not null, updated_at timestamptz not null)');
    const perStatement = 1_000;
    const pass = async (status: string): Promise<number> => {
      const started = performance.now();
      for (let first = 0; first < options.limitRows; first += perStatement) {
        const fingerprints: string[] = [];
        const labels: string[] = [];
        for (let n = first; n < Math.min(first + perStatement, options.limitRows); n++) {
          fingerprints.push(n.toString(16).padStart(16, '0'));
          labels.push(`{"alertname":"Limit${n}","instance":"host-${n % 250}","job":"bench"}`);
        }
        await client.query(
          `insert into bench_limit (fingerprint, labels, status, updated_at)
           select f, l::jsonb, $3, now() from unnest($1::text[], $2::text[]) as t(f, l)
           on conflict (fingerprint) do update set labels = excluded.labels, status = excluded.status, updated_at = excluded.updated_at`,
          [fingerprints, labels, status],
        );
      }
      return options.limitRows / ((performance.now() - started) / 1000);
    };
    const insertRowsPerSecond = await pass('firing');
    const conflictRowsPerSecond = await pass('resolved');
    await client.query('drop table bench_limit');
    return { insertRowsPerSecond, conflictRowsPerSecond, rows: options.limitRows, rowsPerStatement: perStatement };
  } finally {
    await client.end();
  }
}
