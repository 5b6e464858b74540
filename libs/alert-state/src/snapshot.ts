import { Severity, type GroupSnapshot, type InstanceSnapshot } from '@sentryhub/contracts';
import type { AlertGroup, AlertInstance } from '@sentryhub/db';

/** A nullable time as stored and sent: ISO 8601, or null. */
export const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/** What a group's snapshot says of its state; by default the stored row's. */
export interface GroupStateAt {
  status: 'firing' | 'resolved';
  firingCount: number;
  acknowledged: boolean;
}

/**
 * A stored group as the notifiers see it in `alert.processed` (and the admin previews it): the
 * one place a snapshot is built. `at` is the group's state right after a change (the stored
 * row's state when not given); `silence` its silence state at that time. A severity the
 * contract does not know (a row written by hand) reads as `warning`, as intake classifies it.
 */
export function groupSnapshot(row: AlertGroup, silence: { silenced: boolean; until: Date | null }, at?: GroupStateAt): GroupSnapshot {
  const severity = Severity.safeParse(row.severity);
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    name: row.name,
    labels: row.labels,
    severity: severity.success ? severity.data : 'warning',
    instance: row.instance,
    source: row.source,
    status: at?.status ?? row.current_status,
    firingCount: at?.firingCount ?? row.firing_count,
    silenced: silence.silenced,
    silencedUntil: iso(silence.until),
    acknowledged: at?.acknowledged ?? row.acknowledged,
  };
}

/** An episode's fields in a snapshot, from whatever holds them (a stored row or the state machine's picture). */
export interface InstanceFields {
  id: number;
  status: 'firing' | 'resolved';
  startsAt: Date;
  endsAt: Date | null;
  annotations: Record<string, string>;
  generatorUrl: string | null;
  resolutionType: InstanceSnapshot['resolutionType'];
}

export function instanceSnapshot(instance: InstanceFields): InstanceSnapshot {
  return {
    id: instance.id,
    status: instance.status,
    startsAt: instance.startsAt.toISOString(),
    endsAt: iso(instance.endsAt),
    annotations: instance.annotations,
    generatorURL: instance.generatorUrl,
    resolutionType: instance.resolutionType,
  };
}

/** A stored episode row as `instanceSnapshot` takes it. */
export function instanceFields(row: AlertInstance): InstanceFields {
  return {
    id: row.id,
    status: row.status,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    annotations: row.annotations,
    generatorUrl: row.generator_url,
    resolutionType: row.resolution_type,
  };
}
