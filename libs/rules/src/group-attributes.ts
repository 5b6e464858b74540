import type { LabelSet, Severity } from '@sentryhub/contracts';

const SEVERITIES = new Set<string>(['critical', 'warning', 'info']);

/** What a group is called and how it is classified, from its labels (docs/contracts.md §5.2, GroupSnapshot). */
export function groupAttributes(labels: LabelSet, intakeSource: string): { name: string; severity: Severity; instance: string | null; source: string } {
  const severity = labels['severity'];
  return {
    name: labels['alertname'] || 'Unknown Alert',
    severity: severity !== undefined && SEVERITIES.has(severity) ? (severity as Severity) : 'warning',
    instance: labels['instance'] ?? null,
    source: labels['source'] || intakeSource,
  };
}
