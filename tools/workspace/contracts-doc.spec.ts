import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ALERT_SOURCES,
  ALERT_STATUSES,
  AlertChange,
  AlertProcessed,
  AlertReceived,
  AuditEvent,
  DEFAULT_EXTERNAL_QUEUE,
  EXCHANGES,
  GroupSnapshot,
  HEADERS,
  INTAKE_REFUSALS,
  InstanceSnapshot,
  NormalizedAlert,
  ROUTING_KEYS,
} from '@sentryhub/contracts';
import * as contracts from '@sentryhub/contracts';
import { migrations } from '@sentryhub/db';
import { buildBrokerConfig, VHOST_KEY } from '@sentryhub/messaging';
import { createLogger, createMetricsRegistry, healthRoutes, parseConfig, Readiness, sharedEnv } from '@sentryhub/service-runtime';
import { createTestDatabase, type TestDatabase } from '@sentryhub/testing';
import Fastify, { type FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { appNames, loadAppContract, migrationEnvNames, ROOT, type AppContract } from '../deploy/app-contracts';

/**
 * docs/contracts.md names every contract as the code has it: the variables of every config
 * schema (with their defaults), every table and column of libs/db/src/schema.ts and of the
 * migrated database, every migration, every exchange, routing key and queue of the topology,
 * every field of the messages, every npm script, and every route of the built gateway, admin
 * and health server (with the role or authentication each declares). Each check fails naming
 * the missing or stale item.
 */
const DOC_PATH = 'docs/contracts.md';
const doc = readFileSync(join(ROOT, DOC_PATH), 'utf8');

interface Section {
  number: string;
  title: string;
  /** The heading's text and everything under it, up to the next heading of the same or a higher level. */
  text: string;
}

/** Every numbered heading (`## 4. Title`, `### 4.3 Title`) with its text. */
function numberedSections(markdown: string): Section[] {
  const headings = [...markdown.matchAll(/^(#{2,4}) (\d+(?:\.\d+)*)\.? (.+)$/gm)];
  return headings.map((heading, index) => {
    const level = heading[1]?.length ?? 2;
    const start = heading.index ?? 0;
    const next = headings.slice(index + 1).find((later) => (later[1]?.length ?? 2) <= level);
    return { number: heading[2] ?? '', title: (heading[3] ?? '').trim(), text: markdown.slice(start, next?.index ?? markdown.length) };
  });
}
const sections = numberedSections(doc);

function section(number: string): Section {
  const found = sections.find((candidate) => candidate.number === number);
  if (!found) throw new Error(`${DOC_PATH}: no section §${number}`);
  return found;
}

/** The subsection of §`parent` whose title is `title` (a service name, a table name in backticks...). */
function subsection(parent: string, title: string): Section {
  const found = sections.find((candidate) => candidate.number.startsWith(`${parent}.`) && candidate.title === title);
  if (!found) throw new Error(`${DOC_PATH}: no subsection "${title}" under §${parent}`);
  return found;
}

/** The first cells of the table rows of a text whose first cell is one backticked name: `| \`name\` | second | ...`. */
function rows(text: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    // Cells may be padded (a formatter aligns the columns); `\|` inside a cell is no separator.
    const match = /^\| `([^`]+)` +\|(.*)\|\s*$/.exec(line);
    if (match)
      found.set(
        match[1] ?? '',
        (match[2] ?? '').split(/(?<!\\)\|/).map((cell) => cell.trim()),
      );
  }
  return found;
}

/** Every `name` written in backticks in a text. */
const backticked = (text: string) => new Set([...text.matchAll(/`([^`\n]+)`/g)].map((match) => match[1] ?? ''));

/** How the doc writes a schema default: `value`, or "unset" when the schema has none. */
function documented(value: unknown): string {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'unset';
  return `\`${Array.isArray(value) ? value.join(',') : String(value)}\``;
}

const missing = (what: string, names: Iterable<string>, present: (name: string) => boolean) =>
  [...names].filter((name) => !present(name)).map((name) => `${DOC_PATH} lacks ${what} ${name}`);
const stale = (what: string, names: Iterable<string>, exists: (name: string) => boolean) =>
  [...names].filter((name) => !exists(name)).map((name) => `${DOC_PATH} names ${what} ${name}, which does not exist`);

describe('docs/contracts.md: environment', () => {
  let apps: AppContract[];
  beforeAll(async () => {
    apps = await Promise.all(appNames().map(loadAppContract));
  });

  it('lists the variables every service shares, with their defaults', () => {
    const table = rows(subsection('2', 'Every service').text);
    expect([
      ...missing('the shared variable', Object.keys(sharedEnv), (name) => table.has(name)),
      ...stale('the shared variable', table.keys(), (name) => name in sharedEnv),
    ]).toEqual([]);
    for (const app of apps) {
      const defaults = parseConfig(app.schema, {});
      if (!defaults.ok) throw new Error(`${app.name}: ${defaults.problems.join('; ')}`);
      for (const name of Object.keys(sharedEnv)) {
        expect(app.envNames.has(name), `${app.name} does not read the shared ${name}`).toBe(true);
        expect(table.get(name)?.[0], `${DOC_PATH} §2.1 ${name} default`).toBe(documented((defaults.config as Record<string, unknown>)[name]));
      }
    }
  });

  it('lists exactly the variables of each service, with the defaults of its schema', () => {
    expect(apps.length).toBeGreaterThanOrEqual(6);
    const services = rows(section('1.1').text);
    expect(
      missing(
        'the service',
        apps.map((app) => app.name),
        (name) => services.has(name),
      ),
    ).toEqual([]);
    for (const app of apps) {
      const table = rows(subsection('2', app.name).text);
      const own = [...app.envNames].filter((name) => !(name in sharedEnv));
      expect([
        ...missing(`${app.name}'s variable`, own, (name) => table.has(name)),
        ...stale(`${app.name}'s variable`, table.keys(), (name) => own.includes(name)),
      ]).toEqual([]);
      const defaults = parseConfig(app.schema, {});
      if (!defaults.ok) throw new Error(`${app.name}: ${defaults.problems.join('; ')}`);
      for (const name of own)
        expect(table.get(name)?.[0], `${DOC_PATH} ${app.name} ${name} default`).toBe(documented((defaults.config as Record<string, unknown>)[name]));
    }
  });

  it('lists the migration command’s variables', () => {
    const table = rows(subsection('2', 'The migration command').text);
    expect([...table.keys()].sort()).toEqual(migrationEnvNames().sort());
  });

  it('names no variable that no schema reads (and no constant the contracts do not export)', () => {
    const variables = new Set([...apps.flatMap((app) => [...app.envNames]), ...migrationEnvNames()]);
    const named = [...doc.matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])(?:=[^`]*)?`/g)].map((match) => match[1] ?? '');
    expect(stale('the variable', new Set(named), (name) => variables.has(name) || name in contracts)).toEqual([]);
  });
});

/** Every table of the `Database` interface of libs/db/src/schema.ts with its columns, read with the TypeScript checker (so `extends` counts). */
function schemaTables(): Map<string, string[]> {
  const file = join(ROOT, 'libs', 'db', 'src', 'schema.ts');
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const database = source?.statements.find(
    (statement): statement is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(statement) && statement.name.text === 'Database',
  );
  if (!source || !database) throw new Error(`${file}: no interface Database`);
  const tables = new Map<string, string[]>();
  for (const table of checker.getPropertiesOfType(checker.getTypeAtLocation(database))) {
    const type = checker.getTypeOfSymbolAtLocation(table, database);
    tables.set(
      table.name,
      checker.getPropertiesOfType(type).map((column) => column.name),
    );
  }
  return tables;
}

describe('docs/contracts.md: tables, routes', () => {
  let database: TestDatabase;
  let admin: FastifyInstance;
  let gateway: FastifyInstance;
  let health: FastifyInstance;
  let adminRoutes: readonly { method: string; url: string; role: string }[];
  const logger = createLogger('contracts-doc', 'silent');

  /** An app module, imported at run time: tools may not import app code statically (module boundaries), but must check the real app. */
  const appModule = async (app: string, file: string) =>
    (await import(pathToFileURL(join(ROOT, 'apps', app, 'src', 'app', file)).href)) as Record<string, unknown>;
  const fn = <T>(module: Record<string, unknown>, name: string): T => {
    if (typeof module[name] !== 'function') throw new Error(`expected an exported function ${name}`);
    return module[name] as T;
  };

  beforeAll(async () => {
    database = await createTestDatabase('contracts_doc');
    const keys = fn<(db: unknown) => unknown>(await appModule('admin', 'api-keys.ts'), 'apiKeyStore')(database.db);
    const buildAdmin = fn<(deps: Record<string, unknown>) => Promise<FastifyInstance>>(await appModule('admin', 'app.ts'), 'buildAdmin');
    admin = await buildAdmin({
      logger,
      db: database.db,
      keys,
      messaging: () => null,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('contracts-doc-admin'),
      defaultChannel: '#general',
    });
    await admin.ready();
    adminRoutes = fn<(app: FastifyInstance) => { method: string; url: string; role: string }[]>(await appModule('admin', 'auth.ts'), 'declaredRoutes')(admin);

    // The gateway's routes are only enumerated and asked without a token (401 before any body is
    // read): nothing is ever published, so no broker is involved.
    const buildGateway = fn<(deps: Record<string, unknown>) => Promise<FastifyInstance>>(await appModule('webhook-gateway', 'app.ts'), 'buildGateway');
    const nothingPublished = { publish: () => Promise.reject(new Error('the contracts check publishes nothing')) };
    gateway = await buildGateway({
      logger,
      messaging: nothingPublished,
      readiness: new Readiness([]),
      registry: createMetricsRegistry('contracts-doc-gateway'),
      tokens: ['contracts-doc-token'],
      bodyLimitBytes: 1_048_576,
    });
    await gateway.ready();

    health = Fastify();
    await health.register(healthRoutes, { readiness: new Readiness([]), registry: createMetricsRegistry('contracts-doc-health') });
    await health.ready();
  });

  afterAll(async () => {
    await Promise.all([admin?.close(), gateway?.close(), health?.close()]);
    await database?.destroy();
  });

  it('describes every table and column of schema.ts, and no other', () => {
    const tables = schemaTables();
    expect(tables.size).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const [table, columns] of tables) {
      const found = sections.find((candidate) => candidate.number.startsWith('6.') && candidate.title === `\`${table}\``);
      if (!found) {
        problems.push(`${DOC_PATH} lacks a section "### 6.N \`${table}\`" for the table ${table}`);
        continue;
      }
      const documentedColumns = rows(found.text);
      const qualified = (names: Iterable<string>) => [...names].map((column) => `${table}.${column}`);
      problems.push(
        ...missing('the column', qualified(columns), (name) => documentedColumns.has(name.slice(table.length + 1))),
        ...stale('the column', qualified(documentedColumns.keys()), (name) => columns.includes(name.slice(table.length + 1))),
      );
    }
    for (const candidate of sections.filter((other) => other.number.startsWith('6.') && /^`[a-z_]+`$/.test(other.title))) {
      const name = candidate.title.slice(1, -1);
      if (!tables.has(name)) problems.push(`${DOC_PATH} §${candidate.number} describes the table ${name}, which schema.ts does not have`);
    }
    expect(problems).toEqual([]);
  });

  it('describes every table and column the migrations create', async () => {
    const result = await sql<{
      table_name: string;
      column_name: string;
    }>`select table_name, column_name from information_schema.columns where table_schema = 'public'`.execute(database.db);
    expect(result.rows.length).toBeGreaterThan(50);
    const problems: string[] = [];
    for (const { table_name: table, column_name: column } of result.rows) {
      if (table.startsWith('kysely_migration')) {
        if (!doc.includes(`\`${table}\``)) problems.push(`${DOC_PATH} lacks the migrator's table ${table}`);
        continue;
      }
      const found = sections.find((candidate) => candidate.number.startsWith('6.') && candidate.title === `\`${table}\``);
      if (!found || !rows(found.text).has(column)) problems.push(`${DOC_PATH} lacks the column ${table}.${column} (created by the migrations)`);
    }
    expect(problems).toEqual([]);
  });

  it('lists every registered migration, in order', () => {
    const listed = [...rows(subsection('6', 'Migrations').text).keys()];
    expect(listed, `${DOC_PATH} §6 "Migrations" against libs/db/src/migrate.ts`).toEqual(Object.keys(migrations));
  });

  /** The routes of a section's tables: method, each path of the path cell, and the third cell (role or auth). */
  function documentedRoutes(text: string): { method: string; url: string; access: string }[] {
    return [...text.matchAll(/^\| `([A-Z]+)` +\| ((?:`[^`]+`(?:, )?)+) +\| ([a-z]+) +\|/gm)].flatMap((match) =>
      [...backticked(match[2] ?? '')].map((url) => ({ method: match[1] ?? '', url, access: match[3] ?? '' })),
    );
  }

  /** Routes as `METHOD url`, without the HEAD twin fastify adds to every GET. */
  const key = (route: { method: string; url: string }) => `${route.method} ${route.url}`;
  function withoutHeadTwins<T extends { method: string; url: string }>(routes: readonly T[]): T[] {
    const gets = new Set(routes.filter((route) => route.method === 'GET').map((route) => route.url));
    return routes.filter((route) => !(route.method === 'HEAD' && gets.has(route.url)));
  }
  /** `(GET, HEAD)` lines of printRoutes, for an app without a route table of its own. */
  function printedRoutes(app: FastifyInstance): { method: string; url: string }[] {
    return [...app.printRoutes({ commonPrefix: false }).matchAll(/── (\S+) \(([A-Z, ]+)\)/g)].flatMap((match) =>
      (match[2] ?? '').split(', ').map((method) => ({ method, url: match[1] ?? '' })),
    );
  }

  it('lists the health routes of every service', () => {
    const listed = documentedRoutes(section('3.2').text);
    const registered = withoutHeadTwins(printedRoutes(health));
    expect(registered.length).toBe(3);
    expect([
      ...missing('the health route', registered.map(key), (route) => listed.some((row) => key(row) === route)),
      ...stale('the health route', listed.map(key), (route) => registered.some((row) => key(row) === route)),
    ]).toEqual([]);
    expect(listed.filter((row) => row.access !== 'public').map(key), 'health routes are public').toEqual([]);
  });

  it('lists every route of the built gateway, with its authentication', async () => {
    const listed = documentedRoutes(section('3.3').text);
    const registered = withoutHeadTwins(printedRoutes(gateway));
    expect(registered.length).toBeGreaterThanOrEqual(7);
    expect([
      ...missing('the gateway route', registered.map(key), (route) => listed.some((row) => key(row) === route)),
      ...stale('the gateway route', listed.map(key), (route) => registered.some((row) => key(row) === route)),
    ]).toEqual([]);
    for (const row of listed) {
      // Asked without a token: a `token` route answers 401 before reading anything, a public one never does.
      const answer = await gateway.inject({ method: row.method as 'GET', url: row.url, payload: row.method === 'POST' ? [] : undefined });
      expect(answer.statusCode === 401 ? 'token' : 'public', `${DOC_PATH} §3.3 ${key(row)} answered ${answer.statusCode} without a token`).toBe(row.access);
    }
  });

  it('lists every route of the built admin, with the role it declares', () => {
    const registered = withoutHeadTwins(adminRoutes);
    expect(registered.length).toBeGreaterThan(50);
    const listed = ['3.2', '3.4', '3.5', '3.6'].flatMap((number) => documentedRoutes(section(number).text).map((row) => ({ ...row, number })));
    const problems = [
      ...missing('the admin route', registered.map(key), (route) => listed.some((row) => key(row) === route)),
      ...stale('the admin route', listed.map(key), (route) => registered.some((row) => key(row) === route)),
    ];
    for (const route of registered) {
      const row = listed.find((candidate) => key(candidate) === key(route));
      if (row && row.access !== route.role)
        problems.push(`${DOC_PATH} §${row.number} gives ${key(route)} the role ${row.access}; the route declares ${route.role}`);
      const expected = route.url.startsWith('/api/v1/') ? '3.4' : route.url.startsWith('/api/v2/') ? '3.5' : null;
      if (row && expected && row.number !== expected) problems.push(`${DOC_PATH} lists ${key(route)} in §${row.number}, not in §${expected}`);
    }
    expect(problems).toEqual([]);
  });
});

describe('docs/contracts.md: exchanges, queues and messages', () => {
  const vhost = buildBrokerConfig({ url: 'amqp://localhost', consumes: [], externalQueue: DEFAULT_EXTERNAL_QUEUE }).vhosts?.[VHOST_KEY];
  const topology = section('4').text;

  it('names every exchange with its type', () => {
    const exchanges = Object.entries(vhost?.exchanges ?? {}) as [string, { type?: string }][];
    expect(exchanges.map(([name]) => name).sort()).toEqual(Object.values(EXCHANGES).sort());
    const table = rows(section('4.1').text);
    expect([
      ...missing(
        'the exchange',
        exchanges.map(([name]) => name),
        (name) => table.get(name)?.[0]?.startsWith(exchanges.find(([other]) => other === name)?.[1].type ?? '?') ?? false,
      ),
      ...stale('the exchange', table.keys(), (name) => name in (vhost?.exchanges ?? {})),
    ]).toEqual([]);
  });

  it('names every queue of the topology (work, dead-letter, retry and external) and every binding', () => {
    const queues = Object.keys(vhost?.queues ?? {});
    expect(queues.length).toBeGreaterThan(25);
    const named = backticked(topology);
    const problems = missing('the queue', queues, (queue) => named.has(queue));
    const table = rows(section('4.3').text);
    problems.push(...stale('the work queue', table.keys(), (queue) => queues.includes(queue)));
    for (const binding of Object.values((vhost?.bindings ?? {}) as Record<string, { source: string; destination: string; bindingKey: string }>)) {
      if (binding.source === EXCHANGES.deadLetter) continue;
      const row = table.get(binding.destination);
      if (row?.[0] !== `\`${binding.source}\`` || row[1] !== `\`${binding.bindingKey}\``)
        problems.push(`${DOC_PATH} §4.3 lacks the binding ${binding.source} -[${binding.bindingKey}]-> ${binding.destination}`);
    }
    expect(problems).toEqual([]);
  });

  it('names every routing key and header', () => {
    const keys = [
      ...ALERT_SOURCES.map(ROUTING_KEYS.alertReceived),
      ...ALERT_STATUSES.map(ROUTING_KEYS.alertProcessed),
      'audit.<entity>.<action>',
      ROUTING_KEYS.allAlertsReceived,
      ROUTING_KEYS.allAlertsProcessed,
      ROUTING_KEYS.allAudit,
    ];
    const named = backticked(topology);
    expect([
      ...missing('the routing key', keys, (name) => named.has(name)),
      ...missing('the header', Object.values(HEADERS), (name) => named.has(name)),
    ]).toEqual([]);
  });

  /** Every field of the schemas is a row of the section, and every row is a field of one of them. */
  function fieldsOf(number: string, schemas: Record<string, z.ZodObject>, mentionedOnly: Record<string, z.ZodObject> = {}): string[] {
    const text = section(number).text;
    const table = rows(text);
    const named = backticked(text);
    const fields = Object.entries(schemas).flatMap(([name, schema]) => Object.keys(schema.shape).map((field) => ({ name, field })));
    return [
      ...fields.filter(({ field }) => !table.has(field)).map(({ name, field }) => `${DOC_PATH} §${number} lacks the field ${name}.${field}`),
      ...stale(`in §${number} the field`, table.keys(), (field) => fields.some((known) => known.field === field)),
      ...Object.entries(mentionedOnly).flatMap(([name, schema]) =>
        Object.keys(schema.shape)
          .filter((field) => !named.has(field))
          .map((field) => `${DOC_PATH} §${number} lacks the field ${name}.${field}`),
      ),
    ];
  }

  it('describes every field of every message', () => {
    expect([
      ...fieldsOf('5.1', { AlertReceived, NormalizedAlert }),
      ...fieldsOf('5.2', { AlertProcessed, AlertChange }, { GroupSnapshot, InstanceSnapshot }),
      ...fieldsOf('5.3', { AuditEvent }),
      ...missing('the intake refusal', INTAKE_REFUSALS, (name) => backticked(section('5.4').text).has(name)),
    ]).toEqual([]);
  });
});

/** `path:line:contracts.md §N` for every citation of a section of this page in the work tree (git grep exits 1 when there is none). */
function citations(): string {
  try {
    return execFileSync('git', ['grep', '--untracked', '-noE', 'contracts\\.md §[0-9]+(\\.[0-9]+)*', '--', '.', ':!node_modules', ':!dist', `:!${DOC_PATH}`], {
      cwd: ROOT,
      encoding: 'utf8',
    });
  } catch (error) {
    if ((error as { status?: number }).status === 1) return '';
    throw error;
  }
}

describe('docs/contracts.md: commands and citations', () => {
  it('lists every npm script, and no other', () => {
    const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);
    const table = rows(section('1.3').text);
    const command = (script: string) => (script === 'start' || script === 'test' ? `npm ${script}` : `npm run ${script}`);
    const listed = [...table.keys()].map((cell) => /^npm (?:run )?([\w:-]+)$/.exec(cell)?.[1] ?? cell);
    expect([
      ...missing('the command', scripts.map(command), (name) => table.has(name)),
      ...stale('the npm script', listed, (name) => scripts.includes(name)),
    ]).toEqual([]);
  });

  it('every "docs/contracts.md §N" in the repository, and every §N in it, is a section of it', () => {
    const numbers = new Set(sections.map((candidate) => candidate.number));
    expect(numbers.size).toBeGreaterThan(40);
    const cited = citations()
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ where: line.replace(/:contracts\.md §.*$/, ''), number: line.replace(/^.*§/, '') }));
    const inside = [...doc.matchAll(/§(\d+(?:\.\d+)*)/g)].map((match) => ({ where: DOC_PATH, number: match[1] ?? '' }));
    expect(
      [...cited, ...inside]
        .filter(({ number }) => !numbers.has(number))
        .map(({ where, number }) => `${where} cites docs/contracts.md §${number}, which does not exist`),
    ).toEqual([]);
  });
});
