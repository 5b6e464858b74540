/**
 * `npm run bench [-- --quick --duration 10 --connections 100 --skip-build --no-write --out DIR]`
 *
 * A benchmark (not a test) of the BUILT stack: webhook-gateway, alert-processor and
 * slack-notifier as real processes against a throwaway PostgreSQL database and RabbitMQ vhost,
 * the Slack stand-in of @sentryhub/testing, and autocannon driving the gateway. In the same run
 * it measures the machine's own limits (a bare fastify route, raw amqplib confirmed publishing
 * to a quorum queue, raw `INSERT ... SELECT FROM unnest ... ON CONFLICT`) and reports each
 * SentryHub figure as a ratio to its limit. Results: `bench/results/stack-<time>.{json,md,svg}`.
 * See tools/bench/README.md.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { createTestDatabase, createTestVhost, startSlackMock, type SlackMock, type TestDatabase, type TestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import autocannon from 'autocannon';
import { loadTest } from 'loadtest';
import { sql } from 'kysely';
import pg from 'pg';
import { renderChart, type TimelineSample } from './stack-bench-chart';
import {
  cleanUp,
  cleanups,
  cpuSecondsBetween,
  cpuUtilisation,
  freePort,
  isPostgresFor,
  isRabbitmqServer,
  machineFacts,
  parseMetrics,
  processTicks,
  quantile,
  statusKiB,
  systemCpu,
  ticksWhere,
  withTimeout,
  CLOCK_TICKS,
  type MachineFacts,
} from './system-stats';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const APPS = ['webhook-gateway', 'alert-processor', 'slack-notifier'] as const;
type AppName = (typeof APPS)[number];

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

interface Options {
  quick: boolean;
  /** Seconds per duration-based scenario (and per bare-fastify run). */
  durationS: number;
  connections: number;
  build: boolean;
  write: boolean;
  outDir: string;
  /** Alerts of the unique storm; fingerprints of the repeat storm; alerts it sends. */
  stormAlerts: number;
  repeatFingerprints: number;
  repeatAlerts: number;
  /** Raw amqplib publishes and raw unnest rows of the limit measurements. */
  limitMessages: number;
  limitRows: number;
  drainTimeoutS: number;
  /** Scenario names to run (all when empty). */
  only: string[];
  /** Directory for a `node --cpu-prof` profile of the gateway, or none. */
  profileDir: string | null;
  /** Where the built apps are (`<dist>/apps/<app>/main.js`). */
  dist: string;
  /** alert-processor processes (competing consumers of one queue, one database) and webhook-gateway processes (the load split evenly across their ports). */
  processors: number;
  gateways: number;
  /** Extra node options for the spawned services only (not the bench process, not the limits). */
  nodeOptions: string[];
}

const USAGE = `usage: npm run bench -- [options]
  --quick            tiny counts (1 s per scenario, 2,000-alert storm): checks the harness, measures nothing worth publishing
  --duration S       seconds per duration-based scenario (default 10)
  --connections C    autocannon connections (default 100)
  --skip-build       use dist/apps/*/main.js as they are
  --no-write         print only, no result files
  --out DIR          where the result files go (default bench/results)
  --only A,B         only these scenarios (paced-2000, single, webhook10, api-batch, storm, repeat-storm)
  --profile DIR      run the gateway under node --cpu-prof and write its profile to DIR
  --dist DIR         run the apps built in DIR/apps/<app>/main.js (default dist; with --skip-build)
  --processors N     N alert-processor processes, competing consumers of one queue (default 1)
  --gateways N       N webhook-gateway processes; one autocannon per gateway, connections and rate split evenly (default 1)
  --node-options=S   extra node options for the services only (note the =), e.g. --node-options="--max-semi-space-size=4 --max-old-space-size=256"
Gateway and processor settings come from the environment (GATEWAY_COALESCE_*, PROCESSOR_*, DATABASE_POOL_SIZE).
A stack already running instead of the bench's own: BENCH_GATEWAY_URL, BENCH_PROCESSOR_URL and
BENCH_NOTIFIER_URL (each service's HTTP port, e.g. http://127.0.0.1:8080) and BENCH_DATABASE_URL.`;

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      duration: { type: 'string' },
      connections: { type: 'string' },
      'skip-build': { type: 'boolean' },
      'no-write': { type: 'boolean' },
      out: { type: 'string' },
      only: { type: 'string' },
      profile: { type: 'string' },
      dist: { type: 'string' },
      processors: { type: 'string' },
      gateways: { type: 'string' },
      'node-options': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (name: string, value: string | undefined, fallback: number): number => {
    const parsed = value === undefined ? fallback : Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} must be a positive integer, got "${value}"\n${USAGE}`);
    return parsed;
  };
  const options: Options = {
    quick,
    durationS: int('--duration', values.duration, quick ? 1 : 10),
    connections: int('--connections', values.connections, quick ? 10 : 100),
    build: !values['skip-build'],
    write: !values['no-write'],
    outDir: values.out ?? join(ROOT, 'bench/results'),
    stormAlerts: quick ? 2_000 : 50_000,
    repeatFingerprints: quick ? 100 : 500,
    repeatAlerts: quick ? 2_000 : 50_000,
    limitMessages: quick ? 1_000 : 30_000,
    limitRows: quick ? 2_000 : 50_000,
    drainTimeoutS: quick ? 60 : 180,
    only: (values.only ?? '').split(',').map((name) => name.trim()).filter(Boolean),
    profileDir: values.profile ?? null,
    dist: values.dist ?? 'dist',
    processors: int('--processors', values.processors, 1),
    gateways: int('--gateways', values.gateways, 1),
    nodeOptions: (values['node-options'] ?? '').split(/\s+/).filter(Boolean),
  };
  if (options.gateways > options.connections) throw new Error(`--gateways ${options.gateways} needs at least as many --connections\n${USAGE}`);
  if (values.dist !== undefined && !values['skip-build']) throw new Error(`--dist needs --skip-build (the build writes to dist/)\n${USAGE}`);
  return options;
}

// ---------------------------------------------------------------------------------------------
// Clean-up (as processor-bench.ts): whatever happens, processes stop and the database and vhost go.
// ---------------------------------------------------------------------------------------------


for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the services and dropping the bench database and vhost...`);
    void cleanUp().then(() => process.exit(130));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface Service {
  name: string;
  /** Where its HTTP server answers (intake for the gateway; /metrics, /readyz for all). */
  url: string;
  /** Only for a service this bench started: RSS and CPU then come from /proc, else from its /metrics. */
  pid?: number;
  output: string[];
  stop(): Promise<void>;
}

function spawnNode(name: string, args: string[], env: Record<string, string>, port: number): Service {
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    try {
      await withTimeout(exited, 15_000, `${name} to stop after SIGTERM`);
    } catch {
      child.kill('SIGKILL');
      await withTimeout(exited, 5_000, `${name} to die after SIGKILL`);
    }
  };
  cleanups.push({ what: `stopping ${name}`, run: stop });
  return { name, url: `http://127.0.0.1:${port}`, pid: child.pid, output, stop };
}

async function waitHttp(service: Service, path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${service.url}${path}`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (performance.now() > deadline) throw new Error(`${service.name} did not answer ${path} with 200 within ${timeoutMs / 1000} s; its output:\n${service.output.join('\n')}`);
    await sleep(50);
  }
}

/** The app a service runs: its name without the replica suffix (`alert-processor#2`). */
const appOf = (service: Service): string => service.name.replace(/#\d+$/, '');

async function startApp(app: AppName, env: Record<string, string>, dist: string, nodeArgs: string[] = [], replica = 1): Promise<Service> {
  const entry = resolve(ROOT, dist, `apps/${app}/main.js`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: drop --skip-build`);
  const port = await freePort();
  const service = spawnNode(replica === 1 ? app : `${app}#${replica}`, [...nodeArgs, entry], { ...env, [app === 'webhook-gateway' ? 'PORT' : 'HEALTH_PORT']: String(port) }, port);
  await waitHttp(service, '/readyz');
  return service;
}

/** The bare fastify route of the limits: the same JSON body parsed, 202 answered, nothing else. */
const BARE_FASTIFY = `
import Fastify from 'fastify';
const app = Fastify({ logger: false, bodyLimit: 1048576 });
app.get('/readyz', async () => 'ok');
app.post('/', async (request, reply) => reply.code(202).send({ accepted: 1 }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
`;

// ---------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------

const STARTS_AT = new Date(Date.now() - 60_000).toISOString();

interface AlertSpec {
  name: string;
  instance: string;
}

function labelsOf(spec: AlertSpec, n: number): Record<string, string> {
  return { alertname: spec.name, instance: spec.instance, job: 'bench', severity: ['critical', 'warning', 'info'][n % 3] ?? 'warning', team: 'bench' };
}

function webhookBody(alerts: AlertSpec[]): string {
  return JSON.stringify({
    version: '4',
    groupKey: `{}:{alertname="${alerts[0]?.name ?? 'Bench'}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'sentryhub',
    groupLabels: { alertname: alerts[0]?.name ?? 'Bench' },
    commonLabels: { job: 'bench' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.bench:9093',
    alerts: alerts.map((spec, n) => ({
      status: 'firing',
      labels: labelsOf(spec, n),
      annotations: { summary: `Benchmark alert ${spec.name} on ${spec.instance}` },
      startsAt: STARTS_AT,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.bench:9090/graph?g0.expr=up',
    })),
  });
}

function apiBody(alerts: AlertSpec[]): string {
  return JSON.stringify(
    alerts.map((spec, n) => ({ labels: labelsOf(spec, n), annotations: { summary: `Benchmark alert ${spec.name} on ${spec.instance}` }, startsAt: STARTS_AT, generatorURL: 'http://prometheus.bench:9090/graph' })),
  );
}

/** `count` request bodies of `per` alerts, fingerprints unique across all of them (or cycling through `distinct`). */
function bodies(kind: 'webhook' | 'api', prefix: string, count: number, per: number, distinct = Number.POSITIVE_INFINITY): string[] {
  const out: string[] = [];
  for (let r = 0; r < count; r++) {
    const alerts: AlertSpec[] = [];
    for (let a = 0; a < per; a++) {
      const n = (r * per + a) % distinct;
      alerts.push({ name: `${prefix}${Math.floor(n / 100)}`, instance: `host-${n % 100}` });
    }
    out.push(kind === 'webhook' ? webhookBody(alerts) : apiBody(alerts));
  }
  return out;
}

interface Scenario {
  name: string;
  title: string;
  path: string;
  alertsPerRequest: number;
  bodies: string[];
  /** Either a duration or a number of requests. */
  durationS?: number;
  amount?: number;
  /** Offered load in requests/s, evenly spaced (loadtest's requestsPerSecond); unlimited (autocannon) when absent. */
  rate?: number;
  /** The alertname prefix of its alerts, to find them in PostgreSQL. */
  prefix: string;
  /** Distinct fingerprints sent. */
  fingerprints: number | 'per request';
}

function scenarios(options: Options): Scenario[] {
  const pool = (perSecondGuess: number) => Math.max(50, Math.min(20_000, perSecondGuess * options.durationS));
  const stormRequests = Math.ceil(options.stormAlerts / 100);
  const repeatRequests = Math.ceil(options.repeatAlerts / 100);
  return [
    {
      // First: its latencies (receipt -> store, -> Slack) and RSS are not those of the backlog
      // and heap that the closed-loop scenarios leave behind.
      name: 'paced-2000',
      title: '10-alert webhooks paced at 2,000 alerts/s',
      path: '/api/v1/webhooks/alertmanager',
      alertsPerRequest: 10,
      // A tenth to spare: the pace may overshoot a little, and every fingerprint must stay unique.
      bodies: bodies('webhook', 'Paced', Math.ceil(200 * options.durationS * 1.1) + 50, 10),
      durationS: options.durationS,
      rate: 200,
      fingerprints: 'per request',
      prefix: 'Paced',
    },
    { name: 'single', title: 'single-alert webhooks', path: '/api/v1/webhooks/alertmanager', alertsPerRequest: 1, bodies: bodies('webhook', 'Single', pool(2_000), 1), durationS: options.durationS, fingerprints: 'per request', prefix: 'Single' },
    { name: 'webhook10', title: '10-alert webhooks', path: '/api/v1/webhooks/alertmanager', alertsPerRequest: 10, bodies: bodies('webhook', 'Ten', pool(500), 10), durationS: options.durationS, fingerprints: 'per request', prefix: 'Ten' },
    { name: 'api-batch', title: 'POST /api/v2/alerts, 100 per request', path: '/api/v2/alerts', alertsPerRequest: 100, bodies: bodies('api', 'Batch', pool(60), 100), durationS: options.durationS, fingerprints: 'per request', prefix: 'Batch' },
    { name: 'storm', title: `storm: ${fmt(options.stormAlerts)} unique fingerprints`, path: '/api/v2/alerts', alertsPerRequest: 100, bodies: bodies('api', 'Storm', stormRequests, 100), amount: stormRequests, fingerprints: options.stormAlerts, prefix: 'Storm' },
    {
      name: 'repeat-storm',
      title: `repeat storm: ${fmt(options.repeatFingerprints)} fingerprints, ${fmt(options.repeatAlerts)} alerts`,
      path: '/api/v2/alerts',
      alertsPerRequest: 100,
      bodies: bodies('api', 'Repeat', repeatRequests, 100, options.repeatFingerprints),
      amount: repeatRequests,
      fingerprints: options.repeatFingerprints,
      prefix: 'Repeat',
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Load generation
// ---------------------------------------------------------------------------------------------

interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  seconds: number;
  latencyMs: { p50: number; p99: number; p99_9: number; max: number };
  statuses: Record<string, number>;
  connectionErrors: number;
  timeouts: number;
  /** With more than one gateway: each autocannon instance (one per gateway) on its own; the figures above are their sums, and percentiles of every response time of all of them. */
  perGateway?: { requests: number; requestsPerSecond: number; connections: number; latencyMs: LoadResult['latencyMs']; statuses: Record<string, number> }[];
}

/** Every response's time, bucketed by the sampler's window. */
const windowLatencies: number[] = [];

/** What one load generator instance (one per gateway) reports. */
interface InstanceLoad {
  statuses: Record<string, number>;
  /** Every response's time, ms. */
  latencies: number[];
  connectionErrors: number;
  timeouts: number;
}

/**
 * One load generator instance per URL (gateway), started together: connections, a fixed amount
 * and an offered rate split evenly among them, the bodies cycled from one shared counter.
 * Requests and statuses are summed and the latency percentiles are those of every response time
 * of all instances. Closed loop (as fast as the connections go): autocannon. An offered rate:
 * loadtest, which sends one request every 1/rate s whatever the responses (open loop), where
 * autocannon's rate lets each connection send its whole quota at the start of every second (a
 * burst of the second's load, not a pace).
 */
async function drive(urls: string | string[], path: string, body: string[], options: Options, run: { durationS?: number; amount?: number; rate?: number }): Promise<LoadResult> {
  const targets = typeof urls === 'string' ? [urls] : urls;
  const share = (totalValue: number, index: number) => Math.floor(totalValue / targets.length) + (index < totalValue % targets.length ? 1 : 0);
  const next = { value: 0 };
  const nextBody = () => body[next.value++ % body.length] ?? '';
  const durationS = run.durationS ?? options.durationS;
  const started = performance.now();
  const results = await Promise.all(
    targets.map((url, index) =>
      run.rate
        ? runPaced(url, path, nextBody, { rate: run.rate / targets.length, durationS })
        : runAutocannon(url, path, nextBody, { connections: share(options.connections, index), ...(run.amount ? { amount: share(run.amount, index) } : { durationS }) }),
    ),
  );
  // Our own clock: autocannon's duration is coarse for short runs.
  const seconds = (performance.now() - started) / 1000;
  const countOf = (statuses: Record<string, number>) => Object.values(statuses).reduce((sum, count) => sum + count, 0);
  const latencyOf = (latencies: number[]) => {
    const sorted = Float64Array.from(latencies).sort();
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), p99_9: quantile(sorted, 0.999), max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN };
  };
  const statuses: Record<string, number> = {};
  for (const result of results) for (const [code, count] of Object.entries(result.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  const requests = countOf(statuses);
  return {
    requests,
    requestsPerSecond: requests / seconds,
    seconds,
    latencyMs: latencyOf(results.flatMap((result) => result.latencies)),
    statuses,
    connectionErrors: results.reduce((sum, result) => sum + result.connectionErrors, 0),
    timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
    ...(results.length === 1
      ? {}
      : {
          perGateway: results.map((result, index) => ({
            requests: countOf(result.statuses),
            requestsPerSecond: countOf(result.statuses) / seconds,
            connections: run.rate ? 0 : share(options.connections, index),
            latencyMs: latencyOf(result.latencies),
            statuses: result.statuses,
          })),
        }),
  };
}

async function runAutocannon(url: string, path: string, nextBody: () => string, run: { connections: number; durationS?: number; amount?: number }): Promise<InstanceLoad> {
  const latencies: number[] = [];
  const done = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: run.connections,
        ...(run.amount ? { amount: run.amount } : { duration: run.durationS }),
        timeout: 30,
        headers: { 'content-type': 'application/json' },
        requests: [{ method: 'POST', path, setupRequest: (request) => ({ ...request, body: nextBody() }) }],
      },
      (error: unknown, result: autocannon.Result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)),
    );
    instance.on('response', (_client: autocannon.Client, _status: number, _bytes: number, responseTime: number) => {
      windowLatencies.push(responseTime);
      latencies.push(responseTime);
    });
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(done.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  return { statuses, latencies, connectionErrors: done.errors, timeouts: done.timeouts };
}

/** An open-loop constant rate (loadtest's requestsPerSecond): request i goes at i/rate s, answered or not. */
async function runPaced(url: string, path: string, nextBody: () => string, run: { rate: number; durationS: number }): Promise<InstanceLoad> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let connectionErrors = 0;
  await new Promise<void>((resolve, reject) => loadTest({
    url: new URL(path, url).href,
    method: 'POST',
    contentType: 'application/json',
    body: nextBody,
    requestsPerSecond: Math.max(1, Math.round(run.rate)),
    maxSeconds: run.durationS,
    agentKeepAlive: true,
    timeout: 30_000,
    quiet: true,
    statusCallback: (_error: unknown, result?: { statusCode?: number; requestElapsed?: number }) => {
      if (result?.statusCode === undefined) {
        connectionErrors += 1;
        return;
      }
      statuses[result.statusCode] = (statuses[result.statusCode] ?? 0) + 1;
      if (result.requestElapsed !== undefined) {
        windowLatencies.push(result.requestElapsed);
        latencies.push(result.requestElapsed);
      }
    },
  }, (error: unknown) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve())));
  return { statuses, latencies, connectionErrors, timeouts: 0 };
}

// ---------------------------------------------------------------------------------------------
// The machine's limits
// ---------------------------------------------------------------------------------------------

interface Limits {
  bareFastify: { requestsPerSecond: number; latencyMs: LoadResult['latencyMs'] };
  amqplibQuorumConfirmed: { messagesPerSecond: number; messages: number; bytesPerMessage: number; window: number };
  unnestUpsert: { insertRowsPerSecond: number; conflictRowsPerSecond: number; rows: number; rowsPerStatement: number };
}

async function measureBareFastify(options: Options, singleBodies: string[]): Promise<Limits['bareFastify']> {
  const port = await freePort();
  const service = spawnNode('bare fastify', ['--input-type=module', '-e', BARE_FASTIFY], { PORT: String(port) }, port);
  await waitHttp(service, '/readyz');
  const load = await drive(`http://127.0.0.1:${port}`, '/', singleBodies, options, { durationS: options.durationS });
  await service.stop();
  return { requestsPerSecond: load.requestsPerSecond, latencyMs: load.latencyMs };
}

async function measureAmqp(url: string, options: Options, body: Buffer): Promise<Limits['amqplibQuorumConfirmed']> {
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

async function measureUnnest(databaseUrl: string, options: Options): Promise<Limits['unnestUpsert']> {
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

type LatencyMs = { alerts: number; p50: number; p99: number; max: number };

/** The receipt -> Slack cell: p50 / p99, or how many of the notifications were sent in time. */
function slackLatency(latency: (LatencyMs & { sent: number; expected: number }) | null): string {
  if (!latency) return 'n/a';
  const figures = `${Math.round(latency.p50).toLocaleString('en-US')} / ${Math.round(latency.p99).toLocaleString('en-US')}`;
  return latency.sent >= latency.expected ? figures : `${figures} (${latency.sent.toLocaleString('en-US')} of ${latency.expected.toLocaleString('en-US')} sent)`;
}

/** p50, p99 and max of the `ms` column of `rows` (a SELECT), or null when it has no row. */
async function percentilesMs(databaseUrl: string, rows: string, params: unknown[]): Promise<LatencyMs | null> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows: result } = await client.query<{ alerts: string; p50: number | null; p99: number | null; max: number | null }>(
      `select count(*) as alerts,
              percentile_cont(0.5) within group (order by ms) as p50,
              percentile_cont(0.99) within group (order by ms) as p99,
              max(ms)::float8 as max
         from (${rows}) as t`,
      params,
    );
    const row = result[0];
    if (!row || row.p50 === null || row.p99 === null || row.max === null) return null;
    return { alerts: Number(row.alerts), p50: row.p50, p99: row.p99, max: row.max };
  } finally {
    await client.end();
  }
}

/**
 * alert_instances.created_at (now() of the storing transaction) - alert_groups.last_occurrence
 * (the gateway's receivedAt) for the alerts whose alertname starts with `prefix`.
 */
function receiptToStore(databaseUrl: string, prefix: string): Promise<LatencyMs | null> {
  return percentilesMs(
    databaseUrl,
    `select extract(epoch from (i.created_at - g.last_occurrence)) * 1000 as ms
       from alert_instances i join alert_groups g on g.id = i.group_id
      where g.name like $1`,
    [`${prefix}%`],
  );
}

const SENT_FIRING = `from notifications n join alert_groups g on g.id = n.group_id
      where g.name like $1 and n.kind = 'firing' and n.status = 'sent'`;

/**
 * notifications.sent_at (Slack's `ok`; for a digest, that of the one message folding them) -
 * alert_groups.last_occurrence (the gateway's receivedAt), over the firing notifications of the
 * alerts whose alertname starts with `prefix`, once `expected` of them were sent (or after
 * `timeoutMs`: then `sent` says how many were).
 */
async function receiptToSlack(databaseUrl: string, prefix: string, expected: number, timeoutMs: number): Promise<(LatencyMs & { sent: number; expected: number }) | null> {
  const deadline = performance.now() + timeoutMs;
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  let sent = 0;
  try {
    for (;;) {
      sent = Number((await client.query<{ n: string }>(`select count(*) as n ${SENT_FIRING}`, [`${prefix}%`])).rows[0]?.n ?? 0);
      if (sent >= expected || performance.now() > deadline) break;
      await sleep(500);
    }
  } finally {
    await client.end();
  }
  const latency = await percentilesMs(databaseUrl, `select extract(epoch from (n.sent_at - g.last_occurrence)) * 1000 as ms ${SENT_FIRING}`, [`${prefix}%`]);
  return latency ? { ...latency, sent, expected } : null;
}

// ---------------------------------------------------------------------------------------------
// Metrics of the running stack
// ---------------------------------------------------------------------------------------------

interface Counters {
  accepted: number;
  publishes: number;
  processed: number;
  /** The gateway's publish -> confirm histogram (seconds) and in-flight-at-start histogram. */
  confirmSeconds: { sum: number; count: number; buckets: Map<string, number> };
  inFlight: { sum: number; count: number };
}

function histogram(samples: Map<string, { labels: string; value: number }[]>, name: string): Counters['confirmSeconds'] {
  const buckets = new Map<string, number>();
  // Summed per bound: with more than one gateway the samples of all of them are in `samples`.
  for (const sample of samples.get(`${name}_bucket`) ?? []) {
    const le = /le="([^"]+)"/.exec(sample.labels)?.[1] ?? '';
    buckets.set(le, (buckets.get(le) ?? 0) + sample.value);
  }
  return { sum: total(samples, `${name}_sum`), count: total(samples, `${name}_count`), buckets };
}

/** The upper bound of the histogram bucket holding quantile q of the observations between two scrapes. */
function bucketQuantile(before: Counters['confirmSeconds'], after: Counters['confirmSeconds'], q: number): number | null {
  const count = after.count - before.count;
  if (count <= 0) return null;
  for (const [le, cumulative] of after.buckets) if (cumulative - (before.buckets.get(le) ?? 0) >= q * count) return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
  return null;
}

async function scrape(url: string): Promise<Map<string, { labels: string; value: number }[]>> {
  const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) }).then(
    (response) => response.text(),
    () => '',
  );
  return parseMetrics(text);
}

const total = (samples: Map<string, { labels: string; value: number }[]>, name: string, labels = '') =>
  (samples.get(name) ?? []).filter((sample) => sample.labels.includes(labels)).reduce((sum, sample) => sum + sample.value, 0);

/** The samples of several services in one map (a name's samples of all of them, to be summed). */
async function scrapeAll(services: Service[]): Promise<Map<string, { labels: string; value: number }[]>> {
  const merged = new Map<string, { labels: string; value: number }[]>();
  for (const samples of await Promise.all(services.map((service) => scrape(service.url)))) {
    for (const [name, list] of samples) merged.set(name, [...(merged.get(name) ?? []), ...list]);
  }
  return merged;
}

/**
 * RSS in MiB: from /proc for a process of this bench, from prom-client's process metrics for a
 * running stack's (from `samples` when its /metrics was just scraped).
 */
async function rssMiB(service: Service, samples?: Map<string, { labels: string; value: number }[]>): Promise<number> {
  if (service.pid !== undefined) return (statusKiB(service.pid, 'VmRSS') ?? 0) / 1024;
  return total(samples ?? (await scrape(service.url)), 'process_resident_memory_bytes') / 2 ** 20;
}

/** CPU seconds so far, the same two ways. */
async function cpuSecondsOf(service: Service): Promise<number> {
  if (service.pid !== undefined) return (processTicks(service.pid) ?? 0) / CLOCK_TICKS;
  return total(await scrape(service.url), 'process_cpu_seconds_total');
}

/**
 * A stack already running, named by the environment: BENCH_GATEWAY_URL, BENCH_PROCESSOR_URL,
 * BENCH_NOTIFIER_URL (each service's HTTP port) and BENCH_DATABASE_URL (its database). None
 * set: the bench starts its own stack. Some but not all: an error naming the missing ones.
 */
function runningStackFromEnv(env: NodeJS.ProcessEnv): { gateway: string; processor: string; notifier: string; databaseUrl: string } | null {
  const names = ['BENCH_GATEWAY_URL', 'BENCH_PROCESSOR_URL', 'BENCH_NOTIFIER_URL', 'BENCH_DATABASE_URL'] as const;
  const missing = names.filter((name) => !env[name]);
  if (missing.length === names.length) return null;
  if (missing.length > 0) throw new Error(`a running stack needs all of ${names.join(', ')}; missing: ${missing.join(', ')}`);
  const trim = (url: string) => url.replace(/\/+$/, '');
  return { gateway: trim(env['BENCH_GATEWAY_URL'] ?? ''), processor: trim(env['BENCH_PROCESSOR_URL'] ?? ''), notifier: trim(env['BENCH_NOTIFIER_URL'] ?? ''), databaseUrl: env['BENCH_DATABASE_URL'] ?? '' };
}

/** Summed over every gateway and every processor. */
async function counters(gateways: Service[], processors: Service[]): Promise<Counters> {
  const [g, p] = await Promise.all([scrapeAll(gateways), scrapeAll(processors)]);
  return {
    accepted: total(g, 'sentryhub_gateway_alerts_accepted_total'),
    publishes: total(g, 'sentryhub_messages_published_total', 'outcome="confirmed"'),
    processed: total(p, 'sentryhub_processor_alerts_total'),
    confirmSeconds: histogram(g, 'sentryhub_gateway_publish_seconds'),
    inFlight: { sum: total(g, 'sentryhub_gateway_publishes_in_flight_sum'), count: total(g, 'sentryhub_gateway_publishes_in_flight_count') },
  };
}

/** The scenario's CPU figures, with what the machine spent on anything else. */
function cpuFigures(cpu: { postgres: number; rabbitmq: number; benchClient: number; machineBusyShare: number; busySeconds: number; services: number }): ScenarioResult['cpuSeconds'] {
  const ours = cpu.services + cpu.postgres + cpu.rabbitmq + cpu.benchClient;
  return { postgres: cpu.postgres, rabbitmq: cpu.rabbitmq, benchClient: cpu.benchClient, machineBusyShare: cpu.machineBusyShare, others: Math.max(0, cpu.busySeconds - ours) };
}

function confirmFigures(before: Counters, after: Counters): ScenarioResult['gatewayConfirm'] {
  const count = after.confirmSeconds.count - before.confirmSeconds.count;
  if (count <= 0) return null;
  const ms = (value: number | null) => (value === null ? null : value * 1000);
  return {
    meanMs: ((after.confirmSeconds.sum - before.confirmSeconds.sum) / count) * 1000,
    p50AtMostMs: ms(bucketQuantile(before.confirmSeconds, after.confirmSeconds, 0.5)),
    p99AtMostMs: ms(bucketQuantile(before.confirmSeconds, after.confirmSeconds, 0.99)),
    meanInFlight: (after.inFlight.sum - before.inFlight.sum) / Math.max(1, after.inFlight.count - before.inFlight.count),
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface ServiceFigures {
  /** With replicas: the largest of them (RSS, heap); CPU is their sum. */
  peakRssMiB: number;
  /** The largest V8 heap in use (nodejs_heap_size_used_bytes, garbage not yet collected included), sampled every 500 ms. */
  peakHeapUsedMiB: number;
  cpuSeconds: number;
}

interface ScenarioResult {
  name: string;
  title: string;
  path: string;
  alertsPerRequest: number;
  connections: number;
  fingerprints: number | 'per request';
  load: LoadResult;
  acceptedAlerts: number;
  acceptedAlertsPerSecond: number;
  /** Confirmed `AlertReceived` publishes of the gateway, and how many requests shared one. */
  gatewayPublishes: number;
  gatewayPublishesPerSecond: number;
  requestsPerPublish: number;
  /** Gateway: publish -> confirm mean, and p50 / p99 as histogram bucket bounds (ms); unconfirmed publishes of the source when one started (mean). */
  gatewayConfirm: { meanMs: number; p50AtMostMs: number | null; p99AtMostMs: number | null; meanInFlight: number } | null;
  storedAlerts: number;
  /** Accepted alerts / (last alert processed - scenario start); null when the processor did not catch up in time. */
  endToEndAlertsPerSecond: number | null;
  drainSeconds: number | null;
  /** Gateway receivedAt -> start of the processor transaction that stored the alert; null where fingerprints repeat. */
  receiptToStoreMs: LatencyMs | null;
  /** From HTTP receipt to Slack's `ok` (the stand-in), where receiptToStoreMs is measured. */
  receiptToSlackMs: (LatencyMs & { sent: number; expected: number }) | null;
  services: Record<string, ServiceFigures>;
  /** With replicas: each process on its own (`alert-processor#2`...); absent with one of each. */
  replicas?: Record<string, ServiceFigures>;
  /** `others`: CPU seconds the machine was busy with anything else (other people's work skews the run). */
  cpuSeconds: { postgres: number; rabbitmq: number; benchClient: number; machineBusyShare: number; others: number };
  slackRequests: number;
  ratios: { requestsToBareFastify: number; publishesToRawAmqp: number; storedToRawUnnest: number | null };
}

interface Report {
  benchmark: 'stack';
  startedAt: string;
  quick: boolean;
  machine: MachineFacts;
  settings: Record<string, string>;
  /** Processes per app; extra node options of the services. */
  replicas: { gateways: number; processors: number; notifiers: number };
  nodeOptions: string[];
  /** Present when the bench measured a stack it did not start (BENCH_*_URL). */
  runningStack?: { gateway: string; processor: string; notifier: string };
  method: string[];
  limits: Limits;
  scenarios: ScenarioResult[];
  peakRssMiBOverall: Record<string, number | null>;
  timeline: TimelineSample[];
}

function markdown(report: Report): string {
  const l = report.limits;
  const lines = [
    `# SentryHub stack benchmark, ${report.startedAt}${report.quick ? ' (--quick: harness check, not a measurement)' : ''}`,
    '',
    ...(report.replicas.gateways > 1 || report.replicas.processors > 1 || report.nodeOptions.length
      ? [
          `Services: ${report.replicas.gateways} webhook-gateway, ${report.replicas.processors} alert-processor, ${report.replicas.notifiers} slack-notifier process(es)${report.nodeOptions.length ? `, node options \`${report.nodeOptions.join(' ')}\`` : ''}. With replicas, peak RSS and heap are the largest replica's, CPU the sum of all; each replica is listed below the table.`,
          '',
        ]
      : []),
    `Machine: ${report.machine.nproc} cores (${report.machine.cpuModel}), ${fmt(report.machine.totalMemoryMiB)} MiB, ${report.machine.kernel}, Node ${report.machine.node}, PostgreSQL ${report.machine.postgres}, RabbitMQ ${report.machine.rabbitmq}; load average at start ${report.machine.loadAverage}, ${fmt(report.machine.busyBeforeRun * 100)}% busy the second before.`,
    '',
    '## The machine\'s limits (same run)',
    '',
    '| limit | figure |',
    '|---|---|',
    `| bare fastify route answering 202 (same single-alert body, autocannon) | ${fmt(l.bareFastify.requestsPerSecond)} req/s, p50 ${fmt(l.bareFastify.latencyMs.p50)} ms, p99 ${fmt(l.bareFastify.latencyMs.p99)} ms |`,
    `| raw amqplib persistent confirmed publishes to a quorum queue (${fmt(l.amqplibQuorumConfirmed.bytesPerMessage)} B, window ${l.amqplibQuorumConfirmed.window}) | ${fmt(l.amqplibQuorumConfirmed.messagesPerSecond)} msg/s |`,
    `| raw \`INSERT ... SELECT FROM unnest ... ON CONFLICT\`, ${fmt(l.unnestUpsert.rowsPerStatement)} rows per statement | ${fmt(l.unnestUpsert.insertRowsPerSecond)} rows/s new, ${fmt(l.unnestUpsert.conflictRowsPerSecond)} rows/s conflicting |`,
    '',
    '## SentryHub',
    '',
    '| scenario | accepted alerts/s | requests/s (÷ bare fastify) | latency p50 / p99 / p99.9 ms | statuses | confirmed publishes/s (÷ raw amqplib), requests per publish | gateway publish -> confirm mean ms (p99 ≤), mean in flight | end-to-end stored alerts/s (÷ raw unnest) | receipt -> store p50 / p99 ms | receipt -> Slack p50 / p99 ms | Slack requests | peak RSS MiB gw / proc / slack | CPU s gw / proc / slack / PG / RabbitMQ / bench / anything else |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of report.scenarios) {
    const statuses = Object.entries(s.load.statuses)
      .map(([code, count]) => `${code}: ${fmt(count)}`)
      .join(', ');
    const errors = s.load.connectionErrors ? `, ${fmt(s.load.connectionErrors)} connection errors` : '';
    const svc = (name: string) => s.services[name] ?? { peakRssMiB: Number.NaN, peakHeapUsedMiB: Number.NaN, cpuSeconds: Number.NaN };
    lines.push(
      `| ${s.title} | **${fmt(s.acceptedAlertsPerSecond)}** | ${fmt(s.load.requestsPerSecond)} (${fmt(s.ratios.requestsToBareFastify, 2)}) | ${fmt(s.load.latencyMs.p50)} / ${fmt(s.load.latencyMs.p99)} / ${fmt(s.load.latencyMs.p99_9)} | ${statuses}${errors} | ${fmt(s.gatewayPublishesPerSecond)} (${fmt(s.ratios.publishesToRawAmqp, 2)}), ${fmt(s.requestsPerPublish, 1)} | ${s.gatewayConfirm ? `${fmt(s.gatewayConfirm.meanMs, 1)} (${fmt(s.gatewayConfirm.p99AtMostMs ?? Number.NaN)}), ${fmt(s.gatewayConfirm.meanInFlight, 1)}` : 'n/a'} | ${s.endToEndAlertsPerSecond === null ? `not drained (${fmt(s.storedAlerts)} of ${fmt(s.acceptedAlerts)})` : `**${fmt(s.endToEndAlertsPerSecond)}** (${fmt(s.ratios.storedToRawUnnest ?? Number.NaN, 2)})`} | ${s.receiptToStoreMs ? `${fmt(s.receiptToStoreMs.p50)} / ${fmt(s.receiptToStoreMs.p99)}` : 'n/a (repeated fingerprints)'} | ${slackLatency(s.receiptToSlackMs)} | ${fmt(s.slackRequests)} | ${fmt(svc('webhook-gateway').peakRssMiB)} / ${fmt(svc('alert-processor').peakRssMiB)} / ${fmt(svc('slack-notifier').peakRssMiB)} (heap ${fmt(svc('webhook-gateway').peakHeapUsedMiB)} / ${fmt(svc('alert-processor').peakHeapUsedMiB)} / ${fmt(svc('slack-notifier').peakHeapUsedMiB)}) | ${fmt(svc('webhook-gateway').cpuSeconds, 1)} / ${fmt(svc('alert-processor').cpuSeconds, 1)} / ${fmt(svc('slack-notifier').cpuSeconds, 1)} / ${fmt(s.cpuSeconds.postgres, 1)} / ${fmt(s.cpuSeconds.rabbitmq, 1)} / ${fmt(s.cpuSeconds.benchClient, 1)} / ${fmt(s.cpuSeconds.others, 1)} |`,
    );
  }
  const replicaLines = report.scenarios.filter((s) => s.replicas || s.load.perGateway);
  if (replicaLines.length) {
    lines.push('', '## Each replica', '', '| scenario | process | peak RSS MiB (heap) | CPU s | requests/s, p50 / p99 ms (gateways) |', '|---|---|---|---|---|');
    for (const s of replicaLines) {
      const gatewayNames = Object.keys(s.replicas ?? {}).filter((name) => name.startsWith('webhook-gateway'));
      for (const [name, figure] of Object.entries(s.replicas ?? {})) {
        const load = s.load.perGateway?.[gatewayNames.indexOf(name)];
        lines.push(`| ${s.name} | ${name} | ${fmt(figure.peakRssMiB)} (${fmt(figure.peakHeapUsedMiB)}) | ${fmt(figure.cpuSeconds, 1)} | ${load ? `${fmt(load.requestsPerSecond)}, ${fmt(load.latencyMs.p50)} / ${fmt(load.latencyMs.p99)}` : ''} |`);
      }
    }
  }
  lines.push('', '## Method', '', ...report.method.map((line) => `- ${line}`), '', `Settings: ${Object.entries(report.settings).map(([key, value]) => `${key}=${value}`).join(', ') || 'defaults'}.`, '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions();
  const startedAt = new Date().toISOString();
  const running = runningStackFromEnv(process.env);
  if (running && (options.gateways > 1 || options.processors > 1 || options.nodeOptions.length || options.profileDir)) throw new Error(`--gateways, --processors, --node-options and --profile start services: not with a running stack\n${USAGE}`);
  if (options.build && !running) {
    process.stdout.write(`building ${APPS.join(', ')}... `);
    await promisify(execFile)(process.execPath, ['tools/build/build-app.mjs', ...APPS], { cwd: ROOT, timeout: 180_000 });
    console.log('done');
  }
  // A throwaway database: the bench's own stack stores there, and with a running stack the
  // unnest limit writes its scratch table there, not in the stack's database.
  const database: TestDatabase = await withTimeout(createTestDatabase('stackbench'), 60_000, 'the bench database');
  cleanups.push({ what: 'dropping the bench database', run: () => database.destroy() });
  const vhost: TestVhost = await withTimeout(createTestVhost('stackbench'), 60_000, 'the bench vhost');
  cleanups.push({ what: 'deleting the bench vhost', run: () => vhost.destroy() });
  const stackDatabaseUrl = running?.databaseUrl ?? database.url;
  // A running stack keeps its own Slack rules and endpoint: no stand-in, no rule added.
  let slack: SlackMock | null = null;
  if (!running) {
    const mock = await startSlackMock();
    slack = mock;
    cleanups.push({ what: 'closing the Slack stand-in', run: () => mock.close() });
    // One catch-all Slack rule, so that the notifier has work (SPEC: digests at the per-channel rate).
    await sql`insert into slack_rules (name, slack_channel, message_template) values ('bench', '#bench', 'bench alert')`.execute(database.db);
  }
  const databaseName = new URL(stackDatabaseUrl).pathname.slice(1);
  const machine = await machineFacts(stackDatabaseUrl);

  const all = scenarios(options);
  const unknown = options.only.filter((name) => !all.some((scenario) => scenario.name === name));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
  const plan = options.only.length ? all.filter((scenario) => options.only.includes(scenario.name)) : all;
  const singleBodies = all.find((scenario) => scenario.name === 'single')?.bodies ?? [];

  // 1. The machine's limits, before the services start.
  console.log('limits: bare fastify...');
  const bareFastify = await measureBareFastify(options, singleBodies);
  console.log('limits: raw amqplib confirmed publishing to a quorum queue...');
  const singleMessage = Buffer.from(JSON.stringify({ id: 'x'.repeat(36), receivedAt: STARTS_AT, source: 'webhook', meta: {}, alerts: JSON.parse(singleBodies[0] ?? '{"alerts":[]}').alerts }));
  const amqpLimit = await measureAmqp(vhost.url, options, singleMessage);
  console.log('limits: raw unnest upsert...');
  const unnest = await measureUnnest(database.url, options);
  // The limits wrote ~100,000 rows: a checkpoint now, so that the first scenario does not meet
  // the one they would cause (skipped where the role may not: a running stack's database).
  await sql`checkpoint`.execute(database.db).catch(() => undefined);
  const limits: Limits = { bareFastify, amqplibQuorumConfirmed: amqpLimit, unnestUpsert: unnest };

  // 2. The stack: the processor first (it declares the topology), then the gateway and the
  //    notifier; or the running one, once each service answers /readyz.
  const processors: Service[] = [];
  const gateways: Service[] = [];
  let notifier: Service;
  if (running) {
    const named = (name: string, url: string): Service => ({ name, url, output: [], stop: () => Promise.resolve() });
    processors.push(named('alert-processor', running.processor));
    gateways.push(named('webhook-gateway', running.gateway));
    notifier = named('slack-notifier', running.notifier);
    for (const service of [...processors, ...gateways, notifier]) await waitHttp(service, '/readyz');
  } else {
    // The load is sent without a token: open intake, as a decision (the gateway refuses to start otherwise).
    const env = { RABBITMQ_URL: vhost.url, DATABASE_URL: database.url, WEBHOOK_ALLOW_ANONYMOUS: 'true' };
    //  With replicas, the first of each starts alone (the first processor declares the topology).
    const extra = options.nodeOptions;
    for (let n = 1; n <= options.processors; n++) processors.push(await startApp('alert-processor', env, options.dist, extra, n));
    for (let n = 1; n <= options.gateways; n++) {
      gateways.push(await startApp('webhook-gateway', env, options.dist, [...extra, ...(options.profileDir && n === 1 ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [])], n));
    }
    notifier = await startApp('slack-notifier', { ...env, SLACK_INTERNAL_ENDPOINT: slack?.url ?? '' }, options.dist, extra);
  }
  const services = [...gateways, ...processors, notifier];
  const gatewayUrls = gateways.map((gateway) => gateway.url);
  const replicated = options.gateways > 1 || options.processors > 1;

  // The timeline: every 500 ms, accepted and stored alerts/s, response latency of the window, RSS.
  const timeline: TimelineSample[] = [];
  const clockStart = performance.now();
  let scenarioName = '';
  let previous = await counters(gateways, processors);
  let previousAt = clockStart;
  let sampling = true;
  const rssPeak = new Map<string, number>();
  const heapPeak = new Map<string, number>();
  const sampler = (async () => {
    while (sampling) {
      await sleep(500);
      const now = performance.now();
      const current = await counters(gateways, processors);
      const seconds = (now - previousAt) / 1000;
      const latencies = Float64Array.from(windowLatencies.splice(0)).sort();
      // One scrape per service: its heap, and its RSS where /proc does not have it.
      const sampled = await Promise.all(
        services.map(async (service) => {
          const samples = await scrape(service.url);
          return { service, rss: await rssMiB(service, samples), heap: total(samples, 'nodejs_heap_size_used_bytes') / 2 ** 20 };
        }),
      );
      const rss: Record<string, number> = {};
      for (const { service, rss: mib, heap } of sampled) {
        rss[service.name] = mib;
        rssPeak.set(service.name, Math.max(rssPeak.get(service.name) ?? 0, mib));
        heapPeak.set(service.name, Math.max(heapPeak.get(service.name) ?? 0, heap));
      }
      timeline.push({
        t: (now - clockStart) / 1000,
        scenario: scenarioName,
        acceptedPerSecond: (current.accepted - previous.accepted) / seconds,
        storedPerSecond: (current.processed - previous.processed) / seconds,
        p50Ms: latencies.length ? quantile(latencies, 0.5) : null,
        p99Ms: latencies.length ? quantile(latencies, 0.99) : null,
        rssMiB: rss,
      });
      previous = current;
      previousAt = now;
    }
  })();

  const results: ScenarioResult[] = [];
  for (const scenario of plan) {
    console.log(`scenario ${scenario.name}: ${scenario.title}...`);
    scenarioName = scenario.name;
    for (const service of services) {
      rssPeak.set(service.name, await rssMiB(service));
      heapPeak.set(service.name, 0);
    }
    const before = await counters(gateways, processors);
    const cpuBefore = new Map(await Promise.all(services.map(async (service) => [service.name, await cpuSecondsOf(service)] as const)));
    const pgBefore = ticksWhere(isPostgresFor(databaseName));
    const rabbitBefore = ticksWhere(isRabbitmqServer);
    const clientBefore = process.cpuUsage();
    const systemBefore = systemCpu();
    const slackBefore = slack?.requests.length ?? 0;
    const started = performance.now();
    const load = await drive(gatewayUrls, scenario.path, scenario.bodies, options, {
      ...(scenario.amount ? { amount: scenario.amount } : { durationS: scenario.durationS ?? options.durationS }),
      ...(scenario.rate ? { rate: scenario.rate } : {}),
    });
    const afterLoad = await counters(gateways, processors);
    // Requests still in flight when the load stopped may be accepted a moment later: the
    // gateway's count is read again while waiting, so it includes them.
    let accepted = afterLoad.accepted - before.accepted;
    // Wait for the processor to store what was accepted.
    let drainedAt: number | null = null;
    let stored = afterLoad.processed - before.processed;
    const deadline = performance.now() + options.drainTimeoutS * 1000;
    while (performance.now() < deadline) {
      const now = await counters(gateways, processors);
      accepted = now.accepted - before.accepted;
      stored = now.processed - before.processed;
      if (stored >= accepted) {
        drainedAt = performance.now();
        break;
      }
      await sleep(100);
    }
    // Receipt -> store, per alert, where every fingerprint was sent once (no body repeated).
    let receiptToStoreMs: ScenarioResult['receiptToStoreMs'] = null;
    if (drainedAt !== null && load.requests <= scenario.bodies.length && typeof scenario.fingerprints !== 'number') receiptToStoreMs = await receiptToStore(stackDatabaseUrl, scenario.prefix);
    if (drainedAt !== null && scenario.name === 'storm') receiptToStoreMs = await receiptToStore(stackDatabaseUrl, scenario.prefix);
    const clientAfter = process.cpuUsage(clientBefore);
    const systemAfter = systemCpu();
    const perProcess: Record<string, ServiceFigures> = {};
    for (const service of services) {
      perProcess[service.name] = { peakRssMiB: rssPeak.get(service.name) ?? 0, peakHeapUsedMiB: heapPeak.get(service.name) ?? 0, cpuSeconds: (await cpuSecondsOf(service)) - (cpuBefore.get(service.name) ?? 0) };
    }
    // Per app: the largest RSS and heap of its replicas, the sum of their CPU.
    const figures: Record<string, ServiceFigures> = {};
    for (const service of services) {
      const own = perProcess[service.name];
      if (!own) continue;
      const app = appOf(service);
      const sofar = figures[app];
      figures[app] = sofar
        ? { peakRssMiB: Math.max(sofar.peakRssMiB, own.peakRssMiB), peakHeapUsedMiB: Math.max(sofar.peakHeapUsedMiB, own.peakHeapUsedMiB), cpuSeconds: sofar.cpuSeconds + own.cpuSeconds }
        : { ...own };
    }
    const publishes = afterLoad.publishes - before.publishes;
    const acceptedPerSecond = accepted / load.seconds;
    const endToEnd = drainedAt === null ? null : accepted / ((drainedAt - started) / 1000);
    const requests2xx = Object.entries(load.statuses).reduce((sum, [code, count]) => sum + (code.startsWith('2') ? count : 0), 0);
    // Receipt -> Slack where receipt -> store is measured, once the notifier sent them all (one
    // message per channel per second, digests folding the rest): after the CPU figures above,
    // so that this wait is not counted in them.
    // With a running stack only where its own rules route the bench's alerts: not waited for.
    const receiptToSlackMs = receiptToStoreMs && slack ? await receiptToSlack(stackDatabaseUrl, scenario.prefix, receiptToStoreMs.alerts, options.quick ? 30_000 : 120_000) : null;
    results.push({
      name: scenario.name,
      title: scenario.title,
      path: scenario.path,
      alertsPerRequest: scenario.alertsPerRequest,
      connections: options.connections,
      fingerprints: scenario.fingerprints,
      load,
      acceptedAlerts: accepted,
      acceptedAlertsPerSecond: acceptedPerSecond,
      gatewayPublishes: publishes,
      gatewayPublishesPerSecond: publishes / load.seconds,
      requestsPerPublish: publishes ? requests2xx / publishes : 0,
      gatewayConfirm: confirmFigures(before, afterLoad),
      storedAlerts: stored,
      endToEndAlertsPerSecond: endToEnd,
      drainSeconds: drainedAt === null ? null : (drainedAt - started) / 1000,
      receiptToStoreMs,
      receiptToSlackMs,
      services: figures,
      ...(replicated ? { replicas: perProcess } : {}),
      cpuSeconds: cpuFigures({
        postgres: cpuSecondsBetween(pgBefore, ticksWhere(isPostgresFor(databaseName))),
        rabbitmq: cpuSecondsBetween(rabbitBefore, ticksWhere(isRabbitmqServer)),
        benchClient: (clientAfter.user + clientAfter.system) / 1e6,
        machineBusyShare: cpuUtilisation(systemBefore, systemAfter),
        busySeconds: (systemAfter.busy - systemBefore.busy) / CLOCK_TICKS,
        services: Object.values(figures).reduce((sum, figure) => sum + figure.cpuSeconds, 0),
      }),
      slackRequests: (slack?.requests.length ?? 0) - slackBefore,
      ratios: {
        requestsToBareFastify: load.requestsPerSecond / limits.bareFastify.requestsPerSecond,
        publishesToRawAmqp: publishes / load.seconds / limits.amqplibQuorumConfirmed.messagesPerSecond,
        storedToRawUnnest: endToEnd === null ? null : endToEnd / limits.unnestUpsert.insertRowsPerSecond,
      },
    });
    await sleep(options.quick ? 200 : 2_000);
  }
  sampling = false;
  await sampler;
  const peakRssMiBOverall: Record<string, number | null> = {};
  for (const service of services) {
    const kib = service.pid === undefined ? null : statusKiB(service.pid, 'VmHWM');
    peakRssMiBOverall[service.name] = kib === null ? null : kib / 1024;
  }

  const settings: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && /^(GATEWAY_COALESCE_|PROCESSOR_|DATABASE_POOL_SIZE|NOTIFIER_|SLACK_MAX)/.test(key)) settings[key] = value;
  const report: Report = {
    benchmark: 'stack',
    startedAt,
    quick: options.quick,
    machine,
    settings,
    replicas: { gateways: options.gateways, processors: options.processors, notifiers: 1 },
    nodeOptions: options.nodeOptions,
    ...(running ? { runningStack: { gateway: running.gateway, processor: running.processor, notifier: running.notifier } } : {}),
    method: [
      ...(running
        ? [
            `a running stack (BENCH_GATEWAY_URL ${running.gateway}, BENCH_PROCESSOR_URL ${running.processor}, BENCH_NOTIFIER_URL ${running.notifier}, BENCH_DATABASE_URL): the bench started no service, added no Slack rule and has no Slack stand-in (no receipt -> Slack, no Slack requests); RSS and CPU of the services are their process_resident_memory_bytes and process_cpu_seconds_total (prom-client), PostgreSQL CPU counts the backends of the stack's database when it runs on this machine. The limits are measured on this machine, in a throwaway database and vhost.`,
          ]
        : []),
      'npm run bench (tools/bench/stack-bench.ts): the built webhook-gateway, alert-processor and slack-notifier run as their own processes (NODE_ENV=production, LOG_LEVEL=warn) against a throwaway vhost and database on the same machine as RabbitMQ, PostgreSQL and the load generator; the Slack stand-in is startSlackMock of @sentryhub/testing.',
      `autocannon (in the bench process) with ${options.connections} connections; bodies are prebuilt and cycled, every alert of a duration scenario has its own fingerprint per request body (bodies repeat once the pool is used up).`,
      'accepted alerts/s = the gateway\'s sentryhub_gateway_alerts_accepted_total over the load time; every accepted alert was confirmed by RabbitMQ before its 202 (the gateway coalesces concurrent requests into one confirmed publish per source).',
      'gateway publish -> confirm = its sentryhub_gateway_publish_seconds over the load (from handing a coalesced publish to the broker until its confirm): the mean, and the upper bound of the histogram bucket that holds the p99; mean in flight = its sentryhub_gateway_publishes_in_flight (unconfirmed publishes of the source when one started, itself included).',
      'end-to-end stored alerts/s = accepted alerts / (moment the processor\'s sentryhub_processor_alerts_total, counted after each commit, reached them - scenario start).',
      'receipt -> Slack = notifications.sent_at (Slack\'s ok; for a digest, that of the one message folding them) - alert_groups.last_occurrence, over the firing notifications of the same alerts as receipt -> store, once all were sent (at most 120 s after the drain; otherwise the column says how many were). All alerts of a scenario go to one channel: the notifier sends at most SLACK_MAX_PER_SECOND (1) message a second there and folds the rest into digests, so this is the digest pace, not a delivery cost.',
      'receipt -> store = alert_instances.created_at (now() of the transaction that stored the alert, just before its commit) - alert_groups.last_occurrence (the gateway\'s receivedAt; for a coalesced message the earliest of its requests); only where every fingerprint was sent once. The paced scenario offers 2,000 alerts/s: loadtest sends a 10-alert request every 5 ms whatever the responses (open loop); autocannon\'s overallRate would send each connection\'s quota at the start of every second, a burst rather than a pace.',
      'Slack requests = requests the Slack stand-in received during the scenario (one catch-all rule; the notifier sends at most 1 message per channel per second and folds the rest into digests, so this is not a throughput figure).',
      'anything else = CPU seconds the whole machine was busy (/proc/stat) minus those of the services, PostgreSQL, RabbitMQ and the bench: other work on a shared machine; where it is large, that scenario was held back by it.',
      "peak RSS per scenario = the largest VmRSS sampled every 500 ms (heap: the largest nodejs_heap_size_used_bytes of the service's /metrics, sampled with it, garbage not yet collected included); CPU seconds = utime + stime of /proc/<pid>/stat over the scenario, load and drain included.",
      'limits: the bare fastify route runs in its own process and gets the same single-alert bodies; raw amqplib publishes a message of the size of one single-alert AlertReceived, persistent, to a quorum queue, 500 unconfirmed at most; the raw upsert inserts rows of 3 columns plus jsonb labels, 1,000 per statement, into an empty table (new) and again (conflicting).',
      ...(replicated
        ? [
            `replicas: ${options.gateways} webhook-gateway and ${options.processors} alert-processor processes (the processors compete for one queue and share the database; one autocannon instance per gateway, started together, with the connections, a fixed number of requests and an offered rate split evenly; requests and statuses summed, latency percentiles over every response of all instances, each instance also on its own in load.perGateway). Peak RSS and heap per app = the largest of its replicas; CPU = their sum; each process is in the scenario's replicas.`,
          ]
        : []),
      ...(options.nodeOptions.length ? [`node options of the services (not of the bench or the limits): ${options.nodeOptions.join(' ')}.`] : []),
      'ratios: requests/s ÷ bare fastify requests/s; the gateway\'s confirmed publishes/s ÷ raw amqplib confirmed publishes/s; end-to-end stored alerts/s ÷ raw unnest rows/s.',
    ],
    limits,
    scenarios: results,
    peakRssMiBOverall,
    timeline,
  };

  const table = markdown(report);
  console.log(`\n${table}`);
  if (options.write) {
    mkdirSync(options.outDir, { recursive: true });
    const base = join(options.outDir, `stack-${startedAt.replace(/[:.]/g, '-')}${options.quick ? '-quick' : ''}`);
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(`${base}.svg`, renderChart(timeline, `SentryHub stack benchmark ${startedAt}`));
    writeFileSync(`${base}.md`, `${table}\n![throughput and latency over time](./${base.split('/').at(-1) ?? 'stack'}.svg)\n`);
    console.log(`wrote ${base}.json, .md and .svg`);
  }
}

try {
  await main();
  await cleanUp();
  process.exit(0);
} catch (error) {
  console.error(`stack benchmark failed: ${(error as Error).stack ?? String(error)}`);
  await cleanUp();
  process.exit(1);
}
