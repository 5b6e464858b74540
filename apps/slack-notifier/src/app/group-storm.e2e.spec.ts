import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { AlertChange } from '@sentryhub/contracts';
import { buildBrokerConfig, connectMessaging, type Messaging } from '@sentryhub/messaging';
import { createLogger } from '@sentryhub/service-runtime';
import {
  createTestDatabase,
  createTestVhost,
  seedFiringAlerts,
  startSlackMock,
  waitFor,
  type SlackMock,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { insertStormRule, publishStorm, stormAlerts } from './group-storm.fixtures';

/*
 * The storm of group-storm.spec.ts against the built slack-notifier run as a real process
 * (`node dist/apps/slack-notifier/main.js`, as production runs it), to see what it costs in
 * memory: rounds of 10,000 alerts into one `groupBy` (four groups, two rules, the first with
 * `continue`), each round's every row sent in group messages, with the heap the notifier is given
 * inside the container's memory limit (deploy/k8s/base/slack-notifier.yaml: its limits.memory and NODE_OPTIONS). Its
 * memory is read from outside: the process must live through the storm (a heap that runs out
 * kills it), its peak resident set (VmHWM in /proc/<pid>/status) must stay below the limit, and
 * the live heap after a full garbage collection (through the inspector protocol:
 * HeapProfiler.collectGarbage, then process.memoryUsage()) is read after each round. A notifier
 * that kept anything per alert would grow by each round's 20,000 rows; one that holds only what
 * is in flight comes back to the same heap.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const ALERTS_PER_ROUND = 10_000;
/** The first round warms the process up; each later one adds 20,000 rows that must leave nothing behind. */
const ROUNDS = 2;
const GROUP_INTERVAL_MS = 2_000;
const CHANGES_PER_EVENT = 200;
const STARTS_AT = '2026-12-06T08:00:00.000Z';
/** What the live heap may grow by per alert told (both rules), from the first round to the last: far less than any per-alert record. */
const MAX_RETAINED_BYTES_PER_ROW = 64;

interface NotifierContainer {
  env?: { name: string; value?: string }[];
  resources?: { limits?: { memory?: string } };
}

/** The slack-notifier container of its Deployment (deploy/k8s/base/slack-notifier.yaml), as YAML read it. */
function notifierContainer(): NotifierContainer {
  const documents = parseAllDocuments(readFileSync(`${ROOT}deploy/k8s/base/slack-notifier.yaml`, 'utf8')).map(
    (document) => document.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: (NotifierContainer & { name?: string })[] } } } } | null,
  );
  const deployment = documents.find((document) => document?.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find((candidate) => candidate.name === 'slack-notifier');
  if (!container) throw new Error('deploy/k8s/base/slack-notifier.yaml has no Deployment with a slack-notifier container');
  return container;
}

/** The container's memory limit (`limits.memory` of the slack-notifier Deployment), in bytes. */
function memoryLimitBytes(): number {
  const memory = notifierContainer().resources?.limits?.memory;
  const match = /^(\d+)Mi$/.exec(memory ?? '');
  if (!match?.[1]) throw new Error(`the slack-notifier's limits.memory is ${JSON.stringify(memory)}, not a number of Mi`);
  return Number(match[1]) * 1024 * 1024;
}

/**
 * The heap the notifier is given inside its limit: the Deployment's NODE_OPTIONS (V8 sizes its
 * heap from the memory it sees, in a container about the whole cgroup limit, which leaves nothing
 * for buffers and native memory; the Deployment gives old space 128 MB, well inside the limit, and small
 * young-generation semi-spaces). The storm runs the process with exactly those flags.
 */
function deploymentNodeOptions(): string[] {
  const value = notifierContainer().env?.find((variable) => variable.name === 'NODE_OPTIONS')?.value;
  if (!value) throw new Error('deploy/k8s/base/slack-notifier.yaml gives the notifier no NODE_OPTIONS');
  const flags = value.split(/\s+/).filter(Boolean);
  if (!flags.some((flag) => flag.startsWith('--max-old-space-size='))) throw new Error(`NODE_OPTIONS "${value}" sets no --max-old-space-size`);
  return flags;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A Chrome DevTools protocol session with the notifier's inspector. */
interface Inspector {
  call(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
  close(): void;
}

async function openInspector(url: string): Promise<Inspector> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`cannot connect to the inspector at ${url}`)), { once: true });
  });
  let next = 1;
  const waiting = new Map<number, { resolve: (result: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
    if (message.id === undefined) return;
    const pending = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.error) pending?.reject(new Error(message.error.message));
    else pending?.resolve(message.result ?? {});
  });
  return {
    call: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve, reject });
        socket.send(JSON.stringify({ id, method, params }));
      }),
    close: () => socket.close(),
  };
}

/** The notifier's live heap: what is left after a full garbage collection. */
async function liveHeapBytes(inspector: Inspector): Promise<number> {
  await inspector.call('HeapProfiler.collectGarbage');
  await inspector.call('HeapProfiler.collectGarbage');
  const { result } = (await inspector.call('Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true })) as {
    result: { value: number };
  };
  return result.value;
}

/** The process's peak and current resident set, from /proc. */
function residentSet(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { peak: kib('VmHWM'), now: kib('VmRSS') };
}

let database: TestDatabase;
let vhost: TestVhost;
let slackMock: SlackMock;
let messaging: Messaging;
let notifier: { child: ChildProcess; output: string[]; port: number; inspector: Inspector };

beforeAll(async () => {
  // The bundle exactly as `npm run build` makes it, from the sources under test.
  await run(process.execPath, ['tools/build/build-app.mjs', 'slack-notifier'], { cwd: ROOT, timeout: 60_000 });
  [database, vhost, slackMock] = await Promise.all([
    createTestDatabase('slack_group_storm_process'),
    createTestVhost('slack-group-storm-process'),
    startSlackMock(),
  ]);
  const port = await freePort();
  const output: string[] = [];
  const child = spawn(process.execPath, [...deploymentNodeOptions(), '--inspect=127.0.0.1:0', 'dist/apps/slack-notifier/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      RABBITMQ_URL: vhost.url,
      DATABASE_URL: database.url,
      SLACK_INTERNAL_ENDPOINT: slackMock.url,
      SLACK_RULES_CACHE_MS: '0',
      HEALTH_PORT: String(port),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (chunk: Buffer) => output.push(...chunk.toString().split('\n').filter(Boolean));
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const inspectorUrl = await waitFor(
    () => output.map((line) => /Debugger listening on (ws:\/\/\S+)/.exec(line)?.[1]).find(Boolean),
    30_000,
    'the inspector URL',
  );
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`slack-notifier exited with ${child.exitCode}:\n${output.join('\n')}`);
      const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => null);
      return response?.status === 200 ? true : null;
    },
    30_000,
    'slack-notifier to be ready',
  );
  notifier = { child, output, port, inspector: await openInspector(inspectorUrl) };
  messaging = await connectMessaging(buildBrokerConfig({ url: vhost.url, consumes: [] }), { logger: createLogger('slack-group-storm-process-test', 'silent') });
}, 120_000);

afterAll(async () => {
  notifier?.inspector.close();
  if (notifier && notifier.child.exitCode === null && notifier.child.signalCode === null) {
    const exited = new Promise((resolve) => notifier.child.once('exit', resolve));
    notifier.child.kill('SIGTERM');
    await exited;
  }
  await messaging?.shutdown();
  await slackMock?.close();
  await database?.destroy();
  await vhost?.destroy();
});

const insertRule = (name: string, channel: string, priority: number, options: { continue?: boolean } = {}) =>
  insertStormRule(database.db, { name, channel, priority, groupIntervalMs: GROUP_INTERVAL_MS, ...options });

/** `ALERTS_PER_ROUND` firing groups with one episode each (round `round`), as the alert processor leaves them. */
async function seedRound(round: number): Promise<AlertChange[]> {
  return seedFiringAlerts(
    database.db,
    stormAlerts(ALERTS_PER_ROUND, (i) => `r${round}-i${i}`),
    STARTS_AT,
  );
}

const sentRows = async () =>
  Number(
    (
      await database.db
        .selectFrom('notifications')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .where('status', '=', 'sent')
        .executeTakeFirstOrThrow()
    ).count,
  );

describe('a storm into one groupBy, against the notifier as a real process', () => {
  it(`rounds of ${ALERTS_PER_ROUND.toLocaleString('en')} alerts: every alert told in group messages, the resident set within the container's limit, the live heap not growing with the alerts told`, async () => {
    await insertRule('storm-first', '#storm-first', 10, { continue: true });
    await insertRule('storm-second', '#storm-second', 0);
    const limit = memoryLimitBytes();
    const heaps: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const changes = await seedRound(round);
      await publishStorm(messaging, changes, CHANGES_PER_EVENT);
      await waitFor(
        async () => {
          if (notifier.child.exitCode !== null || notifier.child.signalCode !== null)
            throw new Error(`slack-notifier died in round ${round}:\n${notifier.output.slice(-20).join('\n')}`);
          return (await sentRows()) === ALERTS_PER_ROUND * 2 * round ? true : null;
        },
        240_000,
        `every row of both rules sent in round ${round}`,
      );
      // The group flushes that found nothing have ended: the notifier holds nothing in flight.
      await waitFor(
        async () => ((await database.db.selectFrom('notification_timers').select('id').execute()).length === 0 ? true : null),
        30_000,
        `the group timers of round ${round} to end`,
      );
      heaps.push(await liveHeapBytes(notifier.inspector));
    }

    // Only group messages went out, each alert in exactly one message of each rule.
    expect(new Set(slackMock.requests.map((request) => request.channel))).toEqual(new Set(['#storm-first', '#storm-second']));
    for (const channel of ['#storm-first', '#storm-second']) {
      const told = slackMock.requests.filter((request) => request.channel === channel).flatMap((request) => request.text.split('\n').slice(1));
      expect(told).toHaveLength(ALERTS_PER_ROUND * ROUNDS);
      expect(new Set(told).size).toBe(ALERTS_PER_ROUND * ROUNDS);
    }

    const { peak } = residentSet(notifier.child.pid ?? 0);
    // The process's peak resident set stays within the container's memory limit...
    expect(peak).toBeLessThan(limit);
    // ... and what it keeps does not grow with what it told: the later rounds (20,000 more rows
    // each) leave the live heap where round 1 left it, give or take less than a small record per row.
    const [first = 0, ...later] = heaps;
    const rowsSinceFirst = ALERTS_PER_ROUND * 2 * (ROUNDS - 1);
    for (const heap of later) expect(heap - first).toBeLessThan(rowsSinceFirst * MAX_RETAINED_BYTES_PER_ROW);
    expect(notifier.child.exitCode).toBeNull();
  }, 600_000);
});
