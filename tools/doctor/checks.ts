// One function per kind of check in prerequisites.json. Each answers within its timeout with an
// Outcome whose `reason` picks the fix; none of them changes anything.
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { BrokerUnreachableError, connectFirstReachable } from '@sentryhub/messaging';
import { redactUrl as redact } from '@sentryhub/service-runtime';
import pg from 'pg';
import type { Check, Outcome } from './prerequisites';

const run = promisify(execFile);

export interface CheckContext {
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
}

/** An empty variable counts as unset, as for the services. */
const variable = (env: NodeJS.ProcessEnv, name: string): string | undefined => (env[name] === '' ? undefined : env[name]);

/**
 * The broker URLs the services use, as they read them: RABBITMQ_URLS (every node of a cluster,
 * comma-separated) when set, else RABBITMQ_URL, else the parts; or the one the tests use.
 */
export function amqpUrls(target: 'services' | 'tests', env: NodeJS.ProcessEnv): string[] {
  const list =
    target === 'services'
      ? (variable(env, 'RABBITMQ_URLS') ?? '')
          .split(',')
          .map((url) => url.trim())
          .filter((url) => url !== '')
      : [];
  return list.length > 0 ? list : [amqpUrl(target, env)];
}

/** The single broker URL the services use (RABBITMQ_URL, else the parts) or the one the tests use. */
export function amqpUrl(target: 'services' | 'tests', env: NodeJS.ProcessEnv): string {
  if (target === 'tests') return `amqp://guest:guest@${variable(env, 'TEST_RABBITMQ_HOST') ?? '127.0.0.1'}:5672/`;
  const url = variable(env, 'RABBITMQ_URL');
  if (url) return url;
  const part = (name: string, fallback: string) => variable(env, name) ?? fallback;
  const [user, password, vhost] = [part('RABBITMQ_USER', 'guest'), part('RABBITMQ_PASSWORD', 'guest'), part('RABBITMQ_VHOST', '/')];
  return `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${part('RABBITMQ_HOST', 'localhost')}:${part('RABBITMQ_PORT', '5672')}/${encodeURIComponent(vhost)}`;
}

export function postgresUrl(target: 'services' | 'tests', env: NodeJS.ProcessEnv): string {
  return target === 'tests'
    ? (variable(env, 'TEST_POSTGRES_URL') ?? 'postgres://postgres@127.0.0.1:5432/postgres')
    : (variable(env, 'DATABASE_URL') ?? 'postgres://postgres@localhost:5432/sentryhub');
}

export function managementUrl(env: NodeJS.ProcessEnv): string {
  return (variable(env, 'TEST_RABBITMQ_MANAGEMENT_URL') ?? 'http://127.0.0.1:15672').replace(/\/+$/, '');
}

/** Settles with `late` when the promise takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late()), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The error's code (ECONNREFUSED, 28P01, ...) or its cause's, and a one-line message. */
function describe(error: unknown): { code: string | undefined; message: string } {
  const err = error as { code?: unknown; message?: string; cause?: { code?: unknown; message?: string } };
  const code = typeof err.code === 'string' ? err.code : typeof err.cause?.code === 'string' ? err.cause.code : undefined;
  const message = (err.cause?.message && err.message === 'fetch failed' ? err.cause.message : err.message) ?? String(error);
  return { code, message: message.split('\n')[0] ?? message };
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', '57P03']);

/**
 * Why one address refused: its login, its vhost, or nothing answering there. The broker's refusals
 * are known by their names (amqplib: `403 (ACCESS-REFUSED)`, `530 (NOT-ALLOWED)`), never by the
 * bare numbers, which an address's port may contain (`ECONNREFUSED 127.0.0.1:40343`).
 */
export function amqpFailure(error: unknown, timeoutMs: number): { reason: 'credentials' | 'vhost' | 'unreachable' | undefined; message: string } {
  const { code, message } = describe(error);
  // amqplib's own `timeout`: the socket opened (or not) but no handshake came.
  if (message === 'connect ETIMEDOUT') return { reason: 'unreachable', message: `no AMQP handshake within ${timeoutMs} ms` };
  if (/ACCESS[-_]REFUSED/.test(message)) return { reason: 'credentials', message: `login refused (${message})` };
  if (/NOT[-_]ALLOWED/.test(message)) return { reason: 'vhost', message };
  return { reason: code && UNREACHABLE.has(code) ? 'unreachable' : undefined, message };
}

/**
 * Connects as the services do: to the first of their broker addresses that answers (each node of
 * RABBITMQ_URLS in turn). Fails only when none does, naming each address and why; a refused
 * login or vhost on any of them is the reason given, before "unreachable".
 */
async function checkAmqp(target: 'services' | 'tests', { env, timeoutMs }: CheckContext): Promise<Outcome> {
  const urls = amqpUrls(target, env);
  const shown = urls.map(redact).join(', ');
  const first = new URL(urls[0] as string);
  const values = { user: decodeURIComponent(first.username || 'guest'), vhost: decodeURIComponent(first.pathname.slice(1)) || '/' };
  const attempt = (async (): Promise<Outcome> => {
    try {
      const { connection, url } = await connectFirstReachable(urls, { connectTimeoutMs: timeoutMs });
      const version = String(connection.connection.serverProperties?.['version'] ?? '');
      await connection.close().catch(() => undefined);
      const skipped = urls.indexOf(url);
      return { ok: true, detail: `${redact(url)} (RabbitMQ ${version})${skipped > 0 ? `; ${skipped} earlier address(es) did not answer` : ''}` };
    } catch (error) {
      const failures =
        error instanceof BrokerUnreachableError
          ? error.failures.map(({ url, error: cause }) => ({ url, ...amqpFailure(cause, timeoutMs) }))
          : [{ url: shown, ...amqpFailure(error, timeoutMs) }];
      const detail = failures.map(({ url, message }) => `${url}: ${message}`).join('; ');
      const refusedBy = failures.find(({ reason }) => reason === 'credentials' || reason === 'vhost');
      if (refusedBy?.reason === 'vhost')
        return { ok: false, reason: 'vhost', values, detail: `${detail} (vhost "${values.vhost}" missing or not allowed for ${values.user})` };
      if (refusedBy) return { ok: false, reason: 'credentials', values, detail };
      return { ok: false, reason: failures.every(({ reason }) => reason === 'unreachable') ? 'unreachable' : undefined, values, detail };
    }
  })();
  // amqplib gives up on each address after timeoutMs; this only bounds the whole.
  return within(attempt, timeoutMs * urls.length + 500, () => ({
    ok: false,
    reason: 'unreachable',
    detail: `${shown}: no AMQP handshake within ${timeoutMs} ms`,
  }));
}

async function checkPostgres(target: 'services' | 'tests', { env, timeoutMs }: CheckContext): Promise<Outcome> {
  const url = postgresUrl(target, env);
  const shown = redact(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, reason: 'credentials', detail: `${shown}: not a postgres:// URL` };
  }
  const user = decodeURIComponent(parsed.username) || 'postgres';
  const values = { user };
  const connect = async (connectionString: string) => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
    client.on('error', () => undefined); // a connection lost after the check is not the check's concern
    await client.connect();
    return client;
  };
  const attempt = (async (): Promise<Outcome> => {
    let note = '';
    let client: pg.Client;
    try {
      client = await connect(url);
    } catch (error) {
      const { code, message } = describe(error);
      if (code === '3D000' && target === 'services') {
        // npm start creates the database: that needs the server's `postgres` database and CREATEDB.
        note = `; database ${decodeURIComponent(parsed.pathname.slice(1))} does not exist yet (npm start creates it)`;
        const server = new URL(url);
        server.pathname = '/postgres';
        try {
          client = await connect(server.toString());
        } catch (inner) {
          return { ok: false, values, detail: `${shown}${note}, and its server's postgres database is not reachable: ${describe(inner).message}` };
        }
      } else if (code === '28P01' || code === '28000') {
        return { ok: false, reason: 'credentials', values, detail: `${shown}: ${message}` };
      } else {
        return { ok: false, reason: code === undefined || UNREACHABLE.has(code) ? 'unreachable' : undefined, values, detail: `${shown}: ${message}` };
      }
    }
    try {
      const { rows } = await client.query<{ rolsuper: boolean; rolcreatedb: boolean; version: string }>(
        `select rolsuper, rolcreatedb, current_setting('server_version') as version from pg_roles where rolname = current_user`,
      );
      const row = rows[0];
      if (!row || !(row.rolsuper || row.rolcreatedb)) {
        return { ok: false, reason: 'createdb', values, detail: `${shown}: user ${user} may not create databases (needs CREATEDB)${note}` };
      }
      return { ok: true, detail: `${shown} (PostgreSQL ${row.version.split(' ')[0]}, ${user} ${row.rolsuper ? 'is superuser' : 'has CREATEDB'})${note}` };
    } catch (error) {
      return { ok: false, values, detail: `${shown}: ${describe(error).message}` };
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return within(attempt, timeoutMs, () => ({ ok: false, reason: 'unreachable', detail: `${shown}: no answer within ${timeoutMs} ms` }));
}

async function checkManagement({ env, timeoutMs }: CheckContext): Promise<Outcome> {
  const base = managementUrl(env);
  const attempt = (async (): Promise<Outcome> => {
    try {
      const response = await fetch(`${base}/api/overview`, {
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (response.status === 401) return { ok: false, reason: 'credentials', detail: `${base}: guest/guest refused (401)` };
      if (!response.ok) return { ok: false, detail: `${base}/api/overview answered ${response.status}` };
      const body = (await response.json()) as { management_version?: string };
      return { ok: true, detail: `${base} (management ${body.management_version ?? 'unknown version'})` };
    } catch (error) {
      const { code, message } = describe(error);
      const timedOut = (error as Error).name === 'TimeoutError';
      // fetch fails with a TypeError for every network problem (refused, unknown host, a port it will not use).
      const network = timedOut || error instanceof TypeError || (code !== undefined && UNREACHABLE.has(code));
      return { ok: false, reason: network ? 'unreachable' : undefined, detail: `${base}: ${timedOut ? `no answer within ${timeoutMs} ms` : message}` };
    }
  })();
  return within(attempt, timeoutMs + 500, () => ({ ok: false, reason: 'unreachable', detail: `${base}: no answer within ${timeoutMs} ms` }));
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** The first executable `name` on PATH, then in the extra directories (sbin is not on every user's PATH). */
export async function findExecutable(name: string, env: NodeJS.ProcessEnv, extraDirs: string[] = []): Promise<string | undefined> {
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function checkCommand(command: string[], extraDirs: string[] | undefined, { env, timeoutMs }: CheckContext): Promise<Outcome> {
  const [name, ...args] = command as [string, ...string[]];
  const path = await findExecutable(name, env, extraDirs);
  if (!path) return { ok: false, reason: 'missing', detail: `${name} is not on PATH${extraDirs?.length ? ` nor in ${extraDirs.join(', ')}` : ''}` };
  try {
    await run(path, args, { env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    return { ok: true, detail: `${path} ${args.join(' ')}` };
  } catch (error) {
    const failure = error as { killed?: boolean; stderr?: string; stdout?: string; message: string };
    if (failure.killed) return { ok: false, reason: 'failed', detail: `${name} ${args.join(' ')}: no answer within ${timeoutMs} ms` };
    const output = `${failure.stderr ?? ''}\n${failure.stdout ?? ''}`.trim() || failure.message;
    const first = output.split('\n').find((line) => line.trim()) ?? output;
    return { ok: false, reason: /cookie/i.test(output) ? 'cookie' : 'failed', detail: `${name} ${args.join(' ')} failed: ${first.trim()}` };
  }
}

async function checkBinary(name: string, extraDirs: string[] | undefined, { env }: CheckContext): Promise<Outcome> {
  const path = await findExecutable(name, env, extraDirs);
  return path
    ? { ok: true, detail: path }
    : { ok: false, reason: 'missing', detail: `${name} is not on PATH${extraDirs?.length ? ` nor in ${extraDirs.join(', ')}` : ''}` };
}

async function checkFile(path: string, envName: string | undefined, { env }: CheckContext): Promise<Outcome> {
  const chosen = (envName && variable(env, envName)) || path;
  const source = envName && variable(env, envName) ? ` (${envName})` : '';
  return (await isExecutable(chosen))
    ? { ok: true, detail: `${chosen}${source}` }
    : { ok: false, reason: 'missing', detail: `${chosen}${source} is missing or not executable` };
}

function checkNode(major: number): Outcome {
  const version = process.versions.node;
  return Number(version.split('.')[0]) === major
    ? { ok: true, detail: `v${version} (${process.execPath})` }
    : { ok: false, reason: 'version', detail: `v${version} at ${process.execPath}; npm scripts run the node@${major} devDependency that npm ci installs` };
}

/** The variables that point a check somewhere else than its default address. */
function addressVariables(check: Check): string[] {
  switch (check.kind) {
    case 'amqp':
      return check.target === 'services' ? ['RABBITMQ_URLS', 'RABBITMQ_URL', 'RABBITMQ_HOST', 'RABBITMQ_PORT'] : ['TEST_RABBITMQ_HOST'];
    case 'postgres':
      return [check.target === 'services' ? 'DATABASE_URL' : 'TEST_POSTGRES_URL'];
    case 'rabbitmq-management':
      return ['TEST_RABBITMQ_MANAGEMENT_URL'];
    default:
      return [];
  }
}

/**
 * Runs one check. Nothing answering at an address the environment chose is reason `configured`
 * (the fix is the variable), at the default address `unreachable` (the fix is to install or start it).
 */
export async function runCheck(check: Check, context: CheckContext): Promise<Outcome> {
  const outcome = await runCheckKind(check, context);
  if (outcome.ok || outcome.reason !== 'unreachable') return outcome;
  const set = addressVariables(check).filter((name) => variable(context.env, name) !== undefined);
  return set.length ? { ...outcome, reason: 'configured', values: { ...outcome.values, variables: set.join(' and ') } } : outcome;
}

async function runCheckKind(check: Check, context: CheckContext): Promise<Outcome> {
  try {
    switch (check.kind) {
      case 'node':
        return checkNode(check.major);
      case 'amqp':
        return await checkAmqp(check.target, context);
      case 'postgres':
        return await checkPostgres(check.target, context);
      case 'rabbitmq-management':
        return await checkManagement(context);
      case 'command':
        return await checkCommand(check.command, check.dirs, context);
      case 'binary':
        return await checkBinary(check.name, check.dirs, context);
      case 'file':
        return await checkFile(check.path, check.env, context);
    }
  } catch (error) {
    return { ok: false, detail: `check failed: ${describe(error).message}` };
  }
}
