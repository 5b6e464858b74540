import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { Liquid, Tag, type FS, type LiquidOptions, type TagToken, type Template, type TopLevelToken } from 'liquidjs';

/** Slack refuses text over 40,000 characters; we stay under it with room to spare. */
export const MAX_MESSAGE_LENGTH = 39_000;

/**
 * DoS bounds of every template (liquidjs 10): a template longer than this many characters
 * is refused when parsed (so when saved), ...
 */
export const TEMPLATE_PARSE_LIMIT = 100_000;
/** ... one render may take at most this many milliseconds ... */
export const TEMPLATE_RENDER_LIMIT_MS = 250;
/** ... and allocate at most this much (liquidjs counts string/array growth: append, join, ranges). */
export const TEMPLATE_MEMORY_LIMIT = 10_000_000;

const SLACK_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;' };

/**
 * Text escaped the way Slack requires (`&`, `<`, `>` only): an interpolated value can then
 * neither mention `<!channel>`/`<!here>`/`<@U123>` nor forge a `<http://evil|link>`.
 */
export function escapeSlack(text: string): string {
  return text.replace(/[&<>]/g, (c) => SLACK_ESCAPES[c] ?? c);
}

/**
 * How interpolated values are written: `none` for plain text (email; its HTML body is escaped
 * by the email notifier), `slack` for Slack text, where every `{{ output }}` is escaped and
 * the template's own text (Slack markup on purpose) is kept; `{{ value | raw }}` opts out.
 */
export type TemplateEscape = 'none' | 'slack' | 'json';

/** `{{ output }}` in a JSON body (webhooks): the value's text as the inside of a JSON string. */
export function escapeJsonString(value: unknown): string {
  return JSON.stringify(String(value ?? '')).slice(1, -1);
}

/**
 * Tags that load another template (a file, with liquidjs's default file system rooted at the
 * working directory): a template must never reach a file or the network, so these are refused
 * when a template is parsed, which is when a rule is saved or previewed, and again before any
 * render. liquidjs 10 has no filter that loads anything.
 */
export const REFUSED_TAGS = ['include', 'render', 'layout'] as const;

/** Why a refused tag may not be used: the text of the error when a template has one. */
export function refusedTagMessage(name: string): string {
  return `the "${name}" tag is not allowed: templates cannot load files or other templates`;
}

/** A tag that refuses to exist: constructing it (parsing the template) throws. */
function refusedTag(name: string) {
  return class RefusedTag extends Tag {
    constructor(token: TagToken, remainTokens: TopLevelToken[], liquid: Liquid) {
      super(token, remainTokens, liquid);
      throw new Error(refusedTagMessage(name));
    }
    render(): never {
      throw new Error(refusedTagMessage(name));
    }
  };
}

/**
 * The file system of every engine: it has no files. Behind the refused tags, so that even a
 * tag registered later (or a liquidjs change) cannot read one: nothing exists, nothing is read,
 * nothing is contained in any root.
 */
export const NO_FILE_SYSTEM: FS = {
  exists: async () => false,
  existsSync: () => false,
  readFile: async (file: string) => {
    throw new Error(`templates cannot read files (${file})`);
  },
  readFileSync: (file: string) => {
    throw new Error(`templates cannot read files (${file})`);
  },
  resolve: (_dir: string, file: string) => file,
  contains: async () => false,
  containsSync: () => false,
  sep: '/',
  dirname: () => '',
  fallback: () => undefined,
};

/** The options of every engine: the DoS bounds above, and no file system or template roots. */
export const TEMPLATE_ENGINE_OPTIONS: LiquidOptions = {
  strictFilters: true,
  strictVariables: false,
  ownPropertyOnly: true,
  parseLimit: TEMPLATE_PARSE_LIMIT,
  renderLimit: TEMPLATE_RENDER_LIMIT_MS,
  memoryLimit: TEMPLATE_MEMORY_LIMIT,
  fs: NO_FILE_SYSTEM,
  root: [],
  partials: [],
  layouts: [],
  relativeReference: false,
  extname: '',
};

/** A Liquid engine that cannot load anything: no file system, and the loading tags refused. */
function sandboxedEngine(options: LiquidOptions): Liquid {
  const engine = new Liquid({ ...TEMPLATE_ENGINE_OPTIONS, ...options });
  for (const name of REFUSED_TAGS) engine.registerTag(name, refusedTag(name));
  return engine;
}

/**
 * The JSON engine of webhook bodies: a bare `{{ value }}` is escaped as the inside of a JSON
 * string (so `"summary": "{{ summary }}"` stays valid whatever the alert says), and
 * `{{ value | json }}` writes the whole value as JSON (quoted string, object, array), unescaped.
 */
function jsonEngine(): Liquid {
  const engine = sandboxedEngine({ outputEscape: escapeJsonString });
  engine.registerFilter('json', { handler: (value: unknown) => JSON.stringify(value ?? null), raw: true });
  return engine;
}

const engines: Record<TemplateEscape, Liquid> = {
  none: sandboxedEngine({}),
  slack: sandboxedEngine({ outputEscape: (value: unknown) => escapeSlack(String(value ?? '')) }),
  json: jsonEngine(),
};
const parsedCaches: Record<TemplateEscape, Map<string, Template[]>> = { none: new Map(), slack: new Map(), json: new Map() };

function parse(source: string, escape: TemplateEscape = 'none'): Template[] {
  const cache = parsedCaches[escape];
  let parsed = cache.get(source);
  if (!parsed) {
    parsed = engines[escape].parse(source);
    if (cache.size > 500) cache.clear();
    cache.set(source, parsed);
  }
  return parsed;
}

/** The error a template has (a refused tag named), or null: used when a rule is saved or previewed. */
export function templateError(source: string): string | null {
  try {
    parse(source);
    parse(source, 'slack');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export type TemplateContext = Record<string, unknown>;

/**
 * The template context, with the snake_case names the seeds' Django templates used:
 * `alert_group`, `latest_instance`, `labels`, `annotations`, `summary`, `description`, `status`.
 */
export function templateContext(group: GroupSnapshot, instance: InstanceSnapshot): TemplateContext {
  return {
    alert_group: {
      id: group.id,
      fingerprint: group.fingerprint,
      name: group.name,
      labels: group.labels,
      severity: group.severity,
      instance: group.instance,
      source: group.source,
      status: group.status,
      current_status: group.status,
      firing_count: group.firingCount,
      silenced: group.silenced,
      silenced_until: group.silencedUntil,
      acknowledged: group.acknowledged,
    },
    latest_instance: {
      id: instance.id,
      status: instance.status,
      starts_at: instance.startsAt,
      ends_at: instance.endsAt,
      annotations: instance.annotations,
      generator_url: instance.generatorURL,
      resolution_type: instance.resolutionType,
    },
    labels: group.labels,
    annotations: instance.annotations,
    summary: instance.annotations['summary'] ?? group.name,
    description: instance.annotations['description'] ?? 'No description provided.',
    status: instance.status,
  };
}

export function truncateMessage(text: string): string {
  return text.length <= MAX_MESSAGE_LENGTH ? text : `${text.slice(0, MAX_MESSAGE_LENGTH - 14)}\n…(truncated)`;
}

/** Renders a template within the bounds above; throws with Liquid's message when it cannot. */
export function renderTemplate(source: string, context: TemplateContext, escape: TemplateEscape = 'none'): string {
  const engine = engines[escape];
  return truncateMessage(String(engine.renderSync(parse(source, escape), context)));
}

/**
 * A webhook body: rendered with the JSON engine, within the same bounds, never truncated (a
 * cut JSON document is no JSON). Throws with Liquid's message when it cannot render.
 */
export function renderJsonTemplate(source: string, context: TemplateContext): string {
  return String(engines.json.renderSync(parse(source, 'json'), context));
}

export type RenderOutcome = { text: string; failed: false } | { text: string; failed: true; error: string };

/**
 * Renders, and when rendering fails returns a safe default message that says so: a
 * notification is never lost to a template bug.
 */
export function renderOrFallback(source: string, context: TemplateContext, ruleName: string, escape: TemplateEscape = 'none'): RenderOutcome {
  try {
    return { text: renderTemplate(source, context, escape), failed: false };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const group = context['alert_group'] as { name?: string; severity?: string } | undefined;
    // Every value here comes from the alert or the rule: escaped for Slack like template output.
    const value = (text: string) => (escape === 'slack' ? escapeSlack(text) : text);
    const text = truncateMessage(
      `[SentryHub] The template of rule "${value(ruleName)}" failed to render (${value(message)}). ` +
        `Alert ${value(group?.name ?? 'unknown')} is ${value(String(context['status']))} (severity ${value(group?.severity ?? 'unknown')}): ` +
        `${value(String(context['summary']))}`,
    );
    return { text, failed: true, error: message };
  }
}

/**
 * The variables only a group's message has (a rule with `groupBy`). A template that uses one of
 * them is a **group template**: it is rendered once per message with the group context
 * (`groupTemplateContext`). A template that uses none of them is a per-alert template: each
 * alert gets its own text and the message is the Alertmanager-like title, then those texts.
 */
export const GROUP_TEMPLATE_VARIABLES = ['alerts', 'group_labels', 'common_labels', 'common_annotations', 'firing_count', 'resolved_count'] as const;
const groupVariableNames: ReadonlySet<string> = new Set(GROUP_TEMPLATE_VARIABLES);
const groupTemplateCache = new Map<string, boolean>();

/** Whether a template reads one of the group variables (liquidjs static analysis; a template that cannot be parsed does not). */
export function usesGroupVariables(source: string): boolean {
  let uses = groupTemplateCache.get(source);
  if (uses === undefined) {
    try {
      uses = engines.none.globalVariablesSync(parse(source)).some((name) => groupVariableNames.has(name));
    } catch {
      uses = false;
    }
    if (groupTemplateCache.size > 500) groupTemplateCache.clear();
    groupTemplateCache.set(source, uses);
  }
  return uses;
}

/** One alert of a group, as group templates see it (Alertmanager's `.Alerts` fields). */
export interface GroupTemplateAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string | null;
}

/** The group as its templates see it, before `groupTemplateContext` adds the rest. */
export interface GroupTemplateGroup {
  alerts: readonly GroupTemplateAlert[];
  group_labels: Record<string, string>;
  common_labels: Record<string, string>;
  common_annotations: Record<string, string>;
  firing_count: number;
  resolved_count: number;
}

/**
 * The context of a group template: the group variables, `title` (the Alertmanager-like
 * `[FIRING:3] HighCPU (team=ops)`), `status` (`firing` while any alert of the message fires,
 * Alertmanager's `.Status`), and `labels`, `annotations`, `summary`, `description` from what
 * every alert has in common. The per-alert names (`alert_group`, `latest_instance`) are not set.
 */
export function groupTemplateContext(group: GroupTemplateGroup, title: string): TemplateContext {
  return {
    ...group,
    alerts: group.alerts.map((alert) => ({ ...alert })),
    title,
    status: group.firing_count > 0 ? 'firing' : 'resolved',
    labels: group.common_labels,
    annotations: group.common_annotations,
    summary: group.common_annotations['summary'] ?? group.common_labels['alertname'] ?? title,
    description: group.common_annotations['description'] ?? 'No description provided.',
  };
}
