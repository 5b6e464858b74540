import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseConfig, parseWebhookReceivers, resolveWebhookReceivers, WebhookReceiversError, type WebhookReceiversFile } from '@sentryhub/service-runtime';
import { z } from 'zod';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What the deployment files must agree with: an app's own config schema, read from its code. */
export interface AppContract {
  name: string;
  schema: z.ZodObject;
  /** Every variable the schema reads. */
  envNames: ReadonlySet<string>;
  /** The variable that sets the HTTP port (health, metrics and, for the gateway, intake). */
  portVar: 'PORT' | 'HEALTH_PORT';
  /** That variable's default in the schema. */
  defaultPort: number;
}

const ProjectJson = z.object({
  name: z.string(),
  projectType: z.string(),
  targets: z.record(z.string(), z.object({ options: z.object({ command: z.string() }).partial().optional() }).loose()).optional(),
});
export type ProjectJson = z.infer<typeof ProjectJson>;

export function readProject(app: string): ProjectJson {
  return ProjectJson.parse(JSON.parse(readFileSync(join(ROOT, 'apps', app, 'project.json'), 'utf8')));
}

/** Every application project under apps/. */
export function appNames(): string[] {
  return readdirSync(join(ROOT, 'apps'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(ROOT, 'apps', entry.name, 'project.json')))
    .map((entry) => entry.name)
    .filter((name) => readProject(name).projectType === 'application')
    .sort();
}

/**
 * Loads `apps/<app>/src/app/config.ts` and finds its zod schema. The import is dynamic on
 * purpose: tools may not import app code statically (module boundaries: apps are not
 * libraries), yet a check that manifests match an app's configuration must read the app's
 * real schema, or the two could drift apart.
 */
export async function loadAppContract(app: string): Promise<AppContract> {
  const file = join(ROOT, 'apps', app, 'src', 'app', 'config.ts');
  if (!existsSync(file)) throw new Error(`${app}: ${file} is missing (every app parses its environment there)`);
  const module: Record<string, unknown> = await import(pathToFileURL(file).href);
  const schemas = Object.values(module).filter((value): value is z.ZodObject => value instanceof z.ZodObject);
  const [schema] = schemas;
  if (schemas.length !== 1 || !schema) throw new Error(`${app}: expected one exported zod object schema in config.ts, found ${schemas.length}`);
  const envNames = new Set(Object.keys(schema.shape));
  const portVars = (['PORT', 'HEALTH_PORT'] as const).filter((name) => envNames.has(name));
  const [portVar] = portVars;
  if (portVars.length !== 1 || !portVar) throw new Error(`${app}: its schema must read exactly one of PORT and HEALTH_PORT`);
  const defaults = parseConfig(schema, {});
  if (!defaults.ok) throw new Error(`${app}: its schema has no defaults for an empty environment: ${defaults.problems.join('; ')}`);
  const defaultPort = z
    .number()
    .int()
    .parse((defaults.config as Record<string, unknown>)[portVar]);
  return { name: app, schema, envNames, portVar, defaultPort };
}

/** Variables that Node itself reads (not the app's config schema): allowed in any app's environment. */
export const NODE_RUNTIME_ENV: ReadonlySet<string> = new Set(['NODE_OPTIONS']);

/**
 * What an environment given to an app would do: variables the app does not read (usually a
 * typo, or a setting for another app), and the problems the app itself would exit with.
 */
export function checkEnvironment(contract: AppContract, env: Record<string, string>, where: string): string[] {
  const unknown = Object.keys(env)
    .filter((name) => !contract.envNames.has(name) && !NODE_RUNTIME_ENV.has(name))
    .map((name) => `${where}: ${name} is not read by ${contract.name} (its config schema has no such variable)`);
  const parsed = parseConfig(contract.schema, env);
  const invalid = parsed.ok ? [] : parsed.problems.map((problem) => `${where}: ${contract.name} would refuse to start: ${problem}`);
  return [...unknown, ...invalid];
}

/** The port the app listens on with this environment. */
export function portWith(contract: AppContract, env: Record<string, string>): number {
  const parsed = parseConfig(contract.schema, env);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return z
    .number()
    .int()
    .parse((parsed.config as Record<string, unknown>)[contract.portVar]);
}

/** The exact `docker-build` nx target command of an app. */
export function dockerBuildCommand(contract: AppContract): string {
  return `docker build -f docker/Dockerfile --build-arg APP=${contract.name} --build-arg APP_PORT_VAR=${contract.portVar} --build-arg APP_PORT=${contract.defaultPort} -t sentryhub/${contract.name} .`;
}

/** The image every app is built as (a registry and tag are added per environment). */
export const appImage = (app: string) => `sentryhub/${app}`;

/** The variables the bundled migration command reads, from its source (it has no zod schema). */
export function migrationEnvNames(): string[] {
  const source = readFileSync(join(ROOT, 'libs', 'db', 'src', 'cli', 'migrate.ts'), 'utf8');
  return [
    ...new Set([...source.matchAll(/process\.env\[['"]([A-Z0-9_]+)['"]\]|process\.env\.([A-Z0-9_]+)/g)].map((match) => match[1] ?? match[2] ?? '')),
  ].filter(Boolean);
}

/** The apps that read the webhook receivers file (WEBHOOK_RECEIVERS_FILE): the notifier sends to them, the admin lists and test-sends. */
export const RECEIVER_FILE_APPS = ['admin', 'webhook-notifier'] as const;

/** Every environment variable a receivers file names (URLs, headers, params, HMAC keys), sorted. */
export function receiverVariables(file: WebhookReceiversFile): string[] {
  const names = Object.values(file).flatMap((entry) => [
    ...(typeof entry.url === 'string' ? [] : [entry.url.env]),
    ...Object.values(entry.headers).map((from) => from.env),
    ...Object.values(entry.params).map((from) => from.env),
    ...(entry.hmacSecretEnv ? [entry.hmacSecretEnv] : []),
  ]);
  return [...new Set(names)].sort();
}

/**
 * What the webhook-notifier would say of a receivers file's text with this environment: the
 * file's problems, or those of the variables it names (unset, empty, a bad URL); [] when it would start.
 */
export function receiverProblems(text: string, env: Record<string, string>, where: string): string[] {
  try {
    resolveWebhookReceivers(parseWebhookReceivers(text, where), env);
    return [];
  } catch (error) {
    if (error instanceof WebhookReceiversError) return error.problems.map((problem) => `${where}: ${problem}`);
    throw error;
  }
}
