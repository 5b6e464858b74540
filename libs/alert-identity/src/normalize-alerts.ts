import { isZeroTime, type AlertmanagerWebhook, type IntakeAlerts, type NormalizedAlert, type PostableAlert, type WebhookAlert } from '@sentryhub/contracts';
import { fingerprint } from './fingerprint';

const WEBHOOK_ALERT_FIELDS = new Set(['status', 'labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL', 'fingerprint']);
const POSTABLE_ALERT_FIELDS = new Set(['labels', 'annotations', 'startsAt', 'endsAt', 'generatorURL']);

/**
 * The alert's fields that are not `known`, kept as they came (a loop: no entries array per
 * alert). A `__proto__` field is left out: assigned, it would set the prototype (the intake
 * schemas drop it before this anyway).
 */
function extraFields(alert: Record<string, unknown>, known: Set<string>): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const key in alert) if (Object.hasOwn(alert, key) && !known.has(key) && key !== '__proto__') extra[key] = alert[key];
  return extra;
}

function endTime(value: string | undefined): string | null {
  return value === undefined || isZeroTime(value) ? null : value;
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
    // Alertmanager sends a webhook alert's resolution itself: no lease, it never expires.
    leaseEndsAt: null,
    generatorURL: alert.generatorURL || null,
    extra: extraFields(alert, WEBHOOK_ALERT_FIELDS),
  };
}

/**
 * The lease a firing postable alert gets at intake: its endsAt when the sender gave one (in the
 * future, as it is firing), else the receipt + `resolveTimeoutMs` (RESOLVE_TIMEOUT, on
 * `POST /api/v2/alerts`), else none (`null`: `/api/v1/alerts` and the external queue).
 */
export interface LeasePolicy {
  resolveTimeoutMs: number | null;
}

/** Only a sender's future endsAt is a lease. */
export const SENDER_LEASE_ONLY: LeasePolicy = { resolveTimeoutMs: null };

function leaseOf(endsAt: string | null, now: Date, policy: LeasePolicy): string | null {
  if (endsAt !== null) return new Date(endsAt).toISOString();
  return policy.resolveTimeoutMs === null ? null : new Date(now.getTime() + policy.resolveTimeoutMs).toISOString();
}

/**
 * A postable alert has no status: like Alertmanager, it is resolved when its endsAt has
 * passed and firing otherwise. A firing one carries its lease (`leaseEndsAt`, see LeasePolicy).
 */
export function normalizePostableAlert(alert: PostableAlert, now: Date, lease: LeasePolicy = SENDER_LEASE_ONLY): NormalizedAlert {
  const endsAt = endTime(alert.endsAt);
  const resolved = endsAt !== null && Date.parse(endsAt) <= now.getTime();
  return {
    fingerprint: fingerprint(alert.labels),
    status: resolved ? 'resolved' : 'firing',
    labels: alert.labels,
    annotations: alert.annotations,
    // amtool sends the zero time for a start it was not given: no start, as Alertmanager reads it.
    startsAt: alert.startsAt === undefined || isZeroTime(alert.startsAt) ? null : alert.startsAt,
    endsAt: resolved ? endsAt : null,
    leaseEndsAt: resolved ? null : leaseOf(endsAt, now, lease),
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

/** Any accepted intake body (webhook, one postable alert, or an array) as normalised alerts; postable ones leased by `lease`. */
export function normalizeIntakeBody(
  body: IntakeBody,
  now: Date,
  lease: LeasePolicy = SENDER_LEASE_ONLY,
): { alerts: NormalizedAlert[]; meta: Record<string, unknown> } {
  if (isWebhook(body)) return { alerts: body.alerts.map(normalizeWebhookAlert), meta: webhookMeta(body) };
  const alerts = Array.isArray(body) ? body : [body];
  return { alerts: alerts.map((alert) => normalizePostableAlert(alert, now, lease)), meta: {} };
}

/**
 * The alerts that passed the intake bounds (parseIntakeAlerts), normalised, with the webhook's
 * payload fields as meta. Postable alerts get their lease by `lease`: `{ resolveTimeoutMs }` on
 * `POST /api/v2/alerts`, SENDER_LEASE_ONLY (the default) elsewhere.
 */
export function normalizeIntakeAlerts(
  data: IntakeAlerts,
  now: Date,
  lease: LeasePolicy = SENDER_LEASE_ONLY,
): { alerts: NormalizedAlert[]; meta: Record<string, unknown> } {
  if (data.kind === 'webhook') return { alerts: data.alerts.map(normalizeWebhookAlert), meta: { ...data.payload } };
  return { alerts: data.alerts.map((alert) => normalizePostableAlert(alert, now, lease)), meta: {} };
}
