import { sql, type Kysely } from 'kysely';

/**
 * Leases (Alertmanager's semantics): an open episode whose `lease_ends_at` has passed without a
 * re-send resolves with resolution type `expired`. The partial index holds only open episodes
 * that have a lease, so the alert-processor's expiry finds the due ones without a scan however
 * many episodes are stored. The resolution type check gains `expired`.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_instances add column lease_ends_at timestamptz`.execute(db);
  await sql`create index alert_instances_open_lease_idx on alert_instances (lease_ends_at) where status = 'firing' and lease_ends_at is not null`.execute(db);
  await sql`alter table alert_instances drop constraint if exists alert_instances_resolution_type_check`.execute(db);
  await sql`alter table alert_instances add constraint alert_instances_resolution_type_check check (resolution_type in ('normal', 'inferred', 'manual', 'expired'))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`update alert_instances set resolution_type = 'normal' where resolution_type = 'expired'`.execute(db);
  await sql`alter table alert_instances drop constraint if exists alert_instances_resolution_type_check`.execute(db);
  await sql`alter table alert_instances add constraint alert_instances_resolution_type_check check (resolution_type in ('normal', 'inferred', 'manual'))`.execute(
    db,
  );
  await sql`drop index if exists alert_instances_open_lease_idx`.execute(db);
  await sql`alter table alert_instances drop column lease_ends_at`.execute(db);
}
