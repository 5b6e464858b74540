/**
 * `npm run bench:processor [-- --alerts 100000 --per-message 10 --preload --rate 0 --timeout 300]`
 *
 * A benchmark (not a test) of the BUILT alert-processor, run as a real process against a
 * throwaway PostgreSQL database and RabbitMQ vhost. It publishes N unique firing alerts as
 * `alert.received.api` messages through a raw amqplib confirm channel, consumes the
 * `alert.processed.*` events from `slack-notifier.alerts-processed`, and reports alerts/s
 * stored, publish -> event latency, the processor's peak RSS and CPU. Results go to
 * `bench/results/processor-<timestamp>.{json,md}`. See tools/bench/README.md.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { deadLetterQueueName, EXCHANGES, QUEUES, ROUTING_KEYS, type AlertProcessed, type NormalizedAlert } from '@sentryhub/contracts';
import { fingerprint } from '@sentryhub/alert-identity';
import { createTestDatabase, createTestVhost, TEST_POSTGRES_URL, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import { deployedNodeOptions } from '../deploy/node-options';
import { sql } from 'kysely';
import {
  cleanUp,
  cleanups,
  cpuSecondsBetween,
  cpuUtilisation,
  freePort,
  machineFacts,
  parseMetrics,
  processTicks,
  quantile,
  statusKiB,
  systemCpu,
  ticksWhere,
  isPostgresFor,
  isRabbitmqServer,
  withTimeout,
  CLOCK_TICKS,
  type MachineFacts,
} from './system-stats';
import { startActivityProfile, type ActivityProfile } from './pg-activity';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ENTRY = 'dist/apps/alert-processor/main.js';
const RESULTS_DIR = 'bench/results';
/** Processor settings recorded with each run; set them in the environment to try others. */
const PROCESSOR_SETTINGS = ['PROCESSOR_BATCH_ALERTS', 'PROCESSOR_BATCH_WAIT_MS', 'PROCESSOR_PREFETCH', 'DATABASE_POOL_SIZE'] as const;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

interface Options {
  alerts: number;
  perMessage: number;
  preload: boolean;
  /** Offered load in alerts/s; 0 = as fast as the broker confirms. */
  rate: number;
  /** Unconfirmed messages the publisher may have in flight. */
  window: number;
  timeoutS: number;
  build: boolean;
  write: boolean;
  profile: boolean;
  /** Processor processes consuming the same queue. */
  processors: number;
}

const USAGE = `usage: npm run bench:processor -- [options]
  --alerts N         alerts to publish, each with its own fingerprint (env BENCH_ALERTS, default 100000)
  --per-message K    alerts per AlertReceived message (env BENCH_PER_MESSAGE, default 10)
  --preload          publish everything first, then start the processor (env BENCH_PRELOAD=1)
  --processors P     processor processes on the same queue and database (env BENCH_PROCESSORS, default 1)
  --rate R           offered load in alerts/s, 0 = unlimited (env BENCH_RATE, default 0)
  --window W         unconfirmed messages in flight while publishing (env BENCH_WINDOW, default 500)
  --timeout S        give up when the run takes longer than S seconds (env BENCH_TIMEOUT, default 300)
  --skip-build       use dist/apps/alert-processor/main.js as it is
  --no-write         do not write bench/results/ files
  --profile          sample the processor's PostgreSQL connections (pg_stat_activity, every 5 ms) and report where its time goes
Processor settings come from the environment (${PROCESSOR_SETTINGS.join(', ')}).`;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      alerts: { type: 'string' },
      'per-message': { type: 'string' },
      preload: { type: 'boolean' },
      processors: { type: 'string' },
      rate: { type: 'string' },
      window: { type: 'string' },
      timeout: { type: 'string' },
      'skip-build': { type: 'boolean' },
      'no-write': { type: 'boolean' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const int = (name: string, value: string | undefined, fallback: number, min: number): number => {
    const parsed = value === undefined || value === '' ? fallback : Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new Error(`${name} must be an integer >= ${min}, got "${value}"\n${USAGE}`);
    return parsed;
  };
  return {
    alerts: int('--alerts', values.alerts ?? env['BENCH_ALERTS'], 100_000, 1),
    perMessage: int('--per-message', values['per-message'] ?? env['BENCH_PER_MESSAGE'], 10, 1),
    preload: values.preload ?? ['1', 'true', 'yes'].includes(env['BENCH_PRELOAD'] ?? ''),
    rate: int('--rate', values.rate ?? env['BENCH_RATE'], 0, 0),
    window: int('--window', values.window ?? env['BENCH_WINDOW'], 500, 1),
    timeoutS: int('--timeout', values.timeout ?? env['BENCH_TIMEOUT'], 300, 10),
    build: !values['skip-build'],
    write: !values['no-write'],
    profile: values.profile ?? false,
    processors: int('--processors', values.processors ?? env['BENCH_PROCESSORS'], 1, 1),
  };
}

// ---------------------------------------------------------------------------------------------
// Clean-up: whatever happens (error, timeout, Ctrl-C), the processor is killed and the
// database and vhost are dropped.
// ---------------------------------------------------------------------------------------------

async function exitAfterCleanUp(code: number): Promise<never> {
  await cleanUp();
  process.exit(code);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the processor and dropping the bench database and vhost...`);
    void exitAfterCleanUp(130);
  });
}

/** Rejects when something the run depends on fails (the processor exits, the broker connection drops). */
let fail: (error: Error) => void = () => undefined;
const failure = new Promise<never>((_, reject) => {
  fail = reject;
});
failure.catch(() => undefined);
const guarded = <T>(promise: Promise<T>): Promise<T> => Promise.race([promise, failure]);

// ---------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------

const SEVERITIES = ['critical', 'warning', 'info'] as const;

interface Workload {
  /** Per message: the JSON of its `alerts` array, prebuilt so that publishing costs little. */
  alertsJson: string[];
  /** Fingerprint -> alert number (alert n travels in message floor(n / perMessage)). */
  index: Map<string, number>;
}

function buildWorkload(options: Options, startsAt: string): Workload {
  const index = new Map<string, number>();
  const alertsJson: string[] = [];
  for (let first = 0; first < options.alerts; first += options.perMessage) {
    const alerts: NormalizedAlert[] = [];
    for (let n = first; n < Math.min(first + options.perMessage, options.alerts); n++) {
      const labels = { alertname: `Bench${n}`, instance: `bench-host-${n % 250}`, job: 'bench', severity: SEVERITIES[n % 3] ?? 'warning', team: 'bench' };
      const print = fingerprint(labels);
      if (index.has(print)) throw new Error(`fingerprint collision between alerts ${index.get(print)} and ${n}`);
      index.set(print, n);
      alerts.push({
        fingerprint: print,
        status: 'firing',
        labels,
        annotations: { summary: `Benchmark alert ${n}`, description: 'Synthetic alert of npm run bench:processor' },
        startsAt,
        endsAt: null,
        generatorURL: 'http://prometheus.bench:9090/graph?g0.expr=up',
        extra: {},
      });
    }
    alertsJson.push(JSON.stringify(alerts));
  }
  return { alertsJson, index };
}

// ---------------------------------------------------------------------------------------------
// The processor process
// ---------------------------------------------------------------------------------------------

interface Processor {
  child: ChildProcess;
  pid: number;
  port: number;
  spawnedAt: number;
  output: string[];
  stop(): Promise<void>;
}

async function buildProcessor(): Promise<void> {
  process.stdout.write('building the alert-processor (node tools/build/build-app.mjs alert-processor)... ');
  try {
    await promisify(execFile)(process.execPath, ['tools/build/build-app.mjs', 'alert-processor'], { cwd: ROOT, timeout: 180_000 });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr || (error as Error).message;
    throw new Error(`building the alert-processor failed (node tools/build/build-app.mjs alert-processor):\n${detail}`);
  }
  console.log('done');
}

function startProcessor(env: Record<string, string>, port: number): Processor {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run \`node tools/build/build-app.mjs alert-processor\` (or drop --skip-build)`);
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    if (output.length > 400) output.splice(0, output.length - 400);
  };
  const spawnedAt = performance.now();
  // As deployed: the image's or the Deployment's NODE_OPTIONS.
  const child = spawn(process.execPath, [...deployedNodeOptions('alert-processor'), ENTRY], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', ...env, HEALTH_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start ${ENTRY}`);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit');
  let stopping = false;
  child.once('exit', (code, signal) => {
    if (!stopping)
      fail(new Error(`the alert-processor exited during the run (code ${code}, signal ${signal}); its last output:\n${output.slice(-40).join('\n')}`));
  });
  const stop = async () => {
    stopping = true;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    try {
      await withTimeout(exited, 15_000, 'the alert-processor to stop after SIGTERM');
    } catch {
      child.kill('SIGKILL');
      await withTimeout(exited, 5_000, 'the alert-processor to die after SIGKILL');
    }
  };
  cleanups.push({ what: 'stopping the alert-processor', run: stop });
  return { child, pid: child.pid, port, spawnedAt, output, stop };
}

async function waitReady(processor: Processor, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${processor.port}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return performance.now();
    if (performance.now() > deadline)
      throw new Error(`the alert-processor was not ready (/readyz = 200) within ${timeoutMs / 1000} s; its output:\n${processor.output.join('\n')}`);
    await guarded(new Promise((resolve) => setTimeout(resolve, 25)));
  }
}

interface BatchMetrics {
  batches: number;
  alertsProcessed: number;
  meanAlertsPerBatch: number;
  storeSecondsSum: number;
  meanStoreMs: number;
  /** Cumulative count of batches stored within each bucket bound (seconds). */
  storeSecondsBuckets: { le: string; batches: number }[];
  /** The whole batch handler (store + outbox relay publish), when the messaging layer exposes sentryhub_handler_seconds. */
  handlerSecondsSum: number | null;
}

/** The batch metrics of every processor's /metrics, added up; null when none answered. */
async function scrapeMetrics(ports: number[]): Promise<BatchMetrics | null> {
  const texts = await Promise.all(
    ports.map((port) =>
      fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) }).then(
        (response) => response.text(),
        () => null,
      ),
    ),
  );
  const all = texts.filter((text): text is string => text !== null).map(parseMetrics);
  if (all.length === 0) return null;
  const sum = (name: string, labels = '') =>
    all.reduce((total, samples) => total + (samples.get(name)?.find((sample) => sample.labels.includes(labels))?.value ?? 0), 0);
  const batches = sum('sentryhub_processor_batch_seconds_count');
  const storeSecondsSum = sum('sentryhub_processor_batch_seconds_sum');
  const handlerLabel = `queue="${QUEUES.alertProcessorAlertsReceived}"`;
  const hasHandler = all.some((samples) => samples.get('sentryhub_handler_seconds_sum')?.some((sample) => sample.labels.includes(handlerLabel)));
  const bounds = (all[0]?.get('sentryhub_processor_batch_seconds_bucket') ?? []).map((sample) => /le="([^"]+)"/.exec(sample.labels)?.[1] ?? '?');
  return {
    batches,
    alertsProcessed: sum('sentryhub_processor_alerts_total'),
    meanAlertsPerBatch: batches ? sum('sentryhub_processor_batch_alerts_sum') / batches : 0,
    storeSecondsSum,
    meanStoreMs: batches ? (storeSecondsSum / batches) * 1000 : 0,
    storeSecondsBuckets: bounds.map((le) => ({ le, batches: sum('sentryhub_processor_batch_seconds_bucket', `le="${le}"`) })),
    handlerSecondsSum: hasHandler ? sum('sentryhub_handler_seconds_sum', handlerLabel) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Publishing and receiving
// ---------------------------------------------------------------------------------------------

interface PublishResult {
  /** performance.now() of each message's publish call (its receivedAt is the same instant). */
  publishedAt: Float64Array;
  firstAt: number;
  confirmedAt: number;
}

async function publishAll(channel: amqp.ConfirmChannel, workload: Workload, options: Options, runId: string, deadline: number): Promise<PublishResult> {
  const messages = workload.alertsJson.length;
  const publishedAt = new Float64Array(messages);
  const routingKey = ROUTING_KEYS.alertReceived('api');
  const intervalMs = options.rate > 0 ? (options.perMessage / options.rate) * 1000 : 0;
  let inFlight = 0;
  let wake: (() => void) | null = null;
  let nacked = 0;
  const remaining = () => Math.max(1, deadline - performance.now());
  const firstAt = performance.now();
  // performance.now() and Date.now() on one base, so receivedAt and publishedAt are the same instant.
  const epoch = performance.timeOrigin;

  for (let m = 0; m < messages; m++) {
    if (intervalMs > 0) {
      const due = firstAt + m * intervalMs;
      const wait = due - performance.now();
      if (wait > 1) await guarded(new Promise((resolve) => setTimeout(resolve, wait)));
    }
    while (inFlight >= options.window) await guarded(withTimeout(new Promise<void>((resolve) => (wake = resolve)), remaining(), 'publish confirms'));
    if (nacked > 0) throw new Error(`RabbitMQ nacked ${nacked} published message(s)`);
    const id = `bench-${runId}-${m}`;
    const now = performance.now();
    publishedAt[m] = now;
    const body = `{"id":"${id}","receivedAt":"${new Date(epoch + now).toISOString()}","source":"api","meta":{"benchmark":"${runId}"},"alerts":${workload.alertsJson[m]}}`;
    inFlight++;
    const flowing = channel.publish(
      EXCHANGES.alerts,
      routingKey,
      Buffer.from(body),
      { persistent: true, mandatory: true, contentType: 'application/json', messageId: id, correlationId: id, timestamp: Math.floor((epoch + now) / 1000) },
      (error: unknown) => {
        inFlight--;
        if (error) nacked++;
        const resume = wake;
        wake = null;
        resume?.();
      },
    );
    if (!flowing) await guarded(withTimeout(once(channel, 'drain'), remaining(), 'the publish channel to drain'));
  }
  await guarded(withTimeout(channel.waitForConfirms(), remaining(), 'the last publish confirms'));
  if (nacked > 0) throw new Error(`RabbitMQ nacked ${nacked} published message(s)`);
  return { publishedAt, firstAt, confirmedAt: performance.now() };
}

interface EventCollector {
  /** Per alert: performance.now() when its change event arrived (NaN until then). */
  arrivedAt: Float64Array;
  stats: { events: number; changes: number; duplicates: number; unknown: number; lastAt: number };
  all: Promise<number>;
}

/** Consumes alert.processed events; `all` resolves (with the arrival time) once every alert had its change. */
async function collectEvents(channel: amqp.Channel, workload: Workload, total: number): Promise<EventCollector> {
  const arrivedAt = new Float64Array(total).fill(Number.NaN);
  const stats = { events: 0, changes: 0, duplicates: 0, unknown: 0, lastAt: 0 };
  let seen = 0;
  let done: (at: number) => void = () => undefined;
  const all = new Promise<number>((resolve) => (done = resolve));
  await channel.prefetch(50);
  await channel.consume(QUEUES.slackNotifierAlertsProcessed, (message) => {
    if (!message) return fail(new Error(`RabbitMQ cancelled the consumer of ${QUEUES.slackNotifierAlertsProcessed}`));
    const at = performance.now();
    const event = JSON.parse(message.content.toString()) as AlertProcessed;
    stats.events++;
    for (const change of event.changes) {
      stats.changes++;
      const n = workload.index.get(change.group.fingerprint);
      if (n === undefined) stats.unknown++;
      else if (!Number.isNaN(arrivedAt[n])) stats.duplicates++;
      else {
        arrivedAt[n] = at;
        stats.lastAt = at;
        if (++seen === total) done(at);
      }
    }
    channel.ack(message);
  });
  return { arrivedAt, stats, all };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface Result {
  benchmark: 'alert-processor';
  startedAt: string;
  ok: boolean;
  machine: MachineFacts;
  parameters: {
    mode: 'concurrent' | 'preload';
    processors: number;
    alerts: number;
    alertsPerMessage: number;
    messages: number;
    offeredRate: number | 'unlimited';
    publishWindow: number;
    processorSettings: Record<string, string>;
  };
  method: string[];
  results: {
    wallSeconds: number;
    alertsPerSecond: number;
    measuredFrom: string;
    processorStartupSeconds: number;
    alertsPerSecondAfterReady: number | null;
    publishSeconds: number;
    publishedAlertsPerSecond: number;
    latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
    /** cpuSeconds: the whole life of the process, start-up included; coresUsed: in the measured window. */
    processor: { count: number; peakRssMiB: number | null; cpuSeconds: number; coresUsed: number };
    /** In the measured window only. */
    cpuSeconds: { processor: number; postgres: number; rabbitmq: number; benchClient: number; otherProcesses: number; machineBusyShare: number };
    batches: BatchMetrics | null;
    events: { messages: number; changes: number; duplicates: number; unknownFingerprints: number };
    checks: { alertInstances: number; alertGroups: number; outboxLeft: number; deadLettered: number; inputQueueLeft: number };
    /** With --profile: what the processor's PostgreSQL connections were doing, sampled. */
    profile?: ActivityProfile;
  };
}

const fmt = (value: number, digits = 0) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function markdownTable(result: Result): string {
  const r = result.results;
  const p = result.parameters;
  const rows: [string, string][] = [
    [
      'mode',
      `${p.mode === 'preload' ? 'preload (publish all, then start the processor)' : 'concurrent (publish while the processor runs)'}${r.processor.count > 1 ? `, ${r.processor.count} processors` : ''}`,
    ],
    ['alerts stored', `${fmt(p.alerts)} (${p.alertsPerMessage} per message, ${fmt(p.messages)} messages, unique fingerprints)`],
    ['**throughput**', `**${fmt(r.alertsPerSecond)} alerts/s** (${fmt(r.wallSeconds, 2)} s ${r.measuredFrom})`],
    ...(r.alertsPerSecondAfterReady !== null
      ? ([['throughput after /readyz', `${fmt(r.alertsPerSecondAfterReady)} alerts/s (startup ${fmt(r.processorStartupSeconds, 2)} s excluded)`]] as [
          string,
          string,
        ][])
      : []),
    [
      'published',
      `${fmt(r.publishSeconds, 2)} s (${fmt(r.publishedAlertsPerSecond)} alerts/s confirmed; offered rate ${p.offeredRate === 'unlimited' ? 'unlimited' : `${fmt(p.offeredRate)}/s`})`,
    ],
    [
      'latency publish -> event received p50 / p90 / p99 / max',
      `${fmt(r.latencyMs.p50)} / ${fmt(r.latencyMs.p90)} / ${fmt(r.latencyMs.p99)} / ${fmt(r.latencyMs.max)} ms`,
    ],
    [
      r.processor.count > 1 ? 'processor peak RSS (VmHWM, largest) / CPU over their lives (all)' : 'processor peak RSS (VmHWM) / CPU over its life',
      `${r.processor.peakRssMiB === null ? 'n/a' : `${fmt(r.processor.peakRssMiB)} MiB`} / ${fmt(r.processor.cpuSeconds, 1)} s`,
    ],
    [
      'CPU s in the window: processor / PostgreSQL / RabbitMQ / bench client / anything else',
      `${fmt(r.cpuSeconds.processor, 1)} / ${fmt(r.cpuSeconds.postgres, 1)} / ${fmt(r.cpuSeconds.rabbitmq, 1)} / ${fmt(r.cpuSeconds.benchClient, 1)} / ${fmt(r.cpuSeconds.otherProcesses, 1)}`,
    ],
    [
      'machine CPU busy',
      `${fmt(r.cpuSeconds.machineBusyShare * 100)}% of ${result.machine.nproc} cores (before the run: ${fmt(result.machine.busyBeforeRun * 100)}% busy, load average ${result.machine.loadAverage})`,
    ],
    ...(r.batches
      ? ([
          [
            'batches',
            `${fmt(r.batches.batches)}, mean ${fmt(r.batches.meanAlertsPerBatch)} alerts, mean storeBatch ${fmt(r.batches.meanStoreMs, 1)} ms (${fmt((r.batches.storeSecondsSum / r.wallSeconds) * 100)}% of wall time${r.processor.count > 1 ? ', summed over the processors' : ''})` +
              (r.batches.handlerSecondsSum === null
                ? ''
                : `; whole handler incl. outbox publish ${fmt((r.batches.handlerSecondsSum / Math.max(1, r.batches.batches)) * 1000, 1)} ms per batch`),
          ],
        ] as [string, string][])
      : []),
    [
      'checks',
      `${fmt(r.checks.alertInstances)} alert_instances, ${fmt(r.checks.alertGroups)} alert_groups, ${r.events.duplicates} duplicate changes, ${r.checks.deadLettered} dead-lettered, ${r.checks.outboxLeft} left in the outbox`,
    ],
  ];
  return ['| metric | value |', '|---|---|', ...rows.map(([name, value]) => `| ${name} | ${value} |`)].join('\n');
}

function profileTable(profile: ActivityProfile): string {
  const rows = profile.samples.slice(0, 12).map((sample) => `| ${sample.key} | ${fmt(sample.share * 100, 1)}% |`);
  return [
    `Processor's PostgreSQL connections, ${fmt(profile.ticks)} samples of pg_stat_activity (every ${profile.intervalMs} ms); share of samples:`,
    '',
    '| state / wait event / statement (when idle in transaction: the last one) | share |',
    '|---|---|',
    `| no connection in a transaction (JS work, waiting for messages, publishing outside a transaction) | ${fmt((profile.noTransactionTicks / Math.max(1, profile.ticks)) * 100, 1)}% |`,
    ...rows,
  ].join('\n');
}

function markdownReport(result: Result): string {
  const m = result.machine;
  const settings = Object.entries(result.parameters.processorSettings)
    .map(([name, value]) => `${name}=${value}`)
    .join(', ');
  return `# alert-processor benchmark, ${result.startedAt}

${markdownTable(result)}
${result.results.profile ? `\n${profileTable(result.results.profile)}\n` : ''}
Latency is from the publish call to the arrival of the \`alert.processed\` event carrying the
alert's change at the benchmark's consumer: an upper bound of publish -> commit (it adds the
outbox relay publish and one broker hop).${result.parameters.mode === 'preload' ? ' In preload mode it mostly measures how long an alert waited in the queue before the processor started.' : ''}

## Machine

${m.nproc} cores (${m.cpuModel}), ${fmt(m.totalMemoryMiB)} MiB RAM, ${m.kernel}; Node ${m.node}; PostgreSQL ${m.postgres}; RabbitMQ ${m.rabbitmq}.
RabbitMQ, PostgreSQL, the processor and the benchmark client all ran on this machine.

## Parameters

Mode ${result.parameters.mode}, ${fmt(result.parameters.alerts)} alerts, ${result.parameters.alertsPerMessage} per message, offered rate ${result.parameters.offeredRate}, publish window ${result.parameters.publishWindow} unconfirmed messages; processor settings: ${settings}.

## Method

${result.method.map((line) => `- ${line}`).join('\n')}
`;
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  process.chdir(ROOT);
  const options = parseOptions();
  const runStart = performance.now();
  const deadline = runStart + options.timeoutS * 1000;
  // A last resort: whatever hangs, the run ends (and cleans up) a little after its timeout.
  const watchdog = setTimeout(
    () => {
      console.error(`the benchmark did not finish within ${options.timeoutS + 120} s; cleaning up`);
      void exitAfterCleanUp(1);
    },
    (options.timeoutS + 120) * 1000,
  );
  watchdog.unref();

  if (options.build) await buildProcessor();
  else if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: run without --skip-build`);

  const startedAt = new Date().toISOString();
  const runId = randomBytes(4).toString('hex');
  const messages = Math.ceil(options.alerts / options.perMessage);
  const mode = options.preload ? 'preload' : 'concurrent';
  console.log(`alert-processor benchmark: ${fmt(options.alerts)} alerts in ${fmt(messages)} messages, ${mode} mode`);
  const machine = await machineFacts(TEST_POSTGRES_URL);
  if (machine.busyBeforeRun > 0.15) {
    console.warn(
      `warning: the machine was ${fmt(machine.busyBeforeRun * 100)}% busy before the run (load average ${machine.loadAverage}): other work will skew the figures`,
    );
  }
  const workload = buildWorkload(options, startedAt);

  const database: TestDatabase = await withTimeout(createTestDatabase('bench'), 60_000, 'the bench database');
  cleanups.push({ what: 'dropping the bench database', run: () => database.destroy() });
  const vhost: TestVhost = await withTimeout(createTestVhost('bench'), 60_000, 'the bench vhost');
  cleanups.push({ what: 'deleting the bench vhost', run: () => vhost.destroy() });

  const processorEnv = { RABBITMQ_URL: vhost.url, DATABASE_URL: database.url };
  const startAll = async () => Promise.all(Array.from({ length: options.processors }, async () => startProcessor(processorEnv, await freePort())));
  // The processor declares the topology (every service declares every exchange, queue and
  // binding), so the queues exist exactly as this build wants them. With --preload a first,
  // idle start only declares them and is stopped before anything is published.
  let processors: Processor[] = [];
  let readyAt = 0;
  if (options.preload) {
    const declaring = startProcessor(processorEnv, await freePort());
    await waitReady(declaring, 30_000);
    await declaring.stop();
  } else {
    processors = await startAll();
    readyAt = Math.max(...(await Promise.all(processors.map((processor) => waitReady(processor, 30_000)))));
  }

  // TCP_NODELAY: without it a paced publisher's small frames wait for the broker's delayed ACK
  // (up to 40 ms), which would be counted as processor latency.
  const connection = await withTimeout(amqp.connect(vhost.url, { noDelay: true }), 10_000, 'the RabbitMQ connection');
  cleanups.push({ what: 'closing the RabbitMQ connection', run: () => connection.close().catch(() => undefined) });
  connection.on('error', (error: Error) => fail(new Error(`RabbitMQ connection error: ${error.message}`)));
  connection.on('blocked', (reason: string) => console.error(`RabbitMQ blocked the publisher: ${reason}`));
  const publishChannel = await connection.createConfirmChannel();
  publishChannel.on('return', (message: amqp.Message) => fail(new Error(`unroutable publish returned by RabbitMQ (routing key ${message.fields.routingKey})`)));
  publishChannel.on('error', (error: Error) => fail(new Error(`publish channel error: ${error.message}`)));
  const consumeChannel = await connection.createChannel();
  consumeChannel.on('error', (error: Error) => fail(new Error(`consume channel error: ${error.message}`)));
  const collector = await collectEvents(consumeChannel, workload, options.alerts);
  const events = guarded(withTimeout(collector.all, Math.max(1, deadline - performance.now()), `the change events of all ${fmt(options.alerts)} alerts`));
  events.catch(() => undefined);

  const databaseName = new URL(database.url).pathname.slice(1);
  const processorTicksNow = () => processors.reduce((total, processor) => total + (processTicks(processor.pid) ?? 0), 0);
  const snapshot = () => ({
    system: systemCpu(),
    postgres: ticksWhere(isPostgresFor(databaseName)),
    rabbitmq: ticksWhere(isRabbitmqServer),
    client: process.cpuUsage(),
    processorTicks: processorTicksNow(),
  });
  let profiler: ReturnType<typeof startActivityProfile> | undefined;
  const startProfile = () => {
    if (options.profile) profiler = startActivityProfile(database.url, databaseName, 'alert-processor');
  };
  let before: ReturnType<typeof snapshot>;
  let published: PublishResult;
  let t0: number;
  const spawnedAt = () => Math.min(...processors.map((processor) => processor.spawnedAt));

  if (options.preload) {
    console.log(`publishing ${fmt(messages)} messages before the processor starts...`);
    published = await publishAll(publishChannel, workload, options, runId, deadline);
    console.log(`published in ${fmt((published.confirmedAt - published.firstAt) / 1000, 2)} s; starting ${options.processors} processor(s)`);
    before = snapshot();
    startProfile();
    processors = await startAll();
    t0 = spawnedAt();
    readyAt = Math.max(...(await Promise.all(processors.map((processor) => waitReady(processor, 30_000)))));
  } else {
    console.log(`${options.processors} processor(s) ready in ${fmt((readyAt - spawnedAt()) / 1000, 2)} s; publishing ${fmt(messages)} messages`);
    before = snapshot();
    startProfile();
    published = await publishAll(publishChannel, workload, options, runId, deadline);
    t0 = published.firstAt;
    console.log(`published in ${fmt((published.confirmedAt - published.firstAt) / 1000, 2)} s; waiting for the last change event`);
  }

  const lastAt = await events;
  const after = snapshot();
  const profile = await profiler?.stop();
  const peakRssKiB = Math.max(...processors.map((processor) => statusKiB(processor.pid, 'VmHWM') ?? 0));
  const batches = await scrapeMetrics(processors.map((processor) => processor.port));

  // Cross-checks: every alert stored exactly once, nothing dead-lettered or left behind.
  const count = async (table: 'alert_instances' | 'alert_groups' | 'alert_outbox') =>
    (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(database.db)).rows[0]?.n ?? -1;
  let outboxLeft = await count('alert_outbox');
  for (let i = 0; i < 40 && outboxLeft > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    outboxLeft = await count('alert_outbox');
  }
  const checks = {
    alertInstances: await count('alert_instances'),
    alertGroups: await count('alert_groups'),
    outboxLeft,
    deadLettered: (await consumeChannel.checkQueue(deadLetterQueueName(QUEUES.alertProcessorAlertsReceived))).messageCount,
    inputQueueLeft: (await consumeChannel.checkQueue(QUEUES.alertProcessorAlertsReceived)).messageCount,
  };
  await Promise.all(processors.map((processor) => processor.stop()));

  // Latency per alert: arrival of its change event - publish of the message that carried it.
  const latencies = new Float64Array(options.alerts);
  for (let n = 0; n < options.alerts; n++)
    latencies[n] = (collector.arrivedAt[n] ?? Number.NaN) - (published.publishedAt[Math.floor(n / options.perMessage)] ?? Number.NaN);
  latencies.sort();
  const wallSeconds = (lastAt - t0) / 1000;
  const clientUsage = process.cpuUsage(before.client);
  const processorCpu = after.processorTicks / CLOCK_TICKS;
  const processorCpuInWindow = (after.processorTicks - before.processorTicks) / CLOCK_TICKS;

  const result: Result = {
    benchmark: 'alert-processor',
    startedAt,
    ok: false,
    machine,
    parameters: {
      mode,
      processors: options.processors,
      alerts: options.alerts,
      alertsPerMessage: options.perMessage,
      messages,
      offeredRate: options.rate > 0 ? options.rate : 'unlimited',
      publishWindow: options.window,
      processorSettings: Object.fromEntries(PROCESSOR_SETTINGS.map((name) => [name, process.env[name] || 'default'])),
    },
    method: [
      `The built processor (\`${ENTRY}\`) runs as its own process${options.processors > 1 ? ` (${options.processors} of them, on the same queue and database)` : ''} with LOG_LEVEL=warn against a throwaway PostgreSQL database (createTestDatabase, migrated) and RabbitMQ vhost (createTestVhost), both dropped at the end.`,
      `${fmt(options.alerts)} firing alerts with unique fingerprints (alertname Bench<n>) go out as ${fmt(messages)} \`AlertReceived\` messages (${options.perMessage} alerts each) on \`alert.received.api\`, through a raw amqplib confirm channel (persistent, mandatory, JSON, at most ${options.window} unconfirmed); each message's receivedAt is its publish time.`,
      options.preload
        ? 'Preload mode: every message is published and confirmed first; the clock starts when the processor process is spawned (its start-up is included) and stops when the change event of the last alert arrives.'
        : 'Concurrent mode: the processor is started and ready first; the clock starts at the first publish and stops when the change event of the last alert arrives.',
      `The benchmark consumes \`${QUEUES.slackNotifierAlertsProcessed}\` (the \`alert.processed.*\` events) and takes, per alert, event arrival - publish time of its message: an upper bound of publish -> commit. \`${QUEUES.emailNotifierAlertsProcessed}\` is left unconsumed.`,
      `Checked at the end: alert_instances = alert_groups = ${fmt(options.alerts)}, one change per alert, no duplicate change, nothing dead-lettered, the outbox empty.`,
      'Processor peak RSS is VmHWM of /proc/<pid>/status, its CPU is utime+stime of /proc/<pid>/stat (whole life), the CPU split (processor, PostgreSQL summed over its server processes and the backends of the bench database, the RabbitMQ server process, the benchmark client, machine busy share from /proc/stat) covers the measured window, batch figures come from its /metrics (sentryhub_processor_batch_seconds times storeBatch only).',
    ],
    results: {
      wallSeconds,
      alertsPerSecond: options.alerts / wallSeconds,
      measuredFrom: options.preload ? 'from processor spawn to the last change event' : 'from the first publish to the last change event',
      processorStartupSeconds: (readyAt - spawnedAt()) / 1000,
      alertsPerSecondAfterReady: options.preload ? options.alerts / ((lastAt - readyAt) / 1000) : null,
      publishSeconds: (published.confirmedAt - published.firstAt) / 1000,
      publishedAlertsPerSecond: options.alerts / ((published.confirmedAt - published.firstAt) / 1000),
      latencyMs: {
        p50: quantile(latencies, 0.5),
        p90: quantile(latencies, 0.9),
        p99: quantile(latencies, 0.99),
        max: latencies[latencies.length - 1] ?? Number.NaN,
        mean: latencies.reduce((sum, value) => sum + value, 0) / latencies.length,
      },
      processor: {
        count: options.processors,
        peakRssMiB: peakRssKiB > 0 ? peakRssKiB / 1024 : null,
        cpuSeconds: processorCpu,
        coresUsed: processorCpuInWindow / wallSeconds,
      },
      cpuSeconds: {
        processor: processorCpuInWindow,
        postgres: cpuSecondsBetween(before.postgres, after.postgres),
        rabbitmq: cpuSecondsBetween(before.rabbitmq, after.rabbitmq),
        benchClient: (clientUsage.user + clientUsage.system) / 1e6,
        otherProcesses: Math.max(
          0,
          (after.system.busy - before.system.busy) / CLOCK_TICKS -
            processorCpuInWindow -
            cpuSecondsBetween(before.postgres, after.postgres) -
            cpuSecondsBetween(before.rabbitmq, after.rabbitmq) -
            (clientUsage.user + clientUsage.system) / 1e6,
        ),
        machineBusyShare: cpuUtilisation(before.system, after.system),
      },
      batches,
      events: {
        messages: collector.stats.events,
        changes: collector.stats.changes,
        duplicates: collector.stats.duplicates,
        unknownFingerprints: collector.stats.unknown,
      },
      checks,
      ...(profile ? { profile } : {}),
    },
  };

  const problems: string[] = [];
  if (checks.alertInstances !== options.alerts) problems.push(`select count(*) from alert_instances = ${checks.alertInstances}, expected ${options.alerts}`);
  if (checks.alertGroups !== options.alerts) problems.push(`select count(*) from alert_groups = ${checks.alertGroups}, expected ${options.alerts}`);
  if (collector.stats.duplicates > 0) problems.push(`${collector.stats.duplicates} duplicate change(s) for one alert`);
  if (collector.stats.unknown > 0) problems.push(`${collector.stats.unknown} change(s) for fingerprints the benchmark never sent`);
  if (checks.deadLettered > 0) problems.push(`${checks.deadLettered} message(s) dead-lettered`);
  if (checks.inputQueueLeft > 0) problems.push(`${checks.inputQueueLeft} message(s) left in ${QUEUES.alertProcessorAlertsReceived}`);
  if (checks.outboxLeft > 0) problems.push(`${checks.outboxLeft} event(s) left in alert_outbox`);
  result.ok = problems.length === 0;

  console.log(`\n${markdownTable(result)}\n`);
  if (profile) console.log(`${profileTable(profile)}\n`);
  console.log('Latency is publish -> change event received by the benchmark: an upper bound of publish -> commit.');
  const warnings = processors.flatMap((processor) => processor.output).filter((line) => /"level":(40|50|60)/.test(line));
  if (warnings.length > 0) console.log(`\nthe processor logged ${warnings.length} warning/error line(s), the last ones:\n${warnings.slice(-5).join('\n')}`);

  if (problems.length > 0) throw new Error(`CROSS-CHECK FAILED, the figures above are not valid (no result file written):\n- ${problems.join('\n- ')}`);
  if (options.write) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const stamp = startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
    const base = join(RESULTS_DIR, `processor-${stamp}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(`${base}.md`, markdownReport(result));
    console.log(`\nwritten ${base}.json and ${base}.md`);
  }
  clearTimeout(watchdog);
}

try {
  await main();
  await exitAfterCleanUp(0);
} catch (error) {
  console.error(`\nbench:processor failed: ${error instanceof Error ? error.message : String(error)}`);
  await exitAfterCleanUp(1);
}
