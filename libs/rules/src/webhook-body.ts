import { createHash } from 'node:crypto';
import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { groupContext, groupTitle } from './notification-policy';
import { escapeJsonString, renderJsonTemplate, templateContext, templateError, type TemplateContext } from './templates';

/**
 * Outgoing webhook bodies: a Liquid template (a rule's own, or a preset shipped here) rendered
 * with the JSON engine of templates.ts into a JSON document. A rule's template must render
 * valid JSON, which is checked when it is saved (`webhookTemplateProblems`).
 *
 * Receiver parameters (`receiver.params.<name>`, e.g. PagerDuty's routing key) come from the
 * notifier's environment. They are secrets, so a body is rendered and stored with a placeholder
 * for each, and the values are put in only when the request is sent (`withReceiverParams`): the
 * `notifications` row and the console never show them.
 */

/** Alertmanager's "no end" time, which its webhook body uses for firing alerts. */
export const ALERTMANAGER_ZERO_TIME = '0001-01-01T00:00:00Z';

/** A receiver as a template sees it: its name and its parameters' names. */
export interface WebhookTemplateReceiver {
  name: string;
  params: readonly string[];
}

export const receiverParamPlaceholder = (name: string) => `\${SENTRYHUB_PARAM:${name}}`;

/** The key that ties a firing to its resolve at the receiver (PagerDuty dedup_key, Opsgenie alias): one per episode. */
export const episodeDedupKey = (groupId: number, instanceId: number) => `sentryhub-${groupId}-${instanceId}`;

export interface WebhookContextOptions {
  /** Where the receiver can look at the alert (SentryHub's console), Alertmanager's `externalURL`. */
  externalUrl: string;
}

/**
 * The context of a webhook body: everything Slack and email templates get (templateContext),
 * and the names Alertmanager's webhook and grouped messages use: `alerts` (each with status,
 * labels, annotations, startsAt, endsAt, generatorURL, fingerprint), `group_labels`,
 * `common_labels`, `common_annotations`, `firing_count`, `resolved_count`, `group_key`,
 * `external_url`; `receiver` (name, params) and `dedup_key` (one per episode).
 */
export function webhookContext(
  group: GroupSnapshot,
  instance: InstanceSnapshot,
  receiver: WebhookTemplateReceiver,
  options: WebhookContextOptions,
): TemplateContext {
  const status = instance.status;
  const alert = {
    status,
    labels: group.labels,
    annotations: instance.annotations,
    startsAt: instance.startsAt,
    endsAt: status === 'resolved' ? (instance.endsAt ?? instance.startsAt) : ALERTMANAGER_ZERO_TIME,
    generatorURL: instance.generatorURL ?? '',
    fingerprint: group.fingerprint,
  };
  return {
    ...templateContext(group, instance),
    receiver: { name: receiver.name, params: Object.fromEntries(receiver.params.map((name) => [name, receiverParamPlaceholder(name)])) },
    dedup_key: episodeDedupKey(group.id, instance.id),
    alerts: [alert],
    group_labels: group.labels,
    common_labels: group.labels,
    common_annotations: instance.annotations,
    firing_count: status === 'firing' ? 1 : 0,
    resolved_count: status === 'resolved' ? 1 : 0,
    group_key: `{}:${group.fingerprint}`,
    external_url: options.externalUrl,
    severity: group.severity,
  };
}

/** One alert of a grouped webhook message: its group and episode (status: what its row tells). */
export interface WebhookGroupEntry {
  group: GroupSnapshot;
  instance: InstanceSnapshot;
}

/**
 * The key that ties a group's messages together at the receiver (PagerDuty dedup_key, Opsgenie
 * alias), as Alertmanager's hash of the group key: one per rule and group, so the message in which
 * every alert resolved closes the incident the first one opened.
 */
export const groupDedupKey = (ruleId: number, groupKey: string) =>
  `sentryhub-group-${ruleId}-${createHash('sha256').update(groupKey).digest('hex').slice(0, 32)}`;

/**
 * The context of a grouped rule's body: one body per group message (Alertmanager's webhook: the
 * whole group's `alerts`). The group variables are the group's (`alerts` firing first, each in
 * Alertmanager's shape; `group_labels`, `common_labels`, `common_annotations`, `firing_count`,
 * `resolved_count`, `group_key`), `status` is `firing` while any alert of the message fires
 * (`resolved` once none does), `labels`, `annotations` are the common ones, `summary` the common
 * summary or the title (`[FIRING:3] HighCPU (team=ops)`), `dedup_key` the group's; the per-alert
 * names (`alert_group`, `latest_instance`, `severity`) describe the message's first alert.
 */
export function webhookGroupContext(
  ruleId: number,
  groupKey: string,
  entries: readonly WebhookGroupEntry[],
  receiver: WebhookTemplateReceiver,
  options: WebhookContextOptions,
): TemplateContext {
  const ordered = [...entries.filter((entry) => entry.instance.status === 'firing'), ...entries.filter((entry) => entry.instance.status === 'resolved')];
  const [first] = ordered;
  if (!first) throw new Error('a group message needs at least one alert');
  const alerts = ordered.map((entry) => (webhookContext(entry.group, entry.instance, receiver, options)['alerts'] as unknown[])[0]);
  const group = groupContext(
    groupKey,
    ordered.map((entry) => ({
      status: entry.instance.status,
      labels: entry.group.labels,
      annotations: entry.instance.annotations,
      startsAt: entry.instance.startsAt,
      endsAt: entry.instance.endsAt,
      text: '',
    })),
  );
  const title = groupTitle(group);
  const groupLabels = Object.entries(group.group_labels)
    .map(([name, value]) => `${name}=${JSON.stringify(value)}`)
    .join(', ');
  return {
    ...webhookContext(first.group, first.instance, receiver, options),
    alerts,
    group_labels: group.group_labels,
    common_labels: group.common_labels,
    common_annotations: group.common_annotations,
    firing_count: group.firing_count,
    resolved_count: group.resolved_count,
    group_key: `{}:{${groupLabels}}`,
    status: group.firing_count > 0 ? 'firing' : 'resolved',
    labels: group.common_labels,
    annotations: group.common_annotations,
    summary: group.common_annotations['summary'] ?? title,
    description: group.common_annotations['description'] ?? 'No description provided.',
    title,
    dedup_key: groupDedupKey(ruleId, groupKey),
  };
}

/** The body with the receiver's parameter values in place of their placeholders (at send time only). */
export function withReceiverParams(body: string, params: Readonly<Record<string, string>>): string {
  let result = body;
  for (const [name, value] of Object.entries(params)) result = result.replaceAll(receiverParamPlaceholder(name), escapeJsonString(value));
  return result;
}

export type WebhookRender = { ok: true; body: string } | { ok: false; error: string };

/** Renders a body and checks that it is JSON; the error says which of the two failed. */
export function renderWebhookBody(source: string, context: TemplateContext): WebhookRender {
  let body: string;
  try {
    body = renderJsonTemplate(source, context);
  } catch (error) {
    return { ok: false, error: `the template failed to render: ${error instanceof Error ? error.message : String(error)}` };
  }
  try {
    JSON.parse(body);
  } catch (error) {
    return { ok: false, error: `the template does not render valid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  return { ok: true, body };
}

// ---- presets ---------------------------------------------------------------------------------

export interface WebhookPreset {
  id: string;
  title: string;
  /** The receiver documentation the body follows. */
  docs: string;
  /** Receiver parameters the template uses (`receiver.params.<name>`): a receiver without them cannot be used. */
  requiredParams: readonly string[];
  /** What the receiver entry needs besides the URL (for the docs and the console). */
  receiverHint: string;
  template: string;
}

const PAGERDUTY = `{
  "routing_key": {{ receiver.params.routingKey | json }},
  "event_action": {% if status == "resolved" %}"resolve"{% else %}"trigger"{% endif %},
  "dedup_key": {{ dedup_key | json }},
  "client": "SentryHub",
  "client_url": {{ external_url | json }},
  "payload": {
    "summary": {{ alert_group.name | append: ": " | append: summary | truncate: 1024 | json }},
    "source": {{ alert_group.instance | default: alert_group.source | json }},
    "severity": {{ severity | json }},
    "timestamp": {{ latest_instance.starts_at | json }},
    "component": {{ labels.job | default: "" | json }},
    "group": {{ labels.team | default: "" | json }},
    "class": {{ alert_group.name | json }},
    "custom_details": { "labels": {{ labels | json }}, "annotations": {{ annotations | json }}, "status": {{ status | json }} }
  }
}`;

const TEAMS = `{
  "type": "message",
  "attachments": [
    {
      "contentType": "application/vnd.microsoft.card.adaptive",
      "contentUrl": null,
      "content": {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": { "width": "Full" },
        "body": [
          {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": true,
            "color": {% if status == "resolved" %}"Good"{% elsif severity == "critical" %}"Attention"{% else %}"Warning"{% endif %},
            "text": "[{{ status | upcase }}] {{ alert_group.name }} ({{ severity }})"
          },
          { "type": "TextBlock", "wrap": true, "text": "{{ summary }}" },
          { "type": "TextBlock", "wrap": true, "isSubtle": true, "text": "{{ description }}" },
          {
            "type": "FactSet",
            "facts": [{% for pair in labels %}{ "title": {{ pair[0] | json }}, "value": {{ pair[1] | json }} }{% unless forloop.last %}, {% endunless %}{% endfor %}]
          }
        ]
      }
    }
  ]
}`;

const OPSGENIE = `{% if status == "resolved" %}{
  "source": "SentryHub",
  "user": "SentryHub",
  "note": {{ "Resolved in SentryHub: " | append: summary | truncate: 25000 | json }}
}{% else %}{
  "message": {{ alert_group.name | append: ": " | append: summary | truncate: 130 | json }},
  "alias": {{ dedup_key | json }},
  "description": {{ description | truncate: 15000 | json }},
  "priority": {% if severity == "critical" %}"P1"{% elsif severity == "warning" %}"P3"{% else %}"P5"{% endif %},
  "source": "SentryHub",
  "entity": {{ alert_group.instance | default: alert_group.name | truncate: 512 | json }},
  "tags": [{% for pair in labels limit: 20 %}{{ pair[0] | append: ":" | append: pair[1] | truncate: 50 | json }}{% unless forloop.last %}, {% endunless %}{% endfor %}],
  "details": {{ labels | json }}
}{% endif %}`;

const ALERTMANAGER_V4 = `{
  "version": "4",
  "groupKey": {{ group_key | json }},
  "truncatedAlerts": 0,
  "status": {{ status | json }},
  "receiver": {{ receiver.name | json }},
  "groupLabels": {{ group_labels | json }},
  "commonLabels": {{ common_labels | json }},
  "commonAnnotations": {{ common_annotations | json }},
  "externalURL": {{ external_url | json }},
  "alerts": [{% for alert in alerts %}
    {
      "status": {{ alert.status | json }},
      "labels": {{ alert.labels | json }},
      "annotations": {{ alert.annotations | json }},
      "startsAt": {{ alert.startsAt | json }},
      "endsAt": {{ alert.endsAt | json }},
      "generatorURL": {{ alert.generatorURL | json }},
      "fingerprint": {{ alert.fingerprint | json }}
    }{% unless forloop.last %},{% endunless %}{% endfor %}
  ]
}`;

export const WEBHOOK_PRESETS = {
  pagerduty: {
    id: 'pagerduty',
    title: 'PagerDuty Events API v2',
    docs: 'https://developer.pagerduty.com/docs/events-api-v2/trigger-events/',
    requiredParams: ['routingKey'],
    receiverHint: 'url https://events.pagerduty.com/v2/enqueue; params.routingKey from the environment (the integration key)',
    template: PAGERDUTY,
  },
  teams: {
    id: 'teams',
    title: 'Microsoft Teams workflow webhook (Adaptive Card)',
    docs: 'https://learn.microsoft.com/en-us/power-automate/teams/teams-webhook-template',
    requiredParams: [],
    receiverHint: 'url from the environment ({ env: VAR }): the workflow URL carries its signature',
    template: TEAMS,
  },
  opsgenie: {
    id: 'opsgenie',
    title: 'Opsgenie Alert API (create, close by alias)',
    docs: 'https://docs.opsgenie.com/docs/alert-api',
    requiredParams: [],
    receiverHint:
      'url https://api.opsgenie.com/v2/alerts; headers.Authorization from the environment ("GenieKey <key>"); resolvedPath /v2/alerts/{dedup_key}/close?identifierType=alias',
    template: OPSGENIE,
  },
  alertmanager: {
    id: 'alertmanager',
    title: 'Alertmanager webhook (version 4)',
    docs: 'https://prometheus.io/docs/alerting/latest/configuration/#webhook_config',
    requiredParams: [],
    receiverHint: 'url of anything that accepts an Alertmanager webhook_configs receiver',
    template: ALERTMANAGER_V4,
  },
} as const satisfies Record<string, WebhookPreset>;

export type WebhookPresetId = keyof typeof WEBHOOK_PRESETS;
export const WEBHOOK_PRESET_IDS = Object.keys(WEBHOOK_PRESETS) as WebhookPresetId[];

export const isWebhookPreset = (id: string): id is WebhookPresetId => Object.hasOwn(WEBHOOK_PRESETS, id);

/** The template a rule renders: its own, else its preset's; null when it has neither. */
export function webhookTemplateOf(rule: { bodyTemplate: string | null; preset: string | null }): string | null {
  if (rule.bodyTemplate !== null) return rule.bodyTemplate;
  return rule.preset !== null && isWebhookPreset(rule.preset) ? WEBHOOK_PRESETS[rule.preset].template : null;
}

// ---- checks when a rule is saved ---------------------------------------------------------------

/** A group and an episode to render a template with when it is saved, firing and resolved. */
export function sampleWebhookSnapshots(): { group: GroupSnapshot; instance: InstanceSnapshot }[] {
  const group: GroupSnapshot = {
    id: 1,
    fingerprint: '0000b575cf5f7ad3',
    name: 'HighCPU',
    labels: { alertname: 'HighCPU', instance: 'host-1', job: 'node', severity: 'critical', team: 'ops', note: 'quote " backslash \\ newline \n tab \t' },
    severity: 'critical',
    instance: 'host-1',
    source: 'webhook',
    status: 'firing',
    firingCount: 1,
    silenced: false,
    silencedUntil: null,
    acknowledged: false,
  };
  const firing: InstanceSnapshot = {
    id: 1,
    status: 'firing',
    startsAt: '2026-01-01T10:02:00.000Z',
    endsAt: null,
    annotations: { summary: 'CPU above 90% for 5 minutes "quoted"', description: 'host-1 has been at 97% CPU since 10:02.\nSecond line.' },
    generatorURL: 'http://prometheus.example:9090/graph?g0.expr=node_cpu_usage%3E0.9',
    resolutionType: null,
  };
  return [
    { group, instance: firing },
    { group: { ...group, status: 'resolved' }, instance: { ...firing, status: 'resolved', endsAt: '2026-01-01T10:30:00.000Z', resolutionType: 'normal' } },
  ];
}

export interface WebhookRuleCheck {
  bodyTemplate: string | null;
  preset: string | null;
  receiver: string;
}

/**
 * Why a webhook rule cannot be saved, each with its field: an unknown preset, no template at
 * all, a template that does not parse, or one that does not render valid JSON for a sample
 * firing or resolved alert; a receiver not configured, or one without the parameters the
 * preset uses. `receivers` are the configured receivers' names and parameter names.
 */
export function webhookRuleProblems(
  rule: WebhookRuleCheck,
  receivers: ReadonlyMap<string, readonly string[]>,
  options: WebhookContextOptions,
): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const params = receivers.get(rule.receiver);
  if (!params) {
    const known = [...receivers.keys()].sort();
    problems.push({
      path: 'receiver',
      message: `receiver "${rule.receiver}" is not configured (WEBHOOK_RECEIVERS_FILE names ${known.length ? known.map((name) => `"${name}"`).join(', ') : 'no receivers'})`,
    });
  }
  if (rule.preset !== null && !isWebhookPreset(rule.preset)) {
    problems.push({ path: 'preset', message: `unknown preset "${rule.preset}" (one of ${WEBHOOK_PRESET_IDS.join(', ')})` });
    return problems;
  }
  if (rule.preset !== null && params && rule.bodyTemplate === null) {
    const missing = WEBHOOK_PRESETS[rule.preset].requiredParams.filter((name) => !params.includes(name));
    if (missing.length)
      problems.push({
        path: 'receiver',
        message: `the ${rule.preset} preset needs receiver params ${missing.join(', ')}, which receiver "${rule.receiver}" does not have`,
      });
  }
  const source = webhookTemplateOf(rule);
  if (source === null) {
    problems.push({ path: 'bodyTemplate', message: 'a webhook rule needs a bodyTemplate or a preset' });
    return problems;
  }
  const path = rule.bodyTemplate !== null ? 'bodyTemplate' : 'preset';
  const parseError = templateError(source);
  if (parseError) {
    problems.push({ path, message: `template does not parse: ${parseError}` });
    return problems;
  }
  for (const sample of sampleWebhookSnapshots()) {
    const context = webhookContext(sample.group, sample.instance, { name: rule.receiver, params: params ?? [] }, options);
    const rendered = renderWebhookBody(source, context);
    if (!rendered.ok) {
      problems.push({ path, message: `${rendered.error} (sample ${sample.instance.status} alert)` });
      break;
    }
  }
  return problems;
}
