import {
  ZERO_TIME,
  type AlertmanagerWebhook,
  type IntakeAlerts,
  type NormalizedAlert,
  type PostableAlert,
  type WebhookAlert,
} from '@sentryhub/contracts';
import { fingerprint } from './fingerprint';

const WEBHOOK_ALERT_FIELDS = new Set(['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint']);
const POSTABLE_ALERT_FIELDS = new Set(['labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL']);

function extraFields(alert: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(alert).filter(([key]) => !known.has(key)));
}

function endTime(value: string | undefined): string | null {
  return value === undefined || value === ZERO_TIME ? null : value;
}

/**
 * The group key is always the fingerprint of the labels, computed here: a sender's `fingerprint`
 * is kept as `senderFingerprint` for reference and decides nothing (else a sender could name
 * another group's fingerprint and rewrite its labels).
 */
export function normalizeWebhookAlert(alert: WebhookAlert): NormalizedAlert {
  return {
    fingerprint: fingerprint(alert.labels),
    ...(alert.fingerprint === undefined ? {} : { senderFingerprint: alert.fingerprint }),
    status: alert.status,
    labels: alert.labels,
    annotations: alert.annotations,
    startsAt: alert.startsAt,
    endsAt: alert.status === 'firing' ? null : endTime(alert.endsAt),
    generatorURL: alert.generatorURL || null,
    extra: extraFields(alert, WEBHOOK_ALERT_FIELDS),
  };
}

/**
 * A postable alert has no status: like Alertmanager, it is resolved when its endsAt has
 * passed and firing otherwise.
 */
export function normalizePostableAlert(alert: PostableAlert, now: Date): NormalizedAlert {
  const endsAt = endTime(alert.endsAt);
  const resolved = endsAt !== null && Date.parse(endsAt) <= now.getTime();
  return {
    fingerprint: fingerprint(alert.labels),
    status: resolved ? 'resolved' : 'firing',
    labels: alert.labels,
    annotations: alert.annotations,
    startsAt: alert.startsAt ?? null,
    endsAt: resolved ? endsAt : null,
    generatorURL: alert.generatorURL || null,
    extra: extraFields(alert, POSTABLE_ALERT_FIELDS),
  };
}

/** The payload-level fields of a webhook (receiver, groupKey, unknown extras...) without its alerts. */
export function webhookMeta(payload: AlertmanagerWebhook): Record<string, unknown> {
  const { alerts: _alerts, ...meta } = payload;
  return meta;
}

export type IntakeBody = AlertmanagerWebhook | PostableAlert | PostableAlert[];

function isWebhook(body: IntakeBody): body is AlertmanagerWebhook {
  return !Array.isArray(body) && 'version' in body && 'alerts' in body;
}

/** Any accepted intake body (webhook, one postable alert, or an array) as normalised alerts. */
export function normalizeIntakeBody(body: IntakeBody, now: Date): { alerts: NormalizedAlert[]; meta: Record<string, unknown> } {
  if (isWebhook(body)) return { alerts: body.alerts.map(normalizeWebhookAlert), meta: webhookMeta(body) };
  const alerts = Array.isArray(body) ? body : [body];
  return { alerts: alerts.map((alert) => normalizePostableAlert(alert, now)), meta: {} };
}

/** The alerts that passed the intake bounds (parseIntakeAlerts), normalised, with the webhook's payload fields as meta. */
export function normalizeIntakeAlerts(data: IntakeAlerts, now: Date): { alerts: NormalizedAlert[]; meta: Record<string, unknown> } {
  if (data.kind === 'webhook') return { alerts: data.alerts.map(normalizeWebhookAlert), meta: { ...data.payload } };
  return { alerts: data.alerts.map((alert) => normalizePostableAlert(alert, now)), meta: {} };
}
