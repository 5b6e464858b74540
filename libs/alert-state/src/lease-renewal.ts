import type { Database } from '@sentryhub/db';
import { sql, type Kysely } from 'kysely';
import type { BatchAlert } from './batch-store';
import { iso } from './snapshot';
import { leaseOf, renewedLease } from './state-machine';

/** How many groups a processor remembers as open (about 80 bytes each). */
export const DEFAULT_OPEN_EPISODES = 100_000;

/**
 * The episodes this processor last stored as open: for each group fingerprint, the startsAt (ms)
 * of its open episode. A hint, never the truth: another processor, lease expiry or an operator
 * may have closed an episode since, and {@link renewLeases} checks every one in the database.
 * Bounded in two generations of at most half the capacity each: when the newer one is full, the
 * older one is dropped and the newer one takes its place, so a group remembered or looked up
 * recently stays and every operation is one or two map lookups (evicting one entry at a time
 * from a single JavaScript Map costs a scan over the entries deleted before it).
 */
export class OpenEpisodes {
  private newer = new Map<string, number>();
  private older = new Map<string, number>();

  constructor(readonly capacity = DEFAULT_OPEN_EPISODES) {}

  /** Whether the open episode of `fingerprint` was last stored with this startsAt. */
  isOpen(fingerprint: string, startsAtMs: number): boolean {
    const known = this.newer.get(fingerprint);
    if (known !== undefined) return known === startsAtMs;
    const older = this.older.get(fingerprint);
    if (older === undefined) return false;
    // Still in use: carried into the newer generation.
    this.remember(fingerprint, older);
    return older === startsAtMs;
  }

  remember(fingerprint: string, startsAtMs: number): void {
    this.older.delete(fingerprint);
    this.newer.set(fingerprint, startsAtMs);
    if (this.newer.size >= Math.max(1, Math.floor(this.capacity / 2))) {
      this.older = this.newer;
      this.newer = new Map();
    }
  }

  forget(fingerprint: string): void {
    this.newer.delete(fingerprint);
    this.older.delete(fingerprint);
  }

  get size(): number {
    return this.newer.size + this.older.size;
  }
}

/** One group's share of a renewal batch: its episode, the lease it ends with, when it was last seen. */
interface Renewal {
  fingerprint: string;
  startsAt: Date;
  /** The batch's leases folded as the state machine folds them one by one: null once any is null. */
  lease: Date | null;
  seen: Date;
}

/**
 * The batch as renewals, when every alert is a firing re-sent for an episode `open` knows with
 * the same startsAt (one startsAt per group); otherwise null.
 */
function renewalsOf(alerts: readonly BatchAlert[], open: OpenEpisodes): Renewal[] | null {
  const renewals = new Map<string, Renewal>();
  for (const { alert, receivedAt } of alerts) {
    if (alert.status !== 'firing' || !alert.startsAt) return null;
    // Millisecond precision, as episodes are stored.
    const startsAt = new Date(alert.startsAt);
    if (!open.isOpen(alert.fingerprint, startsAt.getTime())) return null;
    const known = renewals.get(alert.fingerprint);
    if (!known) {
      renewals.set(alert.fingerprint, { fingerprint: alert.fingerprint, startsAt, lease: leaseOf(alert), seen: receivedAt });
      continue;
    }
    if (known.startsAt.getTime() !== startsAt.getTime()) return null;
    known.lease = renewedLease(known.lease, leaseOf(alert));
    if (receivedAt > known.seen) known.seen = receivedAt;
  }
  return [...renewals.values()];
}

/**
 * A batch of pure lease renewals (what a Prometheus re-sending its active alerts sends) stored in
 * one statement, outside any transaction (one round trip; a statement is atomic on its own): lock
 * the groups in fingerprint order (the order every writer locks them in), move each open
 * episode's lease as the state machine would (the later of both, none when either has none) and
 * the group's last occurrence. A renewal changes nothing else and publishes no event; none of the
 * columns it writes is indexed (lease expiry reads `lease_check_at`, which a renewal leaves
 * alone), so PostgreSQL keeps both rows on their pages (HOT updates, no index entries).
 *
 * The plan does not depend on PostgreSQL's statistics: each group's open episode is looked up by
 * itself (a lateral subquery with a limit is never turned into a join, so it is one probe of the
 * open-episode index per group), and the episode is then updated by its primary key. With the
 * filter `status = 'firing'` on the updated table instead, statistics taken before a storm of
 * new alerts (a few open episodes) made PostgreSQL read every open episode for each statement.
 * The episode is re-checked as it is when the update reaches it (another writer may have closed
 * it meanwhile): a closed one keeps its lease and its group is not counted as renewed.
 *
 * Returns the alerts still to be stored the full way (storeBatch): all of them, with nothing
 * written, when the batch is not made only of renewals of episodes `open` knows; none when every
 * one was renewed; else the alerts of the groups whose episode the database shows is no longer
 * open (another processor, lease expiry or an operator closed it), which `open` then forgets.
 * What the full way does with those is what it would have done with the whole batch: the groups
 * renewed here are left as it would leave them.
 */
export async function renewLeases(db: Kysely<Database>, alerts: readonly BatchAlert[], open: OpenEpisodes): Promise<readonly BatchAlert[]> {
  const renewals = renewalsOf(alerts, open);
  if (renewals === null || renewals.length === 0) return alerts;
  const result = await sql<{ fingerprint: string }>`
    with incoming as (
      select * from unnest(${renewals.map((r) => r.fingerprint)}::text[], ${renewals.map((r) => r.startsAt.toISOString())}::timestamptz[],
                           ${renewals.map((r) => iso(r.lease))}::timestamptz[], ${renewals.map((r) => r.seen.toISOString())}::timestamptz[])
        as t(fingerprint, starts_at, lease, seen)
    ), locked as (
      select g.id, g.fingerprint, t.starts_at, t.lease, t.seen, episode.id as instance_id
      from incoming t join alert_groups g on g.fingerprint = t.fingerprint
      join lateral (select i.id from alert_instances i where i.group_id = g.id and i.status = 'firing' limit 1) episode on true
      order by g.fingerprint for update of g
    ), renewed as (
      update alert_instances i set lease_ends_at = case
        when i.status <> 'firing' then i.lease_ends_at
        when i.lease_ends_at is null or l.lease is null then null
        else greatest(i.lease_ends_at, l.lease) end
      from locked l where i.id = l.instance_id and i.starts_at = l.starts_at
      returning l.id, l.fingerprint, l.starts_at, l.seen, i.status
    ), seen as (
      update alert_groups g set last_occurrence = greatest(g.last_occurrence, r.seen), first_occurrence = least(g.first_occurrence, r.starts_at)
      from renewed r where g.id = r.id and r.status = 'firing'
      returning g.fingerprint
    )
    select t.fingerprint from incoming t where not exists (select from seen where seen.fingerprint = t.fingerprint)`.execute(db);
  // The groups not renewed (none, nearly always: no row to read back).
  if (result.rows.length === 0) return [];
  const left = new Set(result.rows.map((row) => row.fingerprint));
  for (const fingerprint of left) open.forget(fingerprint);
  return alerts.filter(({ alert }) => left.has(alert.fingerprint));
}
