import { formatSummary, type Summary } from './verify';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ScenarioReport {
  name: string;
  title: string;
  summary: Summary;
  checks: Check[];
  /** Measurements worth printing (outage length, time to ready...). */
  facts: Record<string, unknown>;
  seconds: number;
}

export interface Scenario {
  name: string;
  title: string;
  run(): Promise<Omit<ScenarioReport, 'name' | 'title' | 'seconds'>>;
}

/** Collects a scenario's checks; nothing throws, so the summary is always printed. */
export class Checks {
  readonly list: Check[] = [];
  that(name: string, ok: boolean, detail: unknown = ''): void {
    this.list.push({ name, ok, detail: typeof detail === 'string' ? detail : JSON.stringify(detail) });
  }
  /** The checks of every scenario: every accepted alert stored (and notified) exactly once. */
  nothingLostOrDuplicated(summary: Summary): void {
    this.that('every alert that got a 2xx is stored and notified', summary.lost === 0, `lost ${summary.lost}: ${summary.lostNames.join(', ')}`);
    this.that('nothing stored or notified twice', summary.duplicated === 0, `duplicated ${summary.duplicated}: ${summary.duplicatedNames.join(', ')}`);
  }
}

export async function runScenario(scenario: Scenario): Promise<ScenarioReport> {
  const began = Date.now();
  const result = await scenario.run();
  return { name: scenario.name, title: scenario.title, ...result, seconds: Math.round((Date.now() - began) / 100) / 10 };
}

export function formatReport(report: ScenarioReport): string {
  const lines = [formatSummary(`[${report.name}] ${report.title}`, report.summary)];
  for (const [key, value] of Object.entries(report.facts)) lines.push(`  ${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  for (const check of report.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.ok || !check.detail ? '' : ` (${check.detail})`}`);
  lines.push(`  ${report.checks.every((check) => check.ok) ? 'PASSED' : 'FAILED'} in ${report.seconds} s`);
  return lines.join('\n');
}
