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

class NotAllRenewed extends Error {}

/**
 * A batch of pure lease renewals (what a Prometheus re-sending its active alerts sends) stored in
 * one statement: lock the groups in fingerprint order (the order every writer locks them in),
 * move each open episode's lease as the state machine would (the later of both, none when either
 * has none) and the group's last occurrence. A renewal changes nothing else and publishes no event;
 * none of the columns it writes is indexed (lease expiry reads `lease_check_at`, which a renewal
 * leaves alone), so PostgreSQL keeps both rows on their pages (HOT updates, no index entries).
 * Returns false, having written nothing, when the batch is not made only of renewals of episodes
 * `open` knows, or when the database shows one of them is no longer open: the batch then goes
 * the full way (storeBatch), which also corrects the hint.
 */
export async function renewLeases(db: Kysely<Database>, alerts: readonly BatchAlert[], open: OpenEpisodes): Promise<boolean> {
  const renewals = renewalsOf(alerts, open);
  if (renewals === null || renewals.length === 0) return false;
  try {
    await db.transaction().execute(async (trx) => {
      const result = await sql<{ renewed: number }>`
        with incoming as (
          select * from unnest(${renewals.map((r) => r.fingerprint)}::text[], ${renewals.map((r) => r.startsAt.toISOString())}::timestamptz[],
                               ${renewals.map((r) => iso(r.lease))}::timestamptz[], ${renewals.map((r) => r.seen.toISOString())}::timestamptz[])
            as t(fingerprint, starts_at, lease, seen)
        ), locked as (
          select g.id, t.starts_at, t.lease, t.seen from alert_groups g join incoming t on t.fingerprint = g.fingerprint
          order by g.fingerprint for update of g
        ), renewed as (
          update alert_instances i set lease_ends_at = case when i.lease_ends_at is null or l.lease is null then null else greatest(i.lease_ends_at, l.lease) end
          from locked l where i.group_id = l.id and i.starts_at = l.starts_at and i.status = 'firing'
          returning i.id
        ), seen as (
          update alert_groups g set last_occurrence = greatest(g.last_occurrence, l.seen), first_occurrence = least(g.first_occurrence, l.starts_at)
          from locked l where g.id = l.id
          returning g.id
        )
        select (select count(*) from renewed)::int as renewed`.execute(trx);
      if (result.rows[0]?.renewed !== renewals.length) throw new NotAllRenewed();
    });
    return true;
  } catch (error) {
    if (!(error instanceof NotAllRenewed)) throw error;
    for (const renewal of renewals) open.forget(renewal.fingerprint);
    return false;
  }
}
