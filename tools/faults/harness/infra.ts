import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { QUEUES } from '@sentryhub/contracts';
import { waitFor } from '@sentryhub/testing';
import amqp from 'amqplib';
import type { RunningService } from '../../e2e/services';

const exec = promisify(execFile);

/**
 * The shared RabbitMQ and PostgreSQL of this machine, broken on purpose. Every function here
 * affects every user of the server: `npm run test:faults` runs alone, after the other suites.
 */
export const rabbitmq = {
  stopApp: () => exec('rabbitmqctl', ['-q', 'stop_app'], { timeout: 120_000 }),
  startApp: async () => {
    await exec('rabbitmqctl', ['-q', 'start_app'], { timeout: 120_000 });
    await exec('rabbitmqctl', ['-q', 'await_startup'], { timeout: 120_000 });
  },
  /** The high watermark as RabbitMQ reports it (`0.4`, or `{absolute,N}`). */
  watermark: async () => (await exec('rabbitmqctl', ['eval', 'vm_memory_monitor:get_vm_memory_high_watermark().'], { timeout: 60_000 })).stdout.trim(),
  /** A fraction (`0.4`) or, with `absolute`, bytes. */
  setWatermark: (value: string) => {
    const absolute = value.match(/^\{absolute,(\d+)\}$/);
    return exec('rabbitmqctl', ['-q', 'set_vm_memory_high_watermark', ...(absolute ? ['absolute', absolute[1] ?? ''] : [value])], { timeout: 60_000 });
  },
};

const pgVersion = () =>
  readdirSync('/etc/postgresql')
    .sort((a, b) => Number(a) - Number(b))
    .at(-1) ?? '';

export const postgres = {
  stop: () => exec('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion(), 'main', 'stop', '-m', 'fast'], { timeout: 120_000 }),
  start: async () => {
    await exec('pg_ctlcluster', ['--skip-systemctl-redirect', pgVersion(), 'main', 'start'], { timeout: 120_000 });
    await waitFor(
      () =>
        exec('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432']).then(
          () => true,
          () => null,
        ),
      60_000,
      'PostgreSQL to accept connections',
    );
  },
};

/** Whether a service's /readyz answers 200 now. */
export async function isReady(service: RunningService): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${service.port}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
  return response?.status === 200;
}

/** Resolves with the time at which every service answers ready (polling every 100 ms). */
export async function allReady(services: readonly RunningService[], timeoutMs: number): Promise<number> {
  return waitFor(async () => ((await Promise.all(services.map(isReady))).every(Boolean) ? Date.now() : null), timeoutMs, 'every service to be ready');
}

/** Resident memory of a process in bytes (Linux /proc). */
export function rssBytes(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const kb = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Log lines that betray a bug: an unknown delivery tag (double ack), an unhandled error, a crash. */
export function suspiciousLines(service: RunningService): string[] {
  return service.output.filter((line) => /unknown delivery tag|unhandled|uncaught|PRECONDITION_FAILED/i.test(line));
}

/** Messages waiting in every work queue's dead-letter queue (`<queue>.dead`) of a vhost. */
export async function deadLetters(vhostUrl: string): Promise<Record<string, number>> {
  const connection = await amqp.connect(vhostUrl);
  try {
    const channel = await connection.createChannel();
    const counts: Record<string, number> = {};
    for (const queue of Object.values(QUEUES)) counts[queue] = (await channel.checkQueue(`${queue}.dead`)).messageCount;
    return counts;
  } finally {
    await connection.close();
  }
}

/**
 * Why the first few dead letters of each work queue's `<queue>.dead` died: RabbitMQ's
 * `x-first-death-reason` (expired, maxlen, rejected, delivery_limit) or SentryHub's own `x-error`.
 * Peeked: fetched without ack, then returned when the channel closes.
 */
export async function deadLetterReasons(vhostUrl: string, perQueue = 3): Promise<Record<string, string[]>> {
  const connection = await amqp.connect(vhostUrl);
  try {
    const reasons: Record<string, string[]> = {};
    for (const queue of Object.values(QUEUES)) {
      const channel = await connection.createChannel();
      for (let index = 0; index < perQueue; index++) {
        const message = await channel.get(`${queue}.dead`, { noAck: false });
        if (!message) break;
        const headers: Record<string, unknown> = message.properties.headers ?? {};
        const why = [
          headers['x-first-death-reason'],
          headers['x-first-death-queue'],
          headers['x-error'],
          message.properties.type,
          message.fields.routingKey,
        ].filter((part) => part !== undefined && part !== '');
        (reasons[queue] ??= []).push(
          why
            .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
            .join(' / ')
            .slice(0, 300),
        );
      }
      await channel.close();
    }
    return reasons;
  } finally {
    await connection.close();
  }
}

/** CPU seconds (user + system) a process has used so far (Linux /proc, 100 ticks a second). */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** A counter's value from a service's /metrics page (summed over label sets matching `labels`). */
export async function metricValue(service: RunningService, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${service.port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = line.match(/^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/);
    if (!match || match[1] !== name) continue;
    if (Object.entries(labels).every(([key, value]) => (match[2] ?? '').includes(`${key}="${value}"`))) total += Number(match[3]);
  }
  return total;
}
