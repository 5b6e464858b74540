// `npm start` (after `npm run build`): migrates the database, then runs every built service
// as a child process with one prefixed log stream. Local trial runs only: production runs one
// process per container (docker/, deploy/k8s/).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(ROOT, 'dist/apps');
/** Start order and the port each service listens on by default (SPEC section 1). */
const KNOWN_APPS = [
  ['webhook-gateway', 8080],
  ['rabbit-consumer', 9101],
  ['alert-processor', 9102],
  ['slack-notifier', 9103],
  ['email-notifier', 9104],
  ['admin', 8081],
];
const STOP_GRACE_MS = 15_000; // services exit within 10 s of SIGTERM (SPEC section 1)
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
  fail(`migration failed (exit ${migration.status ?? migration.signal}): is PostgreSQL running at DATABASE_URL (default postgres://postgres@localhost:5432/sentryhub)?`);
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
// the same port. The SPEC defaults apply instead; use `npx nx serve <app>` to choose a port.
const env = { ...process.env };
for (const name of ['PORT', 'HEALTH_PORT']) {
  if (env[name] !== undefined) {
    say(`ignoring ${name}=${env[name]}: each service has its own default port under npm start`);
    delete env[name];
  }
}

// 3. Run them, one prefixed line stream each.
const width = Math.max(...apps.map((name) => name.length));
const levels = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const PINO_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'service']);

/** On a terminal, pino JSON lines become one short readable line; elsewhere they pass unchanged. */
function format(line) {
  if (!tty || !line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line);
    const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
    const extra = Object.entries(entry)
      .filter(([key]) => !PINO_KEYS.has(key))
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    return `${time} ${levels[entry.level] ?? entry.level} ${entry.msg ?? ''}${extra ? ` ${extra}` : ''}`;
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
say(`started ${apps.map((name) => `${name} (pid ${children.get(name).pid})`).join(', ')}`);
if (apps.includes('webhook-gateway')) {
  say(`webhook-gateway: http://localhost:${ports['webhook-gateway']}  (Alertmanager webhook: POST /api/v1/webhooks/alertmanager, OpenAPI: /openapi.json)`);
}
if (apps.includes('admin')) say(`console and admin API: http://localhost:${ports.admin}`);
else say('console: not built yet (the admin app does not exist in this checkout)');
const workers = apps.filter((name) => name !== 'webhook-gateway' && name !== 'admin' && ports[name]);
if (workers.length) say(`health and metrics: ${workers.map((name) => `${name} http://localhost:${ports[name]}/readyz`).join(', ')}`);
say('try it: npm run demo    stop: Ctrl-C');
