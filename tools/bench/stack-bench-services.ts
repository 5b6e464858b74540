/**
 * The processes `npm run bench` runs: the built apps, the bare fastify route of the limits,
 * Debian's Alertmanager (the peer), or a stack already running that it only names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { deployedNodeOptions } from '../deploy/node-options';
import { ROOT, sleep, type AppName } from './stack-bench-options';
import { cleanups, freePort, withTimeout } from './system-stats';

export interface Service {
  name: string;
  /** Where its HTTP server answers (intake for the gateway; /metrics, /readyz for all). */
  url: string;
  /** Only for a service this bench started: RSS and CPU then come from /proc, else from its /metrics. */
  pid?: number;
  output: string[];
  stop(): Promise<void>;
}

/** Any process of the bench: its last 200 lines of output kept, stopped (SIGTERM, then SIGKILL) by the clean-up. */
/** Where every spawned process's whole output goes (`<dir>/<name>.log`), or null: only the last 200 lines are kept. */
let serviceLogDir: string | null = null;

/** `--service-logs DIR`: e.g. with `--node-options=--trace-gc`, each service's collections in a file of its own. */
export function keepServiceLogs(dir: string): void {
  mkdirSync(dir, { recursive: true });
  serviceLogDir = dir;
}

function spawnProcess(name: string, command: string, args: string[], env: Record<string, string>, port: number): Service {
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  const child: ChildProcess = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  if (serviceLogDir) {
    const log = createWriteStream(join(serviceLogDir, `${name.replace(/[^\w.#-]+/g, '-')}.log`));
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on('exit', () => log.end());
  }
  const exited = once(child, 'exit');
  let stopping = false;
  // A service that dies under load is a finding, not something to time out on silently.
  child.on('exit', (code, signal) => {
    if (!stopping) console.error(`${name} exited during the run (code ${code}, signal ${signal}); its last output:\n${output.slice(-20).join('\n')}`);
  });
  const stop = async () => {
    stopping = true;
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

export function spawnNode(name: string, args: string[], env: Record<string, string>, port: number): Service {
  return spawnProcess(name, process.execPath, args, { NODE_ENV: 'production', LOG_LEVEL: 'warn', ...env }, port);
}

export async function waitHttp(service: Service, path: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${service.url}${path}`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (performance.now() > deadline)
      throw new Error(`${service.name} did not answer ${path} with 200 within ${timeoutMs / 1000} s; its output:\n${service.output.join('\n')}`);
    await sleep(50);
  }
}

/** The app a service runs: its name without the replica suffix (`alert-processor#2`). */
export const appOf = (service: Service): string => service.name.replace(/#\d+$/, '');

export async function startApp(app: AppName, env: Record<string, string>, dist: string, nodeArgs: string[] = [], replica = 1, name?: string): Promise<Service> {
  const entry = resolve(ROOT, dist, `apps/${app}/main.js`);
  if (!existsSync(entry)) throw new Error(`${entry} is missing: drop --skip-build`);
  const port = await freePort();
  const service = spawnNode(
    name ?? (replica === 1 ? app : `${app}#${replica}`),
    // As deployed: the app's Deployment's NODE_OPTIONS, else the image's; then the bench's own.
    [...deployedNodeOptions(app), ...nodeArgs, entry],
    { ...env, [app === 'webhook-gateway' ? 'PORT' : 'HEALTH_PORT']: String(port) },
    port,
  );
  await waitHttp(service, '/readyz');
  return service;
}

/** The bare fastify route of the limits: the same JSON body parsed, 202 answered, nothing else. */
export const BARE_FASTIFY = `
import Fastify from 'fastify';
const app = Fastify({ logger: false, bodyLimit: 1048576 });
app.get('/readyz', async () => 'ok');
app.post('/', async (request, reply) => reply.code(202).send({ accepted: 1 }));
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
`;

/**
 * The peer: Alertmanager with a temporary configuration whose only receiver has no integration
 * (alerts are grouped and dispatched to nothing), its storage in a temporary directory, gossip
 * off (`--cluster.listen-address=`), on a free port of 127.0.0.1. It keeps alerts in memory only.
 */
export async function startAlertmanager(binary: string): Promise<Service> {
  if (!existsSync(binary))
    throw new Error(
      `${binary} is missing: install Debian's prometheus-alertmanager (apt-get install prometheus-alertmanager), name another binary with --alertmanager, or run without the peer (--no-peer)`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'bench-alertmanager-'));
  cleanups.push({ what: 'removing the Alertmanager directory', run: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) });
  const config = join(dir, 'alertmanager.yml');
  writeFileSync(config, 'route:\n  receiver: blackhole\n  group_by: [alertname]\nreceivers:\n  - name: blackhole\n');
  const port = await freePort();
  const service = spawnProcess(
    'alertmanager',
    binary,
    [
      `--config.file=${config}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    {},
    port,
  );
  await waitHttp(service, '/-/ready');
  return service;
}

export interface RunningStack {
  gateway: string;
  processor: string;
  notifier: string;
  databaseUrl: string;
}

/**
 * A stack already running, named by the environment: BENCH_GATEWAY_URL, BENCH_PROCESSOR_URL,
 * BENCH_NOTIFIER_URL (each service's HTTP port) and BENCH_DATABASE_URL (its database). None
 * set: the bench starts its own stack. Some but not all: an error naming the missing ones.
 */
export function runningStackFromEnv(env: NodeJS.ProcessEnv): RunningStack | null {
  const names = ['BENCH_GATEWAY_URL', 'BENCH_PROCESSOR_URL', 'BENCH_NOTIFIER_URL', 'BENCH_DATABASE_URL'] as const;
  const missing = names.filter((name) => !env[name]);
  if (missing.length === names.length) return null;
  if (missing.length > 0) throw new Error(`a running stack needs all of ${names.join(', ')}; missing: ${missing.join(', ')}`);
  const trim = (url: string) => url.replace(/\/+$/, '');
  return {
    gateway: trim(env['BENCH_GATEWAY_URL'] ?? ''),
    processor: trim(env['BENCH_PROCESSOR_URL'] ?? ''),
    notifier: trim(env['BENCH_NOTIFIER_URL'] ?? ''),
    databaseUrl: env['BENCH_DATABASE_URL'] ?? '',
  };
}
