import { describe, expect, it } from 'vitest';
import { AlertmanagerWebhook, AlertProcessed, AlertReceived, externalIntakeSchema, MatchCriteria, PostableAlert, PostableAlerts } from './index';

const webhookAlert = {
  status: 'firing',
  labels: { alertname: 'HighCPU' },
  annotations: {},
  startsAt: '2026-11-26T08:00:00.123456789Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus/graph',
  fingerprint: 'd2aeefc389ca7746',
};
const webhook = {
  version: '4',
  groupKey: 'k',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'sentryhub',
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: '',
  alerts: [webhookAlert],
};

const paths = (result: { success: boolean; error?: { issues: { path: PropertyKey[] }[] } }) => result.error?.issues.map((i) => i.path.join('.')) ?? [];

describe('AlertmanagerWebhook (v4)', () => {
  it('accepts a real payload and keeps unknown fields', () => {
    const parsed = AlertmanagerWebhook.parse({ ...webhook, notification_reason: 'new', alerts: [{ ...webhookAlert, routeLabels: { a: 'b' } }] });
    expect(parsed).toMatchObject({ notification_reason: 'new', alerts: [{ routeLabels: { a: 'b' } }] });
  });

  it('accepts time offsets other than Z', () => {
    expect(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, startsAt: '2026-11-26T09:00:00+01:00' }] }).success).toBe(true);
  });

  it('names what is wrong', () => {
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, version: '3' }))).toEqual(['version']);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [] }))).toEqual(['alerts']);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, status: 'pending', startsAt: 'yesterday' }] }))).toEqual(['alerts.0.status', 'alerts.0.startsAt']);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, fingerprint: 'XYZ' }] }))).toEqual(['alerts.0.fingerprint']);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, labels: { alertname: 5 } }] }))).toEqual(['alerts.0.labels.alertname']);
  });
});

describe('postable alerts', () => {
  it('needs non-empty labels and accepts the rest as optional', () => {
    expect(PostableAlert.safeParse({ labels: { alertname: 'X' } }).success).toBe(true);
    expect(paths(PostableAlert.safeParse({ labels: {} }))).toEqual(['labels']);
    expect(paths(PostableAlert.safeParse({ annotations: {} }))).toEqual(['labels']);
    expect(paths(PostableAlerts.safeParse([]))).toEqual(['']);
  });
});

describe('externalIntakeSchema', () => {
  it('judges a body with a version as a webhook, anything else as postable alerts', () => {
    expect(externalIntakeSchema(webhook).safeParse(webhook).success).toBe(true);
    const badWebhook = { ...webhook, alerts: [] };
    expect(paths(externalIntakeSchema(badWebhook).safeParse(badWebhook))).toEqual(['alerts']);
    expect(externalIntakeSchema([{ labels: { a: 'b' } }]).safeParse([{ labels: { a: 'b' } }]).success).toBe(true);
    expect(externalIntakeSchema({ labels: { a: 'b' } }).safeParse({ labels: { a: 'b' } }).success).toBe(true);
    expect(externalIntakeSchema('text').safeParse('text').success).toBe(false);
  });
});

describe('messages', () => {
  const alert = { fingerprint: 'd2aeefc389ca7746', status: 'firing', labels: { alertname: 'X' }, annotations: {}, startsAt: null, endsAt: null, generatorURL: null };
  it('AlertReceived needs an id, a source and at least one normalised alert', () => {
    expect(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'webhook', alerts: [alert] }).success).toBe(true);
    expect(paths(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'email', alerts: [alert] }))).toEqual(['source']);
    expect(paths(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'api', alerts: [{ ...alert, fingerprint: 'short' }] }))).toEqual(['alerts.0.fingerprint']);
  });

  it('AlertProcessed carries group snapshot, instance and change', () => {
    const change = {
      change: 'created',
      group: { id: 1, fingerprint: 'f', name: 'X', labels: {}, severity: 'warning', instance: null, source: 'api', status: 'firing', firingCount: 1, silenced: false, silencedUntil: null, acknowledged: false },
      instance: { id: 2, status: 'firing', startsAt: '2026-11-26T08:00:00Z', endsAt: null, annotations: {}, generatorURL: null, resolutionType: null },
    };
    expect(AlertProcessed.safeParse({ id: 'a', processedAt: '2026-11-26T08:00:00Z', status: 'firing', changes: [change] }).success).toBe(true);
    expect(paths(AlertProcessed.safeParse({ id: 'a', processedAt: '2026-11-26T08:00:00Z', status: 'firing', changes: [{ ...change, change: 'updated' }] }))).toEqual(['changes.0.change']);
  });
});

describe('MatchCriteria', () => {
  it('accepts equality, regex, not and notRegex, and refuses invalid regexes', () => {
    expect(MatchCriteria.safeParse({ team: 'ops', instance: { regex: 'db-.*' }, env: { not: 'dev' }, job: { notRegex: 'test.*' } }).success).toBe(true);
    expect(paths(MatchCriteria.safeParse({ instance: { regex: '(' } }))).toEqual(['instance.regex']);
    expect(MatchCriteria.safeParse({ instance: { like: 'x' } }).success).toBe(false);
  });
});
