import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allFixes, fixesFor, loadPrerequisites, parsePurposes, PURPOSES, rootFixCommands, selectPrerequisites } from './prerequisites';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = realpathSync(join(ROOT, 'node_modules/.bin/tsx'));
const DOCTOR = join(ROOT, 'tools/doctor/doctor.ts');
const TEST_POSTGRES_URL = process.env['TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const prerequisites = loadPrerequisites();

interface Run {
  code: number | null;
  output: string;
}

/** Runs the doctor as `npm run doctor` would, with some variables changed (undefined: removed). */
function doctor(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete merged[name];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TSX, DOCTOR, ...args], { cwd: ROOT, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** The report line of one prerequisite and the lines under it (fix, why, see). */
function section(output: string, name: string): string {
  const lines = output.split('\n');
  const start = lines.findIndex((line) => / {2}(ok|missing) {2}/.test(line) && line.includes(` ${name} `));
  if (start < 0) throw new Error(`no line for ${name} in:\n${output}`);
  const end = lines.findIndex((line, index) => index > start && !line.startsWith('           '));
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** A TCP port nothing listens on (bound once, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm run doctor on this machine', () => {
  it('passes every prerequisite of every command, one ok line each', async () => {
    const run = await doctor(['--for', PURPOSES.join(',')]);
    expect(run.output).toMatch(new RegExp(`all ${prerequisites.length} prerequisites ok`));
    for (const entry of prerequisites) expect(section(run.output, entry.name)).toMatch(/^ {2}ok {7}/);
    expect(run.output).not.toMatch(/missing/);
    expect(run.code).toBe(0);
  });

  it('checks only what the chosen command needs', async () => {
    const run = await doctor(['--for', 'start']);
    expect(run.code).toBe(0);
    const names = [...run.output.matchAll(/^ {2}ok {7}(.+?) {2}/gm)].map((match) => match[1]?.trim());
    expect(names).toEqual(prerequisites.filter((entry) => entry.for.includes('start')).map((entry) => entry.name));
    expect(names).not.toContain('Chromium');
  });
});

describe('npm run doctor with a missing piece', () => {
  let silent: Server;
  let silentPort: number;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    // Accepts AMQP connections and never answers: only the doctor's own timeout can end the check.
    silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('names a RabbitMQ on a wrong port, the variable and the install/start command, and exits 1 at once', async () => {
    const port = await closedPort();
    const run = await doctor(['--for', 'start'], { RABBITMQ_PORT: String(port), RABBITMQ_URL: undefined });
    const lines = section(run.output, 'RabbitMQ for the services');
    expect(lines).toMatch(/^ {2}missing {2}RabbitMQ for the services/);
    expect(lines).toContain(`localhost:${port}`);
    expect(lines).toContain('ECONNREFUSED');
    expect(lines).toContain('fix: set RABBITMQ_PORT to where RabbitMQ listens');
    expect(lines).toContain('or: sudo apt-get install -y rabbitmq-server && sudo systemctl start rabbitmq-server');
    expect(lines).toContain('see: README.md#prerequisites');
    // the other prerequisites of npm start are still checked and pass
    expect(section(run.output, 'PostgreSQL for the services')).toMatch(/^ {2}ok/);
    expect(run.output).toMatch(/1 of \d+ prerequisites missing: RabbitMQ for the services/);
    expect(run.code).toBe(1);
  });

  it('gives up on a broker that never answers after its timeout', async () => {
    const run = await doctor(['--for', 'start', '--only', 'rabbitmq', '--timeout', '1000'], { RABBITMQ_URL: `amqp://guest:guest@127.0.0.1:${silentPort}/` });
    expect(section(run.output, 'RabbitMQ for the services')).toContain('no AMQP handshake within 1000 ms');
    expect(run.output).toContain('fix: set RABBITMQ_URL to where RabbitMQ listens');
    expect(run.code).toBe(1);
  });

  it('with RABBITMQ_URLS, passes on the first node that answers and, when none does, names each node and RABBITMQ_URLS', async () => {
    const [first, second] = [await closedPort(), await closedPort()];
    const reachable = await doctor(['--only', 'rabbitmq'], { RABBITMQ_URLS: `amqp://guest:guest@127.0.0.1:${first}/,amqp://guest:guest@127.0.0.1:5672/` });
    expect(section(reachable.output, 'RabbitMQ for the services')).toMatch(
      /^ {2}ok {7}RabbitMQ for the services .*127\.0\.0\.1:5672\/ \(RabbitMQ [\d.]+\); 1 earlier address\(es\) did not answer/,
    );
    expect(reachable.code).toBe(0);

    const none = await doctor(['--only', 'rabbitmq'], {
      RABBITMQ_URLS: `amqp://guest:hidden-pass@127.0.0.1:${first}/,amqp://guest:hidden-pass@127.0.0.1:${second}/`,
    });
    const lines = section(none.output, 'RabbitMQ for the services');
    expect(lines).toMatch(/^ {2}missing/);
    expect(lines).toContain(`127.0.0.1:${first}/: connect ECONNREFUSED`);
    expect(lines).toContain(`127.0.0.1:${second}/: connect ECONNREFUSED`);
    expect(lines).toContain('fix: set RABBITMQ_URLS to where RabbitMQ listens');
    expect(none.output).not.toContain('hidden-pass');
    expect(none.code).toBe(1);
  });

  it('names a management API that refuses connections, with the command that enables the plugin', async () => {
    const port = await closedPort();
    const run = await doctor(['--for', 'test'], { TEST_RABBITMQ_MANAGEMENT_URL: `http://127.0.0.1:${port}` });
    const lines = section(run.output, 'RabbitMQ management API');
    expect(lines).toMatch(/^ {2}missing {2}RabbitMQ management API/);
    expect(lines).toContain(`http://127.0.0.1:${port}`);
    expect(lines).toContain('sudo rabbitmq-plugins enable rabbitmq_management');
    expect(lines).toContain('see: README.md#what-the-tests-need');
    expect(section(run.output, 'RabbitMQ for the tests')).toMatch(/^ {2}ok/);
    expect(run.output).toMatch(/1 of \d+ prerequisites missing: RabbitMQ management API\. .* then npm test again/);
    expect(run.code).toBe(1);
  });

  it('tells a management API that refuses guest from one that is off', async () => {
    const server = createHttpServer((_request, response) => response.writeHead(401).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const run = await doctor(['--only', 'rabbitmq-management'], { TEST_RABBITMQ_MANAGEMENT_URL: `http://127.0.0.1:${port}` });
      expect(section(run.output, 'RabbitMQ management API')).toContain('guest/guest refused (401)');
      expect(run.output).toContain('fix: sudo rabbitmqctl set_user_tags guest administrator');
      expect(run.code).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('names binaries missing from PATH and the Debian package of each', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'sentryhub-doctor-path-'));
    const run = await doctor(['--only', 'prometheus,prometheus-alertmanager,amtool,chromium'], { PATH: emptyDir, CHROMIUM_PATH: join(emptyDir, 'chromium') });
    expect(section(run.output, 'prometheus')).toContain('fix: sudo apt-get install -y prometheus');
    expect(section(run.output, 'prometheus')).toContain(`prometheus is not on PATH`);
    expect(section(run.output, 'prometheus-alertmanager')).toContain('fix: sudo apt-get install -y prometheus-alertmanager');
    expect(section(run.output, 'amtool')).toContain('fix: sudo apt-get install -y prometheus-alertmanager');
    expect(section(run.output, 'Chromium')).toContain(`${join(emptyDir, 'chromium')} (CHROMIUM_PATH) is missing`);
    expect(section(run.output, 'Chromium')).toContain('fix: sudo apt-get install -y chromium');
    expect(run.output).toMatch(/4 of 4 prerequisites missing/);
    expect(run.code).toBe(1);
  });

  it('names a PostgreSQL user that may not create databases, with the ALTER ROLE for that user', async () => {
    const role = `doctor_nocreate_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      await admin.query(`create role "${role}" login nocreatedb nosuperuser password 'doctor-test'`);
      const url = new URL(TEST_POSTGRES_URL);
      url.username = role;
      url.password = 'doctor-test';
      const run = await doctor(['--only', 'postgres-tests'], { TEST_POSTGRES_URL: url.toString() });
      const lines = section(run.output, 'PostgreSQL for the tests');
      expect(lines).toContain(`user ${role} may not create databases (needs CREATEDB)`);
      expect(lines).toContain(`fix: sudo -u postgres psql -c 'ALTER ROLE "${role}" CREATEDB'`);
      expect(lines).not.toContain('doctor-test'); // the password is not printed
      expect(run.code).toBe(1);
    } finally {
      await admin.query(`drop role if exists "${role}"`);
      await admin.end();
    }
  });

  it('refuses an unknown command or prerequisite with the valid ones, exit 2', async () => {
    const purpose = await doctor(['--for', 'tests']);
    expect(purpose.output).toContain('--for tests: unknown; choose from start, test, faults, bench');
    expect(purpose.code).toBe(2);
    const only = await doctor(['--only', 'postgresql']);
    expect(only.output).toMatch(/--only postgresql: unknown; choose from node, .*amtool/);
    expect(only.code).toBe(2);
  });
});

describe('the prerequisites list', () => {
  it('has a README section and the same fix commands in the README for every prerequisite', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    // GitHub's anchors: lower case, punctuation dropped, spaces to dashes.
    const anchors = [...readme.matchAll(/^#+ (.+)$/gm)].map(
      (match) =>
        `#${(match[1] ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9 -]/g, '')
          .replace(/ /g, '-')}`,
    );
    for (const entry of prerequisites) {
      expect(anchors, `${entry.id}: README anchor ${entry.readme}`).toContain(entry.readme);
      for (const fix of allFixes(entry).filter((command) => command.startsWith('sudo ') || command === 'npm ci')) {
        expect(readme, `${entry.id}: README shows ${fix}`).toContain(fix);
      }
    }
  });

  it('is what .ci/run installs from: it has no install list of its own', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
    expect(ci).toMatch(/npm run -s doctor -- --for test,faults,bench --fix/);
    expect(ci).not.toMatch(/apt-get install|rabbitmq-plugins enable/);
    // --fix can install every Debian package the doctor may ask for
    expect(prerequisites.filter((entry) => entry.debian).every((entry) => entry.auto)).toBe(true);
  });

  it('gives .ci/run (--fix, as root) one apt-get for the missing packages, then the plugin, and nothing for a configured address', () => {
    const byId = (id: string) => {
      const entry = prerequisites.find((candidate) => candidate.id === id);
      if (!entry) throw new Error(`no prerequisite ${id}`);
      return entry;
    };
    const missing = { ok: false as const, detail: 'missing', reason: 'missing' };
    const { fixable, commands } = rootFixCommands([
      { entry: byId('nginx'), outcome: missing },
      { entry: byId('chromium'), outcome: missing },
      { entry: byId('prometheus-alertmanager'), outcome: missing },
      { entry: byId('amtool'), outcome: missing },
      { entry: byId('prometheus'), outcome: { ok: true, detail: '/usr/bin/prometheus' } },
      { entry: byId('rabbitmq-management'), outcome: { ok: false, detail: 'refused', reason: 'unreachable' } },
      { entry: byId('postgres-tests'), outcome: { ok: false, detail: 'refused', reason: 'unreachable' } },
    ]);
    expect(commands).toEqual([
      'apt-get update -qq',
      'apt-get install -y -qq --no-install-recommends nginx-light chromium prometheus-alertmanager',
      'rabbitmq-plugins enable rabbitmq_management',
    ]);
    expect(fixable.map(({ entry }) => entry.id)).not.toContain('postgres-tests'); // .ci/run starts PostgreSQL itself
    const configured = rootFixCommands([{ entry: byId('rabbitmq-management'), outcome: { ok: false, detail: 'refused', reason: 'configured' } }]);
    expect(configured.commands).toEqual([]);
  });

  it('selects by command and fills the fix of a failure', () => {
    expect(parsePurposes(['test,faults', 'test'])).toEqual(['test', 'faults']);
    expect(() => parsePurposes(['deploy'])).toThrow(/--for deploy: unknown/);
    expect(selectPrerequisites(prerequisites, ['faults']).map((entry) => entry.id)).toContain('pg_ctlcluster');
    expect(selectPrerequisites(prerequisites, ['start']).map((entry) => entry.id)).not.toContain('pg_ctlcluster');
    const rabbitmq = prerequisites.find((entry) => entry.id === 'rabbitmq');
    if (!rabbitmq) throw new Error('no rabbitmq prerequisite');
    expect(fixesFor(rabbitmq, { ok: false, detail: '', reason: 'vhost', values: { vhost: 'ops', user: 'svc' } })).toEqual([
      "sudo rabbitmqctl add_vhost ops && sudo rabbitmqctl set_permissions -p ops svc '.*' '.*' '.*'",
    ]);
    expect(fixesFor(rabbitmq, { ok: false, detail: '' })).toEqual(['sudo apt-get install -y rabbitmq-server && sudo systemctl start rabbitmq-server']);
  });
});
