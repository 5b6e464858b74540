import { randomBytes } from 'node:crypto';
import type { AlertChange, Severity } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import type { Kysely } from 'kysely';

/** A firing alert to store: its group's name, labels and instance. */
export interface FiringAlert {
  name: string;
  labels: Record<string, string>;
  instance: string | null;
  /** `critical` when not given. */
  severity?: Severity;
}

/** Rows inserted per statement (a storm of 10,000 alerts is ten pairs of inserts). */
const CHUNK = 1_000;

/**
 * Firing groups with one episode each, as the alert processor leaves them (`alert_groups` and
 * `alert_instances` rows, a random fingerprint each), and their `created` changes, as an
 * `alert.processed` event carries them, in the order given.
 */
export async function seedFiringAlerts(db: Kysely<Database>, alerts: readonly FiringAlert[], startsAt: string): Promise<AlertChange[]> {
  const changes: AlertChange[] = [];
  for (let start = 0; start < alerts.length; start += CHUNK) {
    const chunk = alerts.slice(start, start + CHUNK);
    const groups = await db
      .insertInto('alert_groups')
      .values(
        chunk.map((alert) => ({
          fingerprint: randomBytes(8).toString('hex'),
          name: alert.name,
          labels: JSON.stringify(alert.labels),
          severity: alert.severity ?? 'critical',
          instance: alert.instance,
          source: 'webhook',
          current_status: 'firing' as const,
          firing_count: 1,
          first_occurrence: startsAt,
          last_occurrence: startsAt,
        })),
      )
      .returningAll()
      .execute();
    const instances = await db
      .insertInto('alert_instances')
      .values(groups.map((group) => ({ group_id: group.id, status: 'firing' as const, starts_at: startsAt, annotations: '{}', generator_url: null })))
      .returningAll()
      .execute();
    const byGroup = new Map(instances.map((instance) => [instance.group_id, instance]));
    for (const group of groups) {
      const instance = byGroup.get(group.id);
      if (!instance) throw new Error(`no instance for group ${group.id}`);
      changes.push({
        change: 'created',
        group: {
          id: group.id,
          fingerprint: group.fingerprint,
          name: group.name,
          labels: group.labels,
          severity: group.severity as Severity,
          instance: group.instance,
          source: 'webhook',
          status: 'firing',
          firingCount: 1,
          silenced: false,
          silencedUntil: null,
          acknowledged: false,
        },
        instance: { id: instance.id, status: 'firing', startsAt, endsAt: null, annotations: {}, generatorURL: null, resolutionType: null },
      });
    }
  }
  return changes;
}

/** A stored firing alert (`seedAlert`): what its changes are made of. */
export interface SeededAlert {
  groupId: number;
  instanceId: number;
  labels: Record<string, string>;
  fingerprint: string;
}

/** A firing group (`warning`, named by its `alertname`) with a firing episode started now, as the alert processor stores them. */
export async function seedAlert(db: Kysely<Database>, labels: Record<string, string>): Promise<SeededAlert> {
  const fingerprint = randomBytes(8).toString('hex');
  const group = await db
    .insertInto('alert_groups')
    .values({
      fingerprint,
      name: labels['alertname'] ?? 'x',
      labels: JSON.stringify(labels),
      severity: 'warning',
      instance: labels['instance'] ?? null,
      source: 'webhook',
      current_status: 'firing',
      firing_count: 1,
      first_occurrence: new Date(),
      last_occurrence: new Date(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const instance = await db
    .insertInto('alert_instances')
    .values({ group_id: group.id, status: 'firing', starts_at: new Date(), ends_at: null, annotations: '{}', generator_url: null })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { groupId: group.id, instanceId: instance.id, labels, fingerprint };
}

/** The `created` change of a seeded alert, silenced until `silencedUntil` when given. */
export function firingChange(seeded: SeededAlert, silencedUntil: Date | null = null): AlertChange {
  return {
    change: 'created',
    group: {
      id: seeded.groupId,
      fingerprint: seeded.fingerprint,
      name: seeded.labels['alertname'] ?? 'x',
      labels: seeded.labels,
      severity: 'warning',
      instance: seeded.labels['instance'] ?? null,
      source: 'webhook',
      status: 'firing',
      firingCount: 1,
      silenced: silencedUntil !== null,
      silencedUntil: silencedUntil?.toISOString() ?? null,
      acknowledged: false,
    },
    instance: {
      id: seeded.instanceId,
      status: 'firing',
      startsAt: new Date().toISOString(),
      endsAt: null,
      annotations: {},
      generatorURL: null,
      resolutionType: null,
    },
  };
}

/** The `resolved` change of a seeded alert, resolved now. */
export function resolvedChange(seeded: SeededAlert): AlertChange {
  const change = firingChange(seeded);
  return {
    ...change,
    change: 'resolved',
    group: { ...change.group, status: 'resolved' },
    instance: { ...change.instance, status: 'resolved', endsAt: new Date().toISOString(), resolutionType: 'normal' },
  };
}

/** A silence of the alerts with these labels (equality matchers), started a second ago, ending at `endsAt`. */
export function insertSilence(db: Kysely<Database>, labels: Record<string, string>, endsAt: Date, comment = 'test') {
  return db
    .insertInto('silences')
    .values({
      matchers: JSON.stringify(Object.entries(labels).map(([name, value]) => ({ name, value, isEqual: true, isRegex: false }))),
      starts_at: new Date(Date.now() - 1_000),
      ends_at: endsAt,
      created_by: 'test',
      comment,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
}
