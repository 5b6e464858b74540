import { z } from 'zod';

/**
 * An RFC 3339 timestamp as Alertmanager and Prometheus write them (any fraction, Z or an offset
 * such as +02:00) that names a real instant (no 30 February, no hour 24, no second 60) and that
 * PostgreSQL can store. ISO 8601 has a year 0000; PostgreSQL refuses it ("date/time field value
 * out of range"), so accepting it would make a message that fails the processor's transaction
 * on every retry.
 */
export const Rfc3339 = z.iso.datetime({ offset: true }).refine((value) => !value.startsWith('0000-'), 'year 0000 cannot be stored: the first year is 0001');

/** At most this many alerts in one request or external message (a webhook, an array of postable alerts). */
export const MAX_ALERTS_PER_REQUEST = 10_000;
/** JSON nested deeper than this (in kept unknown fields too) is refused: it serves no alert and costs stack. */
export const MAX_JSON_DEPTH = 32;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** One scan that nearly every string passes: the precise checks run only when it matches. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what it looks for
const SUSPECT = /[\u0000\uD800-\uDFFF]/;

/**
 * Why a string cannot be stored verbatim, or null: PostgreSQL text and jsonb refuse NUL
 * (`\u0000`) and lone UTF-16 surrogates, so such an alert would fail in the processor on every
 * retry; it is refused at intake instead. Other control characters are kept verbatim.
 */
export function unstorableText(text: string): string | null {
  if (!SUSPECT.test(text)) return null;
  if (text.includes('\u0000')) return 'must not contain NUL (\\u0000)';
  if (LONE_SURROGATE.test(text)) return 'must not contain a lone UTF-16 surrogate';
  return null;
}

/**
 * Reports an intake problem of the value a check is given, as `superRefine`'s `ctx.addIssue`
 * would (the other checks still run). Intake's checks are zod `.check` functions rather than
 * `superRefine`, which allocates a closure for every value it checks: intake checks every
 * label and annotation of every alert.
 */
function report(payload: z.core.ParsePayload, refusal: IntakeRefusal, message: string, path: (string | number)[] = []): void {
  payload.issues.push({ code: 'custom', message, path, params: { refusal }, input: payload.value, continue: true });
}

/** A problem found in a JSON value: where (keys and indexes from that value) and what. */
export interface JsonValueProblem {
  path: (string | number)[];
  message: string;
}

/**
 * The first problem of a parsed JSON value as a whole (depth over MAX_JSON_DEPTH, or an
 * unstorable string in any key or value, unknown fields included), or null. Nothing is
 * allocated unless a problem is found (intake runs this on every alert); the recursion stops one
 * level past `maxDepth`, so a hostile depth cannot overflow the stack.
 */
export function jsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, checkedApart?: ReadonlySet<string>): JsonValueProblem | null {
  const problem = problemWithin(value, 0, maxDepth, checkedApart);
  if (problem) problem.path.reverse();
  return problem;
}

/**
 * jsonValueProblem below `depth`; the path comes back leaf first (each level appends its key on
 * the way out). `checkedApart`: keys left out (their own schema checks them), given for the top
 * level only: the levels below are called without it.
 */
function problemWithin(value: unknown, depth: number, maxDepth: number, checkedApart?: ReadonlySet<string>): JsonValueProblem | null {
  if (depth > maxDepth) return { path: [], message: `JSON nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (typeof value === 'string') {
    const error = unstorableText(value);
    return error ? { path: [], message: error } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const problem = problemWithin(value[index], depth + 1, maxDepth);
      if (problem) return appendKey(problem, index, depth, maxDepth);
    }
    return null;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key) || checkedApart?.has(key)) continue;
    const error = unstorableText(key);
    if (error) return { path: [key], message: `key ${error}` };
    const problem = problemWithin((value as Record<string, unknown>)[key], depth + 1, maxDepth);
    if (problem) return appendKey(problem, key, depth, maxDepth);
  }
  return null;
}

/** The path of a problem too deep is cut at `maxDepth` keys (a hostile depth would make a hostile path). */
function appendKey(problem: JsonValueProblem, key: string | number, depth: number, maxDepth: number): JsonValueProblem {
  if (depth < maxDepth) problem.path.push(key);
  return problem;
}

/** A check refusing what jsonValueProblem finds (deeper than `maxDepth` below this value), but in the fields `checkedApart`. */
function storableWithin(maxDepth: number, checkedApart?: ReadonlySet<string>) {
  return (payload: z.core.ParsePayload): void => {
    const problem = jsonValueProblem(payload.value, maxDepth, checkedApart);
    if (!problem) return;
    report(payload, problem.message.startsWith('JSON nested') ? 'nested_too_deep' : 'unstorable_text', problem.message, problem.path);
  };
}
const storable = storableWithin(MAX_JSON_DEPTH);
/** An alert's label sets check their own text (LabelSet), and hold only strings. */
const LABEL_SETS = new Set(['labels', 'annotations']);
/** The other fields of a postable alert. */
const storablePostable = storableWithin(MAX_JSON_DEPTH, LABEL_SETS);
/** An alert sits two levels down in a webhook (`alerts`, its index): the body's depth limit, counted from the alert. */
const storableAlert = storableWithin(MAX_JSON_DEPTH - 2, LABEL_SETS);

const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
};

/**
 * A label set (labels or annotations): an object of non-empty names and string values, each one
 * storable. One check over the object, with zod's own issues (`expected record`, `expected
 * string` at the name, `too small` for an empty name): a `z.record` runs a key and a value
 * schema for every entry and copies the object, which made label sets most of what intake and the
 * processor allocated. The object is kept as it came, but for a `__proto__` key, which is
 * dropped unread (as z.record drops it).
 */
export const LabelSet = z.custom<Record<string, string>>().check((payload) => {
  const labels = payload.value;
  if (!isPlainObject(labels)) {
    payload.issues.push({ code: 'invalid_type', expected: 'record', input: labels });
    return;
  }
  for (const name in labels) {
    if (!Object.hasOwn(labels, name) || name === '__proto__') continue;
    // A name refused is one issue: its value is not looked at.
    if (name === '') {
      payload.issues.push({ code: 'too_small', origin: 'string', minimum: 1, inclusive: true, input: name, path: [name] });
      continue;
    }
    const nameError = unstorableText(name);
    if (nameError) {
      report(payload, 'unstorable_text', `name ${nameError}`, [name]);
      continue;
    }
    const value = labels[name];
    if (typeof value !== 'string') payload.issues.push({ code: 'invalid_type', expected: 'string', input: value, path: [name] });
    else {
      const error = unstorableText(value);
      if (error) report(payload, 'unstorable_text', error, [name]);
    }
  }
  if (Object.hasOwn(labels, '__proto__')) {
    const { ['__proto__']: _dropped, ...rest } = labels;
    payload.value = rest;
  }
});
export type LabelSet = z.infer<typeof LabelSet>;

/** Alertmanager's "not ended" value of endsAt. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

const ZERO_TIME_MS = Date.parse(ZERO_TIME);

/** Go's zero time in any RFC 3339 spelling (amtool sends `0001-01-01T00:00:00.000Z`): no time given. */
export const isZeroTime = (value: string | undefined): boolean => value !== undefined && Date.parse(value) === ZERO_TIME_MS;

// ---------------------------------------------------------------------------------------------
// Intake bounds: what one alert may weigh and when it may claim to start or end. An alert that
// breaks one is refused on its own; the other alerts of its request or message go through.
// ---------------------------------------------------------------------------------------------

/** The bounds of one alert at every intake (HTTP and the external queue). */
export const INTAKE_BOUNDS = {
  maxLabels: 128,
  /** Bytes of UTF-8 (label names are ASCII by their grammar, so also characters). */
  maxLabelNameBytes: 256,
  maxLabelValueBytes: 16 * 1024,
  /** Names and values of all annotations of one alert together, in bytes of UTF-8. */
  maxAnnotationsBytes: 64 * 1024,
} as const;

/** INTAKE_MAX_FUTURE when unset: how far after its receipt an alert may say it starts or ends. */
export const DEFAULT_INTAKE_MAX_FUTURE = '10m';

/** Prometheus's label name grammar. */
export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Why an alert was refused: a closed set, so that it can label a metric (the alert's content
 * never does). `invalid_alert` is every other schema problem of one alert (a missing or mistyped
 * field, empty labels).
 */
export const INTAKE_REFUSALS = [
  'label_count',
  'label_name',
  'label_name_size',
  'label_value_size',
  'annotations_size',
  'unstorable_text',
  'nested_too_deep',
  'timestamp',
  'starts_in_future',
  'ends_in_future',
  'ends_before_starts',
  'invalid_alert',
] as const;
export type IntakeRefusal = (typeof INTAKE_REFUSALS)[number];

/** The length of `text` in UTF-8 bytes, without encoding it. */
export function utf8Bytes(text: string): number {
  let bytes = text.length;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && (text.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 2 UTF-16 units, 4 bytes.
      bytes += 2;
      index += 1;
    } else bytes += 2;
  }
  return bytes;
}

/** A label name shown in a message: JSON-quoted, cut at 64 characters (a refused name may be huge). */
const shown = (name: string) => JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);

/** The labels of one alert: not empty, at most 128, names of Prometheus's grammar up to 256 bytes, values up to 16 KiB. */
export const AlertLabels = LabelSet.check((payload) => {
  const labels = payload.value;
  const names = Object.keys(labels);
  if (names.length === 0) return report(payload, 'invalid_alert', 'labels must not be empty');
  if (names.length > INTAKE_BOUNDS.maxLabels) {
    return report(payload, 'label_count', `at most ${INTAKE_BOUNDS.maxLabels} labels per alert (got ${names.length})`);
  }
  for (const name of names) {
    if (name.length > INTAKE_BOUNDS.maxLabelNameBytes) {
      report(payload, 'label_name_size', `label name ${shown(name)} is longer than ${INTAKE_BOUNDS.maxLabelNameBytes} bytes`, [name]);
    } else if (!LABEL_NAME.test(name)) {
      report(payload, 'label_name', `label name ${shown(name)} is not of the grammar [a-zA-Z_][a-zA-Z0-9_]*`, [name]);
    }
    const bytes = utf8Bytes(labels[name] ?? '');
    if (bytes > INTAKE_BOUNDS.maxLabelValueBytes) {
      report(payload, 'label_value_size', `label value of ${shown(name)} is ${bytes} bytes, over ${INTAKE_BOUNDS.maxLabelValueBytes}`, [name]);
    }
  }
});

/** The annotations of one alert: at most 64 KiB of names and values together. */
export const AlertAnnotations = LabelSet.check((payload) => {
  let bytes = 0;
  for (const name in payload.value) bytes += utf8Bytes(name) + utf8Bytes(payload.value[name] ?? '');
  if (bytes > INTAKE_BOUNDS.maxAnnotationsBytes)
    report(payload, 'annotations_size', `annotations are ${bytes} bytes, over ${INTAKE_BOUNDS.maxAnnotationsBytes} per alert`);
});

/** endsAt before startsAt is refused (Alertmanager's "end time must not be before start time"); the zero time means "not ended". */
function endsNotBeforeStarts(payload: z.core.ParsePayload<{ startsAt?: string | undefined; endsAt?: string | undefined }>): void {
  const alert = payload.value;
  if (alert.startsAt === undefined || alert.endsAt === undefined || isZeroTime(alert.endsAt)) return;
  if (Date.parse(alert.endsAt) < Date.parse(alert.startsAt)) {
    report(payload, 'ends_before_starts', `endsAt ${alert.endsAt} is before startsAt ${alert.startsAt}`, ['endsAt']);
  }
}

const webhookAlertShape = {
  status: z.enum(['firing', 'resolved']),
  labels: AlertLabels,
  annotations: AlertAnnotations.default({}),
  startsAt: Rfc3339,
  endsAt: Rfc3339.optional(),
  generatorURL: z.string().optional(),
  /**
   * Alertmanager's own fingerprint of the labels. Kept for reference only (as the alert's
   * `senderFingerprint`): SentryHub computes the fingerprint that keys the group from the labels.
   */
  fingerprint: z
    .string()
    .regex(/^[0-9a-f]{16}$/, 'fingerprint must be 16 lower-case hex digits')
    .optional(),
};

/** One alert of an Alertmanager webhook (version 4), within the intake bounds. Unknown fields are kept. */
export const WebhookAlert = z.looseObject(webhookAlertShape).check(endsNotBeforeStarts, storableAlert);
export type WebhookAlert = z.infer<typeof WebhookAlert>;

const webhookEnvelopeShape = {
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative().default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: LabelSet.default({}),
  commonLabels: LabelSet.default({}),
  commonAnnotations: LabelSet.default({}),
  externalURL: z.string().default(''),
};
const alertList = <T extends z.ZodType>(alert: T) =>
  z.array(alert).min(1, 'alerts must not be empty').max(MAX_ALERTS_PER_REQUEST, `at most ${MAX_ALERTS_PER_REQUEST} alerts per request`);

/** An array of 1 to MAX_ALERTS_PER_REQUEST items of any shape, each judged on its own afterwards; built once (a zod schema costs far more to build than to run). */
const AnyAlertList = alertList(z.unknown());

/** The Alertmanager webhook payload, version 4 (webhook_configs), every alert valid. Unknown fields are kept. */
export const AlertmanagerWebhook = z.looseObject({ ...webhookEnvelopeShape, alerts: alertList(WebhookAlert) }).check(storable);
export type AlertmanagerWebhook = z.infer<typeof AlertmanagerWebhook>;

/**
 * A webhook payload as a whole, its alerts not yet judged: what must hold for the request or
 * message to be read at all (its fields, an alerts array of 1 to MAX_ALERTS_PER_REQUEST).
 */
export const WebhookEnvelope = z
  .looseObject({ ...webhookEnvelopeShape, alerts: alertList(z.unknown()) })
  .check((payload) => storable({ ...payload, value: { ...payload.value, alerts: [] } }));

/** An Alertmanager API v2 "postable alert", as Prometheus sends it to POST /api/v2/alerts, within the intake bounds. */
export const PostableAlert = z
  .looseObject({
    labels: AlertLabels,
    annotations: AlertAnnotations.default({}),
    startsAt: Rfc3339.optional(),
    endsAt: Rfc3339.optional(),
    generatorURL: z.string().optional(),
  })
  .check(endsNotBeforeStarts, storablePostable);
export type PostableAlert = z.infer<typeof PostableAlert>;

export const PostableAlerts = alertList(PostableAlert);
export type PostableAlerts = z.infer<typeof PostableAlerts>;

/** POST /api/v1/alerts: one postable alert or an array of them. */
export const PostableAlertOrAlerts = z.union([PostableAlert, PostableAlerts]);

/**
 * What the external intake queue accepts: a webhook payload, one postable alert,
 * or an array of them. A body with `version` is judged as a webhook, so that its errors are
 * the webhook's errors and not a confusing union of every shape.
 */
export function externalIntakeSchema(body: unknown) {
  return looksLikeWebhook(body) ? AlertmanagerWebhook : PostableAlertOrAlerts;
}

function looksLikeWebhook(body: unknown): boolean {
  return body !== null && typeof body === 'object' && !Array.isArray(body) && 'version' in body;
}

// ---------------------------------------------------------------------------------------------
// Judging an intake body alert by alert.
// ---------------------------------------------------------------------------------------------

/** The shapes an intake door takes: the webhook route, an array (API v2), one alert or an array (API v1), or any of them (the external queue). */
export type IntakeShape = 'webhook' | 'alerts' | 'alert-or-alerts' | 'any';

/** An alert refused at intake: its index in the request or message, the bound it broke, and why. */
export interface RejectedAlert {
  index: number;
  refusal: IntakeRefusal;
  reason: string;
  /** The zod issues of this alert, paths from the body's root (`alerts.3.labels`, `3.startsAt`). */
  issues: { path: (string | number)[]; message: string }[];
}

export type IntakeAlerts =
  { kind: 'webhook'; payload: Omit<AlertmanagerWebhook, 'alerts'>; alerts: WebhookAlert[] } | { kind: 'postable'; alerts: PostableAlert[] };

export interface IntakeLimits {
  /** When the request or message was received. */
  receivedAt: Date;
  /** How far after receivedAt startsAt or endsAt may be (INTAKE_MAX_FUTURE). */
  maxFutureMs: number;
}

export type IntakeParse = { success: true; data: IntakeAlerts; rejected: RejectedAlert[] } | { success: false; error: z.ZodError; rejected: RejectedAlert[] };

/** The bound an issue reports: its own when it names one, `timestamp` for a malformed time, else `invalid_alert`. */
function refusalOf(issue: z.core.$ZodIssue): IntakeRefusal {
  const named = issue.code === 'custom' ? (issue.params as { refusal?: IntakeRefusal } | undefined)?.refusal : undefined;
  if (named) return named;
  const field = issue.path[issue.path.length - 1];
  return field === 'startsAt' || field === 'endsAt' ? 'timestamp' : 'invalid_alert';
}

/** startsAt and endsAt at most `maxFutureMs` after the receipt; the zero time (not ended) is not a time. */
export function futureProblem(
  alert: { startsAt?: string | undefined; endsAt?: string | undefined },
  limits: IntakeLimits,
): { refusal: IntakeRefusal; path: string; message: string } | null {
  const latest = limits.receivedAt.getTime() + limits.maxFutureMs;
  const horizon = formatDuration(limits.maxFutureMs);
  if (alert.startsAt !== undefined && Date.parse(alert.startsAt) > latest) {
    return {
      refusal: 'starts_in_future',
      path: 'startsAt',
      message: `startsAt ${alert.startsAt} is more than ${horizon} after the receipt time (INTAKE_MAX_FUTURE)`,
    };
  }
  if (alert.endsAt !== undefined && !isZeroTime(alert.endsAt) && Date.parse(alert.endsAt) > latest) {
    return { refusal: 'ends_in_future', path: 'endsAt', message: `endsAt ${alert.endsAt} is more than ${horizon} after the receipt time (INTAKE_MAX_FUTURE)` };
  }
  return null;
}

/** At most this many issues of one alert are spelt out in its reason. */
const REASON_ISSUES = 3;

function judgeAlert<T extends z.ZodType>(
  schema: T,
  alert: unknown,
  index: number,
  prefix: (string | number)[] | null,
  limits: IntakeLimits,
): { ok: true; alert: z.infer<T> } | { ok: false; rejected: RejectedAlert } {
  const result = schema.safeParse(alert);
  let issues: { path: (string | number)[]; message: string; refusal: IntakeRefusal }[];
  if (result.success) {
    const problem = futureProblem(result.data as { startsAt?: string; endsAt?: string }, limits);
    if (!problem) return { ok: true, alert: result.data };
    issues = [{ path: [problem.path], message: problem.message, refusal: problem.refusal }];
  } else {
    issues = result.error.issues.map((issue) => ({
      path: issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
      message: issue.message,
      refusal: refusalOf(issue),
    }));
  }
  const [first] = issues;
  const reason = issues
    .slice(0, REASON_ISSUES)
    .map((issue) => (issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
    .join('; ')
    .concat(issues.length > REASON_ISSUES ? ` (and ${issues.length - REASON_ISSUES} more)` : '');
  return {
    ok: false,
    rejected: {
      index,
      refusal: first?.refusal ?? 'invalid_alert',
      reason,
      issues: issues.map((issue) => ({ path: prefix === null ? issue.path : [...prefix, index, ...issue.path], message: issue.message })),
    },
  };
}

/**
 * Judges an intake body: first as a whole (not the accepted shape, no alerts array, too many
 * alerts: a failure with no alert kept), then alert by alert against the intake bounds and
 * `limits`. The alerts that pass are returned with the refused ones; when none passes, the
 * result is a failure whose issues are those of every refused alert.
 */
export function parseIntakeAlerts(shape: IntakeShape, body: unknown, limits: IntakeLimits): IntakeParse {
  const asWebhook = shape === 'webhook' || (shape === 'any' && looksLikeWebhook(body));
  let items: unknown[];
  let prefix: (string | number)[] = [];
  let payload: Omit<AlertmanagerWebhook, 'alerts'> | null = null;
  if (asWebhook) {
    const envelope = WebhookEnvelope.safeParse(body);
    if (!envelope.success) return { success: false, error: envelope.error, rejected: [] };
    const { alerts, ...rest } = envelope.data;
    items = alerts;
    prefix = ['alerts'];
    payload = rest as Omit<AlertmanagerWebhook, 'alerts'>;
  } else if (Array.isArray(body)) {
    const list = AnyAlertList.safeParse(body);
    if (!list.success) return { success: false, error: list.error, rejected: [] };
    items = list.data;
  } else if (shape !== 'alerts' && body !== null && typeof body === 'object') {
    // One postable alert: it is index 0 of the answer.
    items = [body];
  } else {
    const expected =
      shape === 'alerts'
        ? 'an array of postable alerts'
        : shape === 'any'
          ? 'an Alertmanager webhook payload (version "4"), one postable alert {labels, ...} or an array of them'
          : 'one postable alert {labels, ...} or an array of them';
    const got = body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body;
    return { success: false, error: new z.ZodError([{ code: 'custom', path: [], message: `expected ${expected}, got ${got}`, input: body }]), rejected: [] };
  }

  const single = !asWebhook && !Array.isArray(body);
  const schema = asWebhook ? WebhookAlert : PostableAlert;
  const kept: unknown[] = [];
  const rejected: RejectedAlert[] = [];
  items.forEach((item, index) => {
    // One postable alert as the whole body: its issue paths start at the body's root.
    const judged = judgeAlert(schema, item, index, single ? null : prefix, limits);
    if (judged.ok) kept.push(judged.alert);
    else rejected.push(judged.rejected);
  });
  if (kept.length === 0) {
    const issues = rejected
      .flatMap((refusal) => refusal.issues)
      .map((issue) => ({ code: 'custom' as const, path: issue.path, message: issue.message, input: undefined }));
    return { success: false, error: new z.ZodError(issues), rejected };
  }
  const data: IntakeAlerts = payload ? { kind: 'webhook', payload, alerts: kept as WebhookAlert[] } : { kind: 'postable', alerts: kept as PostableAlert[] };
  return { success: true, data, rejected };
}

// ---------------------------------------------------------------------------------------------
// Durations in Prometheus's and Alertmanager's syntax (INTAKE_MAX_FUTURE).
// ---------------------------------------------------------------------------------------------

const DURATION = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$/;
const UNIT_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1] as const;
const UNIT_NAMES = ['y', 'w', 'd', 'h', 'm', 's', 'ms'] as const;

/** `1h30m`, `10m`, `30s`, `500ms`, `0` (Prometheus's model.ParseDuration) in milliseconds, or null when it is not one. */
export function parseDuration(text: string): number | null {
  if (text === '0') return 0;
  const match = DURATION.exec(text);
  if (!match || text === '') return null;
  let total = 0;
  UNIT_MS.forEach((unit, index) => {
    const count = match[index + 1];
    if (count !== undefined) total += Number(count) * unit;
  });
  return Number.isSafeInteger(total) ? total : null;
}

/** Milliseconds in the same syntax, largest units first (`600000` -> `10m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  UNIT_MS.forEach((unit, index) => {
    const count = Math.floor(rest / unit);
    if (count > 0) {
      text += `${count}${UNIT_NAMES[index]}`;
      rest -= count * unit;
    }
  });
  return text;
}

/** An environment variable holding a duration such as `10m`, parsed to milliseconds. */
export const DurationEnv = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text.trim());
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration such as 30s, 10m, 1h or 1h30m` });
        return z.NEVER;
      }
      return ms;
    });
