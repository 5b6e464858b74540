import { sql, type Kysely } from 'kysely';

/**
 * Lease renewals as HOT updates. A Prometheus re-sends every active alert every evaluation
 * interval, and each re-send moves two columns: the open episode's `lease_ends_at` and the group's
 * `last_occurrence`. While either was indexed, PostgreSQL wrote every renewal as a new row version
 * with new entries in every index of both tables (the labels' GIN index included); with neither
 * indexed, a renewal stays on its page (a heap-only tuple) and touches no index.
 *
 * - Lease expiry finds due episodes by `lease_check_at`, not `lease_ends_at`: a time at or before
 *   the lease end, moved up to the lease end by the expiry when it finds the lease renewed. A
 *   renewal moves only `lease_ends_at`, so a lease renewed every 15 s costs one index update per
 *   lease length, not one per renewal. The database keeps it at or before the lease end, whoever
 *   writes the lease (the trigger `alert_instances_lease_check`, which sets it to the lease end
 *   when it is missing or later): an older release that knows nothing of the column keeps working
 *   beside this one. Its WHEN clause is false for a renewal (the lease only grows), so a renewal
 *   calls no trigger function.
 * - `alert_groups.last_occurrence` loses its index: the console's newest-first lists sort the rows
 *   they already read to count them, and retention's hourly pass over groups reads the table.
 * - `alert_instances` gets fillfactor 50 (`alert_groups` has 45): episodes stored together are
 *   re-sent together, and a statement renewing every row of a page needs room on that page for a
 *   second version of each (the first ones cannot be pruned before it commits). At 100, about
 *   half the renewals moved to another page, with entries in every index.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_instances add column lease_check_at timestamptz`.execute(db);
  await sql`update alert_instances set lease_check_at = lease_ends_at where status = 'firing' and lease_ends_at is not null`.execute(db);
  await sql`create function alert_instances_lease_check() returns trigger language plpgsql as $$
    begin
      new.lease_check_at := new.lease_ends_at;
      return new;
    end $$`.execute(db);
  await sql`create trigger alert_instances_lease_check before insert or update of status, lease_ends_at, lease_check_at on alert_instances
    for each row when (new.status = 'firing' and new.lease_ends_at is not null and (new.lease_check_at is null or new.lease_check_at > new.lease_ends_at))
    execute function alert_instances_lease_check()`.execute(db);
  await sql`create index alert_instances_lease_check_idx on alert_instances (lease_check_at) where status = 'firing' and lease_check_at is not null`.execute(
    db,
  );
  await sql`drop index if exists alert_instances_open_lease_idx`.execute(db);
  await sql`drop index if exists alert_groups_last_occurrence_idx`.execute(db);
  await sql`alter table alert_instances set (fillfactor = 50)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table alert_instances reset (fillfactor)`.execute(db);
  await sql`create index if not exists alert_groups_last_occurrence_idx on alert_groups (last_occurrence)`.execute(db);
  await sql`create index if not exists alert_instances_open_lease_idx on alert_instances (lease_ends_at) where status = 'firing' and lease_ends_at is not null`.execute(
    db,
  );
  await sql`drop index if exists alert_instances_lease_check_idx`.execute(db);
  await sql`drop trigger if exists alert_instances_lease_check on alert_instances`.execute(db);
  await sql`drop function if exists alert_instances_lease_check()`.execute(db);
  await sql`alter table alert_instances drop column lease_check_at`.execute(db);
}
