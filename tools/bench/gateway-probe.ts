/**
 * `npm run bench:gateway [-- --duration 10 --connections 100 --alerts 1 --api --consume --client wrk --profile DIR]`
 *
 * The webhook-gateway alone, as a built process, against a throwaway vhost, driven by autocannon
 * in this process or, with `--client wrk`, by Debian's wrk (two threads; its Lua script
 * wrk-alerts.lua makes the same new-fingerprint bodies as `--api`, at a fraction of autocannon's
 * CPU): requests/s, latency, CPU of the gateway, RabbitMQ and the client, confirmed
 * publishes and requests per publish, and, from the gateway's own metrics, how long each
 * confirmed publish took and how many were unconfirmed when it started. `--profile DIR` runs the
 * gateway under `node --cpu-prof` and prints where its CPU time went. A measurement, not a test.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTestVhost } from '@sentryhub/testing';
import amqp from 'amqplib';
import autocannon from 'autocannon';
import { deployedNodeOptions } from '../deploy/node-options';
import { bodies as apiBodies } from './stack-bench-scenarios';
import {
  childrenTicks,
  cleanUp,
  cleanups,
  cpuSecondsBetween,
  freePort,
  isRabbitmqServer,
  parseMetrics,
  processTicks,
  statusKiB,
  ticksWhere,
  withTimeout,
  CLOCK_TICKS,
} from './system-stats';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    alerts: { type: 'string', default: '1' },
    consume: { type: 'boolean', default: false },
    /** POST /api/v2/alerts with a new fingerprint per alert (the stack bench's bodies) instead of cycled webhooks. */
    api: { type: 'boolean', default: false },
    profile: { type: 'string' },
    'node-arg': { type: 'string', multiple: true },
    dist: { type: 'string', default: 'dist' },
    client: { type: 'string', default: 'autocannon' },
    /** Lines of the gateway's own output printed at the end (more to read `--node-arg=--trace-gc`). */
    'output-lines': { type: 'string', default: '10' },
  },
  strict: true,
});
const durationS = Number(values.duration);
const connections = Number(values.connections);
const alertsPerRequest = Number(values.alerts);

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanUp().then(() => process.exit(130)));

const STARTS_AT = new Date(Date.now() - 60_000).toISOString();
function body(request: number): string {
  return JSON.stringify({
    version: '4',
    groupKey: `{}:{alertname="Probe${request}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'sentryhub',
    groupLabels: { alertname: `Probe${request}` },
    commonLabels: { job: 'bench' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.bench:9093',
    alerts: Array.from({ length: alertsPerRequest }, (_, n) => ({
      status: 'firing',
      labels: { alertname: `Probe${request}`, instance: `host-${n}`, job: 'bench', severity: 'warning', team: 'bench' },
      annotations: { summary: `Probe alert ${request} on host-${n}` },
      startsAt: STARTS_AT,
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.bench:9090/graph?g0.expr=up',
    })),
  });
}

type Samples = Map<string, { labels: string; value: number }[]>;
const scrape = async (port: number): Promise<Samples> => parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
const sum = (samples: Samples, name: string, labels = '') =>
  (samples.get(name) ?? []).filter((s) => s.labels.includes(labels)).reduce((total, s) => total + s.value, 0);

/** Cumulative histogram buckets of one metric, `le` -> count, as a difference of two scrapes. */
function buckets(before: Samples, after: Samples, name: string): { le: string; count: number }[] {
  const read = (samples: Samples) => new Map((samples.get(`${name}_bucket`) ?? []).map((s) => [/le="([^"]+)"/.exec(s.labels)?.[1] ?? '', s.value]));
  const a = read(after);
  const b = read(before);
  return [...a].map(([le, count]) => ({ le, count: count - (b.get(le) ?? 0) }));
}

/** The bucket bound below which a share `q` of the observations lies. */
function bucketQuantile(cumulative: { le: string; count: number }[], q: number): string {
  const total = cumulative.at(-1)?.count ?? 0;
  return cumulative.find((bucket) => bucket.count >= q * total)?.le ?? 'n/a';
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

/**
 * Where the gateway's time went, inclusive (a sample counts for every part one of its frames
 * belongs to, so parts overlap: fastify holds validation, the route and more), in ms and as a
 * share of the time not idle.
 */
const PARTS: [string, (frame: CallFrame) => boolean][] = [
  ['idle', (f) => f.functionName === '(idle)'],
  ['garbage collector', (f) => f.functionName === '(garbage collector)'],
  ['node http server (parse, write)', (f) => /node:_http_/.test(f.url)],
  ['fastify (everything under its routing)', (f) => f.url.includes('/fastify/')],
  ['JSON body parse (secure-json-parse)', (f) => f.url.includes('secure-json-parse')],
  ['body validation (zod through fastify-type-provider-zod)', (f) => f.url.includes('fastify-type-provider-zod')],
  ['normalizeIntakeBody', (f) => f.functionName === 'normalizeIntakeBody'],
  ['  of which fingerprint (FNV-1a 64)', (f) => f.functionName === 'fingerprint'],
  ['coalesced publish (message, JSON, channel write)', (f) => f.functionName === 'publish' && f.url.includes('webhook-gateway/main.js')],
  ['amqplib', (f) => f.url.includes('/amqplib/')],
  ['rascal', (f) => f.url.includes('/rascal/')],
  ['socket writes (writeBuffer, writeUtf8String)', (f) => /^write(Buffer|Utf8String|v|Latin1String)$/.test(f.functionName)],
  ['pino', (f) => f.url.includes('/pino')],
  ['prom-client', (f) => f.url.includes('/prom-client/')],
];

function profileParts(file: string): { part: string; ms: number; share: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, index) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const totals = new Map<string, number>();
  let all = 0;
  for (const [id, micros] of selfMicros) {
    all += micros;
    const frames: CallFrame[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame) frames.push(frame);
    }
    for (const [part, matches] of PARTS) if (frames.some(matches)) totals.set(part, (totals.get(part) ?? 0) + micros);
  }
  const busy = all - (totals.get('idle') ?? 0);
  return PARTS.map(([part]) => ({ part, ms: (totals.get(part) ?? 0) / 1000, share: part === 'idle' ? Number.NaN : (totals.get(part) ?? 0) / busy }));
}

/** Self time per function of a V8 .cpuprofile, the biggest first. */
function topFunctions(file: string, count: number): { name: string; ms: number; share: number }[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, index) => {
    const frame = byId.get(id)?.callFrame;
    const delta = profile.timeDeltas[index] ?? 0;
    total += delta;
    const url = (frame?.url ?? '').replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, 'dist/');
    const key = `${frame?.functionName || '(anonymous)'} ${url}:${(frame?.lineNumber ?? 0) + 1}`;
    self.set(key, (self.get(key) ?? 0) + delta);
  });
  return [...self]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, micros]) => ({ name, ms: micros / 1000, share: micros / total }));
}

async function main(): Promise<void> {
  const entry = resolve(ROOT, values.dist, 'apps/webhook-gateway/main.js');
  if (!existsSync(entry)) throw new Error(`${entry} is missing: npm run build first`);
  const vhost = await createTestVhost('perf');
  cleanups.push({ what: `deleting vhost ${vhost.vhost}`, run: () => vhost.destroy() });

  const port = await freePort();
  const profileDir = values.profile ? resolve(values.profile) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  // As deployed (the image's or the Deployment's NODE_OPTIONS), then the probe's own.
  const nodeArgs = [
    ...deployedNodeOptions('webhook-gateway'),
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ...(values['node-arg'] ?? []),
  ];
  const output: string[] = [];
  const child = spawn(process.execPath, [...nodeArgs, entry], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', RABBITMQ_URL: vhost.url, PORT: String(port), WEBHOOK_ALLOW_ANONYMOUS: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await withTimeout(exited, 15_000, 'the gateway to stop');
  };
  cleanups.push({ what: 'stopping the gateway', run: stop });
  for (let tries = 0; ; tries++) {
    const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (tries > 300) throw new Error(`the gateway did not get ready:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  let consumed = 0;
  let connection: amqp.ChannelModel | undefined;
  if (values.consume) {
    // Stands in for the processor: takes and acks everything, so the queue does not grow.
    connection = await amqp.connect(vhost.url);
    const channel = await connection.createChannel();
    await channel.prefetch(1_000);
    await channel.consume('alert-processor.alerts-received', (message) => {
      if (!message) return;
      consumed++;
      channel.ack(message);
    });
    cleanups.push({ what: 'closing the consumer', run: () => connection?.close() ?? Promise.resolve() });
  }

  const bodies = values.api ? [] : Array.from({ length: 5_000 }, (_, n) => body(n));
  const apiBody = apiBodies('api', 'Probe', alertsPerRequest);
  let next = 0;
  const pid = child.pid ?? 0;
  const before = await scrape(port);
  const gatewayTicks = processTicks(pid) ?? 0;
  const rabbitBefore = ticksWhere(isRabbitmqServer);
  const selfBefore = process.cpuUsage();
  const started = performance.now();
  const childrenBefore = childrenTicks();
  const result = values.client === 'wrk' ? await runWrk(port) : await runAutocannon();
  async function runAutocannon() {
    const done = await new Promise<autocannon.Result>((resolvePromise, reject) => {
      autocannon(
        {
          url: `http://127.0.0.1:${port}`,
          connections,
          duration: durationS,
          timeout: 30,
          headers: { 'content-type': 'application/json' },
          requests: [
            {
              method: 'POST',
              path: values.api ? '/api/v2/alerts' : '/api/v1/webhooks/alertmanager',
              setupRequest: (request) => ({ ...request, body: values.api ? apiBody(next++) : (bodies[next++ % bodies.length] ?? '') }),
            },
          ],
        },
        (error: unknown, done: autocannon.Result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolvePromise(done)),
      );
    });
    const statuses: Record<string, number> = {};
    for (const [code, stat] of Object.entries(done.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
    return { statuses, p50: done.latency.p50, p99: done.latency.p99, errors: done.errors };
  }
  const seconds = (performance.now() - started) / 1000;
  const self = process.cpuUsage(selfBefore);
  const clientSeconds = values.client === 'wrk' ? (childrenTicks() - childrenBefore) / CLOCK_TICKS : (self.user + self.system) / 1e6;
  const rabbitSeconds = cpuSecondsBetween(rabbitBefore, ticksWhere(isRabbitmqServer));
  const gatewaySeconds = ((processTicks(pid) ?? 0) - gatewayTicks) / CLOCK_TICKS;
  const after = await scrape(port);

  const statuses = result.statuses;
  const requests = Object.values(statuses).reduce((total, count) => total + count, 0);
  const publishes =
    sum(after, 'sentryhub_messages_published_total', 'outcome="confirmed"') - sum(before, 'sentryhub_messages_published_total', 'outcome="confirmed"');
  const confirm = buckets(before, after, 'sentryhub_gateway_publish_seconds');
  const inFlight = buckets(before, after, 'sentryhub_gateway_publishes_in_flight');
  const perPublish = buckets(before, after, 'sentryhub_gateway_requests_per_publish');

  console.log(
    `gateway alone, ${values.api ? 'POST /api/v2/alerts (new fingerprints)' : 'webhooks (5,000 bodies cycled)'}, ${connections} connections, ${alertsPerRequest} alert(s) per request, ${durationS} s${values.consume ? ', a consumer acking everything' : ', nobody consuming'}`,
  );
  console.log(
    `requests/s ${(requests / seconds).toFixed(0)}, latency p50 ${result.p50} / p99 ${result.p99} ms, statuses ${JSON.stringify(statuses)}, errors ${result.errors}`,
  );
  console.log(`confirmed publishes/s ${(publishes / seconds).toFixed(0)}, requests per publish ${(requests / Math.max(1, publishes)).toFixed(1)}`);
  console.log(`gateway CPU per request: ${((gatewaySeconds / Math.max(1, requests)) * 1e6).toFixed(0)} µs`);
  const peakKiB = statusKiB(pid, 'VmHWM');
  console.log(`gateway peak RSS (VmHWM): ${peakKiB === null ? 'n/a' : `${Math.round((peakKiB * 1024) / 1e6)} MB`}`);
  console.log(
    `CPU s: gateway ${gatewaySeconds.toFixed(1)}, RabbitMQ ${rabbitSeconds.toFixed(1)}, the client (${values.client}) ${clientSeconds.toFixed(1)}, over ${seconds.toFixed(1)} s`,
  );
  if (confirm.length)
    console.log(
      `publish -> confirm seconds: p50 <= ${bucketQuantile(confirm, 0.5)}, p90 <= ${bucketQuantile(confirm, 0.9)}, p99 <= ${bucketQuantile(confirm, 0.99)}; cumulative ${JSON.stringify(confirm)}`,
    );
  if (inFlight.length)
    console.log(
      `unconfirmed publishes of the source when one starts (itself included): p50 <= ${bucketQuantile(inFlight, 0.5)}, p90 <= ${bucketQuantile(inFlight, 0.9)}; cumulative ${JSON.stringify(inFlight)}`,
    );
  if (perPublish.length) console.log(`requests per publish: cumulative ${JSON.stringify(perPublish)}`);
  if (values.consume) console.log(`consumed ${consumed} messages`);

  await cleanUp();
  const said = output.join('').trim();
  if (said) console.log(`the gateway's output:\n${said.split('\n').slice(-Number(values['output-lines'])).join('\n')}`);
  if (profileDir) {
    const newest = readdirSync(profileDir)
      .filter((name) => name.endsWith('.cpuprofile'))
      .map((name) => join(profileDir, name))
      .sort()
      .at(-1);
    if (newest) {
      console.log(`CPU profile ${newest} (the whole life of the process, start-up included).\nInclusive time by part (% of the time not idle; parts overlap):`);
      for (const row of profileParts(newest))
        console.log(`  ${Number.isNaN(row.share) ? '     ' : (row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(6)} ms  ${row.part}`);
      console.log('Self time by function (% of the whole profile):');
      for (const row of topFunctions(newest, 25))
        console.log(`  ${(row.share * 100).toFixed(1).padStart(5)} %  ${row.ms.toFixed(0).padStart(6)} ms  ${row.name}`);
    }
  }
}

/** wrk, two threads, its Lua script making new-fingerprint bodies of the same shape as the stack bench's (`--api` only). */
async function runWrk(port: number) {
  if (!values.api) throw new Error('--client wrk sends POST /api/v2/alerts bodies: add --api');
  const wrk = spawn(
    'wrk',
    ['-t2', `-c${connections}`, `-d${durationS}s`, '--timeout', '30s', '-s', resolve(ROOT, 'tools/bench/wrk-alerts.lua'), `http://127.0.0.1:${port}`],
    {
      env: { ...process.env, PER: String(alertsPerRequest), STARTS_AT, PREFIX: 'Probe' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  wrk.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  wrk.stdout?.resume();
  const [code] = (await once(wrk, 'close').catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'ENOENT' ? new Error('wrk is not installed: sudo apt-get install -y wrk') : error;
  })) as [number | null];
  const line = err.split('\n').find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`wrk failed (${code}): ${err}`);
  const summary = JSON.parse(line) as {
    requests: number;
    errors_status: number;
    errors_connect: number;
    errors_timeout: number;
    p50_us: number;
    p99_us: number;
  };
  return {
    statuses: { '2xx': summary.requests - summary.errors_status, other: summary.errors_status },
    p50: summary.p50_us / 1000,
    p99: summary.p99_us / 1000,
    errors: summary.errors_connect + summary.errors_timeout,
  };
}

main().catch(async (error: unknown) => {
  console.error(error);
  await cleanUp();
  process.exit(1);
});
