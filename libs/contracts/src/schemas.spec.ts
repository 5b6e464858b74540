import { describe, expect, it } from 'vitest';
import {
  AlertmanagerWebhook,
  AlertProcessed,
  AlertReceived,
  DurationEnv,
  externalIntakeSchema,
  formatDuration,
  MatchCriteria,
  parseDuration,
  parseIntakeAlerts,
  PostableAlert,
  PostableAlerts,
  utf8Bytes,
} from './index';

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
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, status: 'pending', startsAt: 'yesterday' }] }))).toEqual([
      'alerts.0.status',
      'alerts.0.startsAt',
    ]);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, fingerprint: 'XYZ' }] }))).toEqual(['alerts.0.fingerprint']);
    expect(paths(AlertmanagerWebhook.safeParse({ ...webhook, alerts: [{ ...webhookAlert, labels: { alertname: 5 } }] }))).toEqual([
      'alerts.0.labels.alertname',
    ]);
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
  const alert = {
    fingerprint: 'd2aeefc389ca7746',
    status: 'firing',
    labels: { alertname: 'X' },
    annotations: {},
    startsAt: null,
    endsAt: null,
    generatorURL: null,
  };
  it('AlertReceived needs an id, a source and at least one normalised alert', () => {
    expect(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'webhook', alerts: [alert] }).success).toBe(true);
    expect(paths(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'email', alerts: [alert] }))).toEqual(['source']);
    expect(
      paths(AlertReceived.safeParse({ id: '1', receivedAt: '2026-11-26T08:00:00Z', source: 'api', alerts: [{ ...alert, fingerprint: 'short' }] })),
    ).toEqual(['alerts.0.fingerprint']);
  });

  it('AlertProcessed carries group snapshot, instance and change', () => {
    const change = {
      change: 'created',
      group: {
        id: 1,
        fingerprint: 'f',
        name: 'X',
        labels: {},
        severity: 'warning',
        instance: null,
        source: 'api',
        status: 'firing',
        firingCount: 1,
        silenced: false,
        silencedUntil: null,
        acknowledged: false,
      },
      instance: { id: 2, status: 'firing', startsAt: '2026-11-26T08:00:00Z', endsAt: null, annotations: {}, generatorURL: null, resolutionType: null },
    };
    expect(AlertProcessed.safeParse({ id: 'a', processedAt: '2026-11-26T08:00:00Z', status: 'firing', changes: [change] }).success).toBe(true);
    expect(
      paths(AlertProcessed.safeParse({ id: 'a', processedAt: '2026-11-26T08:00:00Z', status: 'firing', changes: [{ ...change, change: 'updated' }] })),
    ).toEqual(['changes.0.change']);
  });
});

describe('MatchCriteria', () => {
  it('accepts equality, regex, not and notRegex, and refuses invalid regexes', () => {
    expect(MatchCriteria.safeParse({ team: 'ops', instance: { regex: 'db-.*' }, env: { not: 'dev' }, job: { notRegex: 'test.*' } }).success).toBe(true);
    expect(paths(MatchCriteria.safeParse({ instance: { regex: '(' } }))).toEqual(['instance.regex']);
    expect(MatchCriteria.safeParse({ instance: { like: 'x' } }).success).toBe(false);
  });
});

describe('intake bounds (parseIntakeAlerts)', () => {
  const receivedAt = new Date('2026-11-26T12:00:00Z');
  const limits = { receivedAt, maxFutureMs: 10 * 60_000 };
  const refusals = (body: unknown) => {
    const result = parseIntakeAlerts('any', body, limits);
    return result.rejected.map(({ index, refusal }) => [index, refusal]);
  };

  it('refuses each bound on its own and keeps the alerts beside it', () => {
    const good = { labels: { alertname: 'Good' } };
    const result = parseIntakeAlerts('alerts', [good, { labels: Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`l${i}`, 'v'])) }, good], limits);
    expect(result).toMatchObject({ success: true, data: { kind: 'postable', alerts: [good, good] }, rejected: [{ index: 1, refusal: 'label_count' }] });
    expect(refusals([good, { labels: { 'a-b': 'x' } }])).toEqual([[1, 'label_name']]);
    expect(refusals([good, { labels: { ['x'.repeat(257)]: 'x' } }])).toEqual([[1, 'label_name_size']]);
    expect(refusals([good, { labels: { a: '€'.repeat(5_462) } }])).toEqual([[1, 'label_value_size']]); // 16,386 bytes
    expect(refusals([good, { labels: { a: '€'.repeat(5_461) } }])).toEqual([]); // 16,383 bytes
    expect(refusals([good, { labels: { a: 'b' }, annotations: { x: 'y'.repeat(65_536) } }])).toEqual([[1, 'annotations_size']]);
    expect(refusals([good, { labels: { a: 'b' }, startsAt: '2026-11-26T12:10:00.001Z' }])).toEqual([[1, 'starts_in_future']]);
    expect(refusals([good, { labels: { a: 'b' }, startsAt: '2026-11-26T12:10:00Z' }])).toEqual([]);
    // Offsets are instants: 14:10:01+02:00 is 12:10:01Z, one second too far.
    expect(refusals([good, { labels: { a: 'b' }, startsAt: '2026-11-26T14:10:01+02:00' }])).toEqual([[1, 'starts_in_future']]);
    expect(refusals([good, { labels: { a: 'b' }, startsAt: '2026-11-26T14:09:59+02:00' }])).toEqual([]);
    expect(refusals([good, { labels: { a: 'b' }, endsAt: '2026-11-27T00:00:00Z' }])).toEqual([[1, 'ends_in_future']]);
    expect(refusals([good, { labels: { a: 'b' }, startsAt: '2026-11-26T11:00:00Z', endsAt: '2026-11-26T10:00:00Z' }])).toEqual([[1, 'ends_before_starts']]);
    for (const bad of ['2026-02-30T00:00:00Z', '2026-11-26T24:00:00Z', '2026-11-26T08:00:60Z', 'yesterday']) {
      expect(refusals([good, { labels: { a: 'b' }, startsAt: bad }])).toEqual([[1, 'timestamp']]);
    }
    expect(refusals([good, { labels: { a: 'b\u0000' } }])).toEqual([[1, 'unstorable_text']]);
    expect(refusals([good, { labels: {} }])).toEqual([[1, 'invalid_alert']]);
  });

  it('reads the webhook zero time as "not ended", never as before startsAt', () => {
    const result = parseIntakeAlerts('webhook', webhook, limits);
    expect(result).toMatchObject({ success: true, rejected: [], data: { kind: 'webhook', payload: { receiver: 'sentryhub' } } });
  });

  it("takes amtool's zero times (0001-01-01T00:00:00.000Z) as not given, never as an endsAt before startsAt", () => {
    const amtool = [{ labels: { alertname: 'X' }, annotations: {}, startsAt: '2026-11-26T10:00:00Z', endsAt: '0001-01-01T00:00:00.000Z' }];
    expect(parseIntakeAlerts('alerts', amtool, limits)).toMatchObject({ success: true, rejected: [] });
  });

  it('fails as a whole, with every issue, when no alert is usable or the body is not an accepted shape', () => {
    const none = parseIntakeAlerts('alerts', [{ labels: { a: 'b' }, startsAt: '9999-12-31T00:00:00Z' }, { labels: {} }], limits);
    expect(none.success).toBe(false);
    expect(paths(none as { success: boolean; error?: { issues: { path: PropertyKey[] }[] } })).toEqual(['0.startsAt', '1.labels']);
    expect(none.rejected.map((alert) => alert.refusal)).toEqual(['starts_in_future', 'invalid_alert']);
    expect(paths(parseIntakeAlerts('webhook', { ...webhook, alerts: [] }, limits) as never)).toEqual(['alerts']);
    expect(paths(parseIntakeAlerts('alerts', { labels: { a: 'b' } }, limits) as never)).toEqual(['']);
    expect(parseIntakeAlerts('alert-or-alerts', { labels: { a: 'b' } }, limits)).toMatchObject({ success: true, data: { alerts: [{ labels: { a: 'b' } }] } });
  });

  it('counts UTF-8 bytes without encoding', () => {
    for (const text of ['', 'ascii', 'é', '€', '🔥', 'a🔥é€', '\ud800 lone', '\ud800é', 'x\udc00', '\ud800'])
      expect(utf8Bytes(text)).toBe(Buffer.byteLength(text, 'utf8'));
  });
});

describe('INTAKE_MAX_FUTURE durations', () => {
  it("reads Prometheus's and Alertmanager's syntax and refuses anything else, naming it", () => {
    expect(['30s', '10m', '1h', '1h30m', '500ms', '1d', '1w', '0'].map(parseDuration)).toEqual([
      30_000, 600_000, 3_600_000, 5_400_000, 500, 86_400_000, 604_800_000, 0,
    ]);
    for (const bad of ['', '10', '10 m', '-5m', 'm', '1.5h', '5min', '10M']) expect(parseDuration(bad)).toBeNull();
    expect(DurationEnv('10m').parse(undefined)).toBe(600_000);
    expect(DurationEnv('10m').parse('30s')).toBe(30_000);
    expect(DurationEnv('10m').safeParse('ten minutes').error?.issues[0]?.message).toBe('"ten minutes" is not a duration such as 30s, 10m, 1h or 1h30m');
    expect([600_000, 5_400_000, 30_000, 0].map(formatDuration)).toEqual(['10m', '1h30m', '30s', '0s']);
  });
});
