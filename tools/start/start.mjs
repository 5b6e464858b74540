// `npm start` (after `npm run build`): migrates the database, then runs every built service
// as a child process with one prefixed log stream. Local trial runs only: production runs one
// process per container (docker/, deploy/k8s/).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import pinoPretty from 'pino-pretty';
import { formatSummary } from './summary.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(ROOT, 'dist/apps');
/** Start order and the port each service listens on by default. */
const KNOWN_APPS = [
  ['webhook-gateway', 8080],
  ['rabbit-consumer', 9101],
  ['alert-processor', 9102],
  ['slack-notifier', 9103],
  ['email-notifier', 9104],
  ['webhook-notifier', 9105],
  ['admin', 8081],
];
const STOP_GRACE_MS = 15_000; // services exit within 10 s of SIGTERM
/** How long the summary waits for every service's /readyz before it is printed anyway. */
const READY_WAIT_MS = 60_000;
const tty = Boolean(process.stdout.isTTY);
const COLORS = [36, 33, 35, 32, 34, 31];

function say(message) {
  process.stdout.write(`${tty ? '\x1b[1m' : ''}[start]${tty ? '\x1b[0m' : ''} ${message}\n`);
}

function fail(message) {
  process.stderr.write(`[start] ${message}\n`);
  process.exit(1);
}

// The apps are built for node24 and the root package pins it (node@24 devDependency); `npm start`
// puts that node first on PATH. A bare `node tools/start/start.mjs` may pick an older system node.
if (Number(process.versions.node.split('.')[0]) < 24) {
  fail(`Node ${process.versions.node} is too old: run \`npm start\`, which uses the pinned Node 24 (npm exec -- node --version).`);
}

// 1. Migrate: creates the database if missing. The same node runs tsx, whatever PATH says.
const tsxCli = join(ROOT, 'node_modules/.bin/tsx');
if (!existsSync(tsxCli)) fail('node_modules/.bin/tsx is missing: run `npm ci` first.');
say('migrating the database (npm run db:migrate)');
const migration = spawnSync(process.execPath, [realpathSync(tsxCli), 'libs/db/src/cli/migrate.ts'], { cwd: ROOT, stdio: 'inherit', env: process.env });
if (migration.error) fail(`could not run the migration: ${migration.error.message}`);
if (migration.status !== 0) {
  fail(
    `migration failed (exit ${migration.status ?? migration.signal}): is PostgreSQL running at DATABASE_URL (default postgres://postgres@localhost:5432/sentryhub)?`,
  );
}

// 2. Find the built apps: the known ones in start order, then any other built app.
// A trial run should show a Slack message for the README's curl: when no Slack rule exists at
// all, add one catch-all rule (operators edit or deactivate it later). Never touches existing rules.
{
  const databaseUrl = process.env.DATABASE_URL || 'postgres://postgres@localhost:5432/sentryhub';
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      `insert into slack_rules (name, priority, match_criteria, message_template, resolved_message_template)
       select 'default', 0, '{}'::jsonb,
              '{{ status | upcase }}: {{ alert_group.name }} ({{ alert_group.severity }}) on {{ labels.instance }}: {{ summary }}',
              'RESOLVED: {{ alert_group.name }} on {{ labels.instance }}'
       where not exists (select 1 from slack_rules)`,
    );
    if (rowCount) say('no Slack rule existed: added the catch-all rule "default" (edit or deactivate it in slack_rules)');
  } finally {
    await client.end();
  }
}

const built = existsSync(DIST) ? readdirSync(DIST).filter((name) => existsSync(join(DIST, name, 'main.js'))) : [];
// A dist/ folder left over from an app that no longer exists in apps/ is not started.
const current = built.filter((name) => !existsSync(join(ROOT, 'apps')) || existsSync(join(ROOT, 'apps', name)));
for (const stale of built.filter((name) => !current.includes(name))) say(`skipping dist/apps/${stale}: apps/${stale} does not exist`);
const order = KNOWN_APPS.map(([name]) => name);
const apps = [...order.filter((name) => current.includes(name)), ...current.filter((name) => !order.includes(name)).sort()];
if (apps.length === 0) fail('no built app in dist/apps/*/main.js: run `npm run build` (or `npm start`, which builds first).');

// PORT and HEALTH_PORT are per service: inherited by all, they would make every service bind
// the same port. The defaults apply instead; use `npx nx serve <app>` to choose a port.
const env = { ...process.env };
for (const name of ['PORT', 'HEALTH_PORT']) {
  if (env[name] !== undefined) {
    say(`ignoring ${name}=${env[name]}: each service has its own default port under npm start`);
    delete env[name];
  }
}

// 3. Run them, one prefixed line stream each.
const width = Math.max(...apps.map((name) => name.length));
// On a terminal, pino's JSON lines become pino-pretty's readable ones (one line each, the service
// name is already the prefix); elsewhere (a file, a pipe, CI) they pass unchanged as JSON.
const pretty = tty ? pinoPretty.prettyFactory({ colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }) : null;

function format(line) {
  if (!pretty || !line.startsWith('{')) return line;
  try {
    return pretty(line).replace(/\n$/, '');
  } catch {
    return line;
  }
}

const children = new Map();
const running = new Set();
let stopping = false;
let exitCode = 0;

function prefixLines(stream, name, color, out) {
  const prefix = tty ? `\x1b[${color}m${name.padEnd(width)} |\x1b[0m` : `[${name}]`;
  createInterface({ input: stream }).on('line', (line) => out.write(`${prefix} ${format(line)}\n`));
}

const alive = () => [...running].filter((name) => children.get(name).exitCode === null && children.get(name).signalCode === null);

function stopAll(signal = 'SIGTERM') {
  for (const name of alive()) children.get(name).kill(signal);
}

function finished(name) {
  running.delete(name);
  if (running.size === 0) {
    say('all services stopped');
    process.exit(exitCode);
  }
}

function shutdown(reason, code) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  say(`${reason}; stopping ${alive().join(', ') || 'nothing'}`);
  stopAll('SIGTERM');
  setTimeout(() => {
    say(`still running after ${STOP_GRACE_MS / 1000} s; killing`);
    stopAll('SIGKILL');
    exitCode = 1;
  }, STOP_GRACE_MS).unref();
}

apps.forEach((name, index) => {
  const child = spawn(process.execPath, ['--enable-source-maps', join(DIST, name, 'main.js')], {
    cwd: ROOT,
    env: name === 'webhook-gateway' ? { WEBHOOK_ALLOW_ANONYMOUS: 'true', ...env } : env, // a local trial: open intake unless WEBHOOK_TOKENS (or WEBHOOK_ALLOW_ANONYMOUS) is set
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.set(name, child);
  running.add(name);
  const color = COLORS[index % COLORS.length];
  prefixLines(child.stdout, name, color, process.stdout);
  prefixLines(child.stderr, name, color, process.stderr);
  child.on('error', (error) => {
    say(`${name} could not be started: ${error.message}`);
    shutdown(`${name} failed to start`, 1);
    if (child.pid === undefined) finished(name); // never spawned: no exit event will come
  });
  // 'exit' decides who died first; 'close' (after the child's last output line) counts it as done.
  let unexpected = false;
  child.on('exit', (code, signal) => {
    if (stopping) return;
    unexpected = true;
    shutdown(`${name} exited unexpectedly with ${signal ? `signal ${signal}` : `code ${code}`}`, 1);
  });
  child.on('close', (code, signal) => {
    if (!unexpected) {
      // Killed by our own SIGTERM before it installed its handler counts as a clean stop.
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') exitCode = 1;
      say(`${name} stopped (${signal ? `signal ${signal}` : `code ${code}`})`);
    }
    finished(name);
  });
});

let signals = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    signals += 1;
    // A second Ctrl-C means "now": no more waiting for graceful shutdowns.
    if (signals > 1) {
      say('second signal; killing');
      stopAll('SIGKILL');
      return;
    }
    shutdown(`received ${signal}`, 0);
  });
}

const ports = Object.fromEntries(KNOWN_APPS);
say(`started ${apps.map((name) => `${name} (pid ${children.get(name).pid})`).join(', ')}; waiting for each to be ready`);

// 4. Once every service answers /readyz (or after READY_WAIT_MS), one summary to act on.
const NOTES = {
  'webhook-gateway': 'POST /api/v1/webhooks/alertmanager, OpenAPI /openapi.json',
  admin: 'REST API /api/v1 and the console',
};
/** The gateway and the admin are reached at their root; the workers only serve health and metrics. */
const serviceUrl = (name) => (name === 'webhook-gateway' || name === 'admin' ? `http://localhost:${ports[name]}` : `http://localhost:${ports[name]}/readyz`);
/** The gateway gets WEBHOOK_ALLOW_ANONYMOUS=true above unless the environment says otherwise. */
const intakeOpen = !env.WEBHOOK_TOKENS && (env.WEBHOOK_ALLOW_ANONYMOUS ?? 'true') === 'true';

async function readiness(name) {
  try {
    const response = await fetch(`http://127.0.0.1:${ports[name]}/readyz`, { signal: AbortSignal.timeout(2_000) });
    if (response.ok) return { ready: true };
    const body = await response.json().catch(() => ({}));
    return { ready: false, reasons: body.reasons && typeof body.reasons === 'object' ? body.reasons : { readyz: `answered ${response.status}` } };
  } catch (error) {
    return { ready: false, reasons: { readyz: `no answer yet (${error.cause?.code ?? error.message})` } };
  }
}

async function apiKeyState() {
  if (env.ADMIN_BOOTSTRAP_KEY) return { kind: 'bootstrap' };
  const client = new pg.Client({
    connectionString: process.env.DATABASE_URL || 'postgres://postgres@localhost:5432/sentryhub',
    connectionTimeoutMillis: 5_000,
  });
  try {
    await client.connect();
    const { rows } = await client.query('select count(*)::int as count from api_keys where revoked_at is null');
    const count = rows[0]?.count ?? 0;
    return count > 0 ? { kind: 'exists', count } : { kind: 'none' };
  } catch (error) {
    return { kind: 'unknown', reason: error.message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function summarize() {
  const startedAt = Date.now();
  const checked = apps.filter((name) => ports[name]); // an app npm start does not know has no known port
  let states = [];
  for (;;) {
    states = await Promise.all(checked.map(async (name) => ({ name, url: serviceUrl(name), note: NOTES[name], ...(await readiness(name)) })));
    if (stopping || states.every((state) => state.ready) || Date.now() - startedAt >= READY_WAIT_MS) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const summary = {
    services: states,
    seconds: Math.round((Date.now() - startedAt) / 1000),
    ...(apps.includes('admin') ? { consoleUrl: `http://localhost:${ports.admin}/`, apiKey: await apiKeyState() } : {}),
    ...(apps.includes('webhook-gateway') ? { intake: { open: intakeOpen } } : {}),
  };
  if (stopping) return;
  const others = apps.filter((name) => !ports[name]);
  if (others.length) say(`also started (no known port): ${others.join(', ')}`);
  process.stdout.write(`\n${formatSummary(summary, { color: tty })}\n`);
}

void summarize();
