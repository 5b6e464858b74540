import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { intakeMetrics } from '@sentryhub/intake';
import { Registry } from '@sentryhub/service-runtime';

/**
 * docs/operations.md, the Prometheus rules and the Grafana dashboard name SentryHub metrics:
 * every metric the code registers must be documented, and the rules and the dashboard may only
 * query registered ones (operations.md may describe an app's metrics before its code lands).
 */
const read = (path: string) => readFileSync(path, 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' ? [] : sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') ? [path] : [];
  });
}

const sources = new Map(['apps', 'libs'].flatMap(sourceFiles).map((path) => [path, read(path)]));
const source = [...sources.values()].join('\n');
/** The one helper that registers metrics under a computed name; the spec runs it to learn the names. */
const INTAKE_METRICS = join('libs', 'intake', 'src', 'intake.ts');
/** `intakeMetrics(registry, '<service>')` registers `sentryhub_<service>_…` intake counters. */
function intakeMetricNames(service: string): string[] {
  const registry = new Registry();
  intakeMetrics(registry, service);
  return registry.getMetricsAsArray().map((metric) => metric.name);
}
const intakeServices = [...source.matchAll(/intakeMetrics\([^,()]+, '([a-z_]+)'\)/g)].map((match) => match[1] ?? '');
const registered = new Set([
  ...[...source.matchAll(/name: '(sentryhub_[a-z_]+)'/g)].map((match) => match[1] ?? ''),
  ...intakeServices.flatMap(intakeMetricNames),
]);
/** A histogram's series carry suffixes that its registered name does not. */
const baseName = (name: string) => name.replace(/_(bucket|sum|count)$/, '');
const mentioned = (text: string) => new Set([...text.matchAll(/\bsentryhub_[a-z_]+\b/g)].map((match) => baseName(match[0])));

interface Rule {
  alert?: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe('observability docs', () => {
  it('find the metrics the code registers', () => {
    expect(registered.size).toBeGreaterThan(15);
    // The gateway's and the admin's intake counters are registered by intakeMetrics under computed names.
    expect(intakeServices).toEqual(expect.arrayContaining(['gateway', 'admin']));
    for (const name of [
      'sentryhub_gateway_alerts_accepted_total',
      'sentryhub_gateway_requests_rejected_total',
      'sentryhub_gateway_alerts_rejected_total',
      'sentryhub_admin_alerts_accepted_total',
    ])
      expect(registered, name).toContain(name);
  });

  it('no metric is registered under a computed name the spec cannot see', () => {
    const computed = [...sources].filter(([path, text]) => path !== INTAKE_METRICS && /name: `sentryhub_/.test(text)).map(([path]) => path);
    expect(computed, 'these files register a metric under a template-literal name: use a literal name, or teach this spec the helper').toEqual([]);
  });

  it('operations.md documents every registered metric', () => {
    const documented = mentioned(read('docs/operations.md'));
    expect([...registered].filter((name) => !documented.has(name))).toEqual([]);
  });

  it('the Prometheus rules are well formed and use registered metrics; operations.md lists each alert', () => {
    const file = parse(read('docs/prometheus/sentryhub-alerts.yaml')) as { groups: { name: string; rules: Rule[] }[] };
    const rules = file.groups.flatMap((group) => group.rules);
    expect(rules.length).toBeGreaterThan(10);
    const operations = read('docs/operations.md');
    for (const rule of rules) {
      expect(rule.alert, rule.expr).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(rule.labels?.['severity']).toMatch(/^(critical|warning|info)$/);
      expect(rule.annotations?.['summary']).toBeTruthy();
      expect(operations).toContain(`\`${rule.alert}\``);
      for (const name of mentioned(rule.expr)) expect(registered.has(name), `${rule.alert}: ${name}`).toBe(true);
    }
  });

  it('the Grafana dashboard is valid JSON whose queries use registered metrics', () => {
    const dashboard = JSON.parse(read('docs/grafana/sentryhub-dashboard.json')) as {
      title: string;
      panels: { id: number; title: string; targets?: { expr: string }[] }[];
    };
    expect(dashboard.title).toBe('SentryHub');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const titles = dashboard.panels.map((panel) => panel.title).join('\n');
    for (const topic of [
      'Alerts accepted',
      'Alerts processed',
      'Batch time',
      'Dead letters',
      'Retries',
      'Slack notifications sent / failed',
      'Broker connected',
      'Event-loop lag',
    ])
      expect(titles).toContain(topic);
    for (const panel of dashboard.panels)
      for (const target of panel.targets ?? []) for (const name of mentioned(target.expr)) expect(registered.has(name), `${panel.title}: ${name}`).toBe(true);
  });
});
