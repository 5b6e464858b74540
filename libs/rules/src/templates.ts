import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { Liquid, type Template } from 'liquidjs';

/** Slack refuses text over 40,000 characters; we stay under it with room to spare. */
export const MAX_MESSAGE_LENGTH = 39_000;

const liquid = new Liquid({ strictFilters: true, strictVariables: false, ownPropertyOnly: true });
const parsedCache = new Map<string, Template[]>();

function parse(source: string): Template[] {
  let parsed = parsedCache.get(source);
  if (!parsed) {
    parsed = liquid.parse(source);
    if (parsedCache.size > 500) parsedCache.clear();
    parsedCache.set(source, parsed);
  }
  return parsed;
}

/** The error a template has, or null: used when a rule is saved. */
export function templateError(source: string): string | null {
  try {
    parse(source);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export type TemplateContext = Record<string, unknown>;

/**
 * The context of SPEC section 6, with the snake_case names the seeds' Django templates used:
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

/** Renders a template; throws with Liquid's message when it cannot. */
export function renderTemplate(source: string, context: TemplateContext): string {
  return truncateMessage(liquid.renderSync(parse(source), context) as string);
}

export type RenderOutcome = { text: string; failed: false } | { text: string; failed: true; error: string };

/**
 * Renders, and when rendering fails returns a safe default message that says so: a
 * notification is never lost to a template bug.
 */
export function renderOrFallback(source: string, context: TemplateContext, ruleName: string): RenderOutcome {
  try {
    return { text: renderTemplate(source, context), failed: false };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const group = context['alert_group'] as { name?: string; severity?: string } | undefined;
    const text = truncateMessage(
      `[SentryHub] The template of rule "${ruleName}" failed to render (${message}). ` +
        `Alert ${group?.name ?? 'unknown'} is ${String(context['status'])} (severity ${group?.severity ?? 'unknown'}): ` +
        `${String(context['summary'])}`,
    );
    return { text, failed: true, error: message };
  }
}
