import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Outgoing webhook receivers, named only in configuration: a YAML or JSON file
 * (`WEBHOOK_RECEIVERS_FILE`) maps each receiver's name to its URL, headers whose values come
 * from named environment variables, template parameters from environment variables, an
 * optional HMAC-SHA256 signature and a timeout. Nothing secret is written in the file, and no
 * URL is ever typed into the console or the API: a rule can only name a receiver, so the API
 * cannot be turned against internal addresses.
 *
 * The webhook-notifier reads the file and the variables (and refuses to start when either is
 * wrong); the admin reads the same file with the same code to list the receivers, without
 * their values.
 */

/** An environment variable's name, as shells accept it. */
const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name (letters, digits, _)');

/** A value read from the environment: `{ env: VAR_NAME }`. Literal secrets have no place in the file. */
const FromEnv = z.strictObject({ env: EnvName }, { error: 'must be { env: VARIABLE_NAME }: values come from environment variables, never from the file' });

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An HTTP header name (RFC 9110 token). */
const HeaderName = z.string().regex(HEADER_NAME, 'must be an HTTP header name');
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A record whose keys must match `pattern`; the problem names the key (zod's own says only "Invalid key in record"). */
const namedRecord = <T extends z.ZodType>(pattern: RegExp, what: string, value: T) =>
  z.record(z.string(), value).superRefine((record, ctx) => {
    for (const key of Object.keys(record)) if (!pattern.test(key)) ctx.addIssue({ code: 'custom', path: [key], message: `"${key}" is not ${what}` });
  });

/** Headers SentryHub sets itself. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'transfer-encoding', 'connection']);

const HttpUrl = z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).refine((value) => {
  const url = new URL(value);
  return url.username === '' && url.password === '';
}, 'must not carry a user or password: put credentials in a header from the environment');

export const RECEIVER_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export const WebhookReceiverFileEntry = z.strictObject({
  /** The URL, or `{ env: VAR }` when the URL itself is a secret (a Teams workflow URL carries its signature). */
  url: z.union([HttpUrl, FromEnv]),
  /** Header name -> `{ env: VAR }`. */
  headers: namedRecord(HEADER_NAME, 'an HTTP header name', FromEnv)
    .default({})
    .refine((headers) => Object.keys(headers).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), `may not set ${[...RESERVED_HEADERS].join(', ')}`),
  /** Template parameters (`receiver.params.<name>`), e.g. PagerDuty's routing key: name -> `{ env: VAR }`. */
  params: namedRecord(PARAM_NAME, 'a parameter name (letters, digits, _)', FromEnv).default({}),
  /** The variable holding the HMAC-SHA256 key: the body's signature goes in `signatureHeader`. */
  hmacSecretEnv: EnvName.optional(),
  signatureHeader: HeaderName.default('X-SentryHub-Signature'),
  /**
   * Where resolved notices go instead of `url`, as a path on the URL's origin; `{dedup_key}`
   * is replaced by the episode's key (URL-encoded). Opsgenie closes an alert by alias this way:
   * `/v2/alerts/{dedup_key}/close?identifierType=alias`.
   */
  resolvedPath: z
    .string()
    .regex(/^\/[^\s]*$/, 'must be a path starting with /')
    .optional(),
  /** Connect, headers and body timeout of one request. */
  timeoutMs: z.number().int().positive().max(120_000).default(10_000),
});
export type WebhookReceiverFileEntry = z.infer<typeof WebhookReceiverFileEntry>;

export const WebhookReceiversFile = namedRecord(
  RECEIVER_NAME_PATTERN,
  'a receiver name: a receiver name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  WebhookReceiverFileEntry,
);
export type WebhookReceiversFile = z.infer<typeof WebhookReceiversFile>;

/** A receiver with its values read from the environment: what the notifier sends with. */
export interface WebhookReceiver {
  name: string;
  url: URL;
  headers: Record<string, string>;
  params: Record<string, string>;
  hmacSecret: string | null;
  signatureHeader: string;
  resolvedPath: string | null;
  timeoutMs: number;
}

/** A receiver as the admin shows it: names only, never a value read from the environment. */
export interface WebhookReceiverSummary {
  name: string;
  /** The URL without its query (which may carry a signature), or null when it comes from the environment. */
  url: string | null;
  urlEnv: string | null;
  /** Header names (their values come from the environment and are never shown). */
  headers: string[];
  params: string[];
  signed: boolean;
  signatureHeader: string | null;
  resolvedPath: string | null;
  timeoutMs: number;
}

export class WebhookReceiversError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'WebhookReceiversError';
  }
}

const issuesOf = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.join('.') || '(file)'}: ${issue.message}`);

/** Parses the text of a receivers file (YAML, of which JSON is a part). Throws WebhookReceiversError naming each problem. */
export function parseWebhookReceivers(text: string, source = 'WEBHOOK_RECEIVERS_FILE'): WebhookReceiversFile {
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    const message = `${source}: not valid YAML or JSON: ${error instanceof Error ? error.message : String(error)}`;
    throw new WebhookReceiversError(message, [message]);
  }
  // An empty file names no receivers.
  const parsed = WebhookReceiversFile.safeParse(data ?? {});
  if (!parsed.success) {
    const problems = issuesOf(parsed.error).map((problem) => `${source}: ${problem}`);
    throw new WebhookReceiversError(problems.join('; '), problems);
  }
  return parsed.data;
}

/** Reads and parses the file; no file (undefined path) names no receivers. */
export function readWebhookReceivers(path: string | undefined): WebhookReceiversFile {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const message = `WEBHOOK_RECEIVERS_FILE: cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`;
    throw new WebhookReceiversError(message, [message]);
  }
  return parseWebhookReceivers(text, `WEBHOOK_RECEIVERS_FILE (${path})`);
}

/**
 * The receivers with their values from `env`. Every variable the file names must be set and
 * not empty: the notifier refuses to start otherwise, naming the receiver and the variable.
 */
export function resolveWebhookReceivers(file: WebhookReceiversFile, env: NodeJS.ProcessEnv): Map<string, WebhookReceiver> {
  const problems: string[] = [];
  const read = (where: string, from: { env: string }): string => {
    const value = env[from.env];
    if (value === undefined || value === '') {
      problems.push(`${where}: environment variable ${from.env} is not set`);
      return '';
    }
    return value;
  };
  const receivers = new Map<string, WebhookReceiver>();
  for (const [name, entry] of Object.entries(file)) {
    let url: URL | null = null;
    if (typeof entry.url === 'string') url = new URL(entry.url);
    else {
      const value = read(`receiver ${name}: url`, entry.url);
      if (value !== '') {
        const parsed = HttpUrl.safeParse(value);
        if (parsed.success) url = new URL(parsed.data);
        else problems.push(`receiver ${name}: url from ${entry.url.env}: ${parsed.error.issues[0]?.message ?? 'invalid URL'}`);
      }
    }
    const headers = Object.fromEntries(Object.entries(entry.headers).map(([header, from]) => [header, read(`receiver ${name}: header ${header}`, from)]));
    for (const [header, value] of Object.entries(headers)) {
      if (/[\r\n\0]/.test(value)) problems.push(`receiver ${name}: header ${header}: the value of ${entry.headers[header]?.env} contains a line break or NUL`);
    }
    const params = Object.fromEntries(Object.entries(entry.params).map(([param, from]) => [param, read(`receiver ${name}: param ${param}`, from)]));
    const hmacSecret = entry.hmacSecretEnv ? read(`receiver ${name}: hmacSecretEnv`, { env: entry.hmacSecretEnv }) : null;
    if (url) {
      receivers.set(name, {
        name,
        url,
        headers,
        params,
        hmacSecret,
        signatureHeader: entry.signatureHeader,
        resolvedPath: entry.resolvedPath ?? null,
        timeoutMs: entry.timeoutMs,
      });
    }
  }
  if (problems.length > 0) throw new WebhookReceiversError(problems.join('; '), problems);
  return receivers;
}

/** What the admin may show of each receiver, by name. */
export function summarizeWebhookReceivers(file: WebhookReceiversFile): WebhookReceiverSummary[] {
  return Object.entries(file)
    .map(([name, entry]): WebhookReceiverSummary => {
      const literal = typeof entry.url === 'string' ? new URL(entry.url) : null;
      return {
        name,
        url: literal ? `${literal.origin}${literal.pathname}${literal.search ? '?…' : ''}` : null,
        urlEnv: typeof entry.url === 'string' ? null : entry.url.env,
        headers: Object.keys(entry.headers),
        params: Object.keys(entry.params),
        signed: entry.hmacSecretEnv !== undefined,
        signatureHeader: entry.hmacSecretEnv !== undefined ? entry.signatureHeader : null,
        resolvedPath: entry.resolvedPath ?? null,
        timeoutMs: entry.timeoutMs,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}
