import { randomUUID } from 'node:crypto';
import { applyExpiry, groupStateOf, writeChanges, type GroupState, type MadeChange, type OutboxEvent } from '@sentryhub/alert-state';
import { activeSilences, anyId, type AlertGroup, type AlertInstance, type Database } from '@sentryhub/db';
import type { Messaging } from '@sentryhub/messaging';
import { Counter, type Logger, type Registry } from '@sentryhub/service-runtime';
import { sql, type Kysely } from 'kysely';
import { DEFAULT_RELAY_OPTIONS, heldEvent, relayOutbox, type RelayOptions } from './outbox-relay';

/** Episodes expired per transaction; a longer backlog is worked off in further rounds at once. */
export const LEASE_EXPIRY_BATCH = 500;
/** Renewed leases whose check moves up to their lease end per round; a longer backlog takes further rounds. */
export const REARM_BATCH = 5_000;
/** Rounds of one tick at most (a storm of expiries must not starve the rest of the loop). */
const MAX_ROUNDS_PER_TICK = 20;

/**
 * One round of lease expiry. Due episodes are found by `lease_check_at` (the partial index
 * `alert_instances_lease_check_idx`), a time at or before the lease end: a renewal moves only
 * `lease_ends_at`, so that it stays a HOT update, and the round first moves the check of up to
 * REARM_BATCH due episodes whose lease was renewed up to their lease end (or clears it, the lease
 * gone), taking only rows nobody else holds (`SKIP LOCKED`: it never waits, so it cannot deadlock
 * with a batch). Then, when a due lease has ended, in one transaction: up to `limit` open
 * episodes whose lease ended by `now`, earliest check first, and their groups, all locked `FOR
 * UPDATE SKIP LOCKED` (rows another replica's round holds are left to it, so concurrent rounds
 * take disjoint episodes; a group that a batch or a manual resolve holds is left for the next
 * round: expiry never waits for a lock, so it cannot deadlock with them, which take the group
 * first); their open episodes read again under that lock, expired by the state machine (endsAt =
 * the lease end, resolution type `expired`), written back and their `alert.processed.resolved`
 * event put in the outbox, exactly as a batch of alerts does. A lease renewed meanwhile, or an
 * episode another replica expired first, is seen under the lock and left alone: each episode
 * expires once.
 */
export async function expireLeases(
  db: Kysely<Database>,
  now = new Date(),
  limit = LEASE_EXPIRY_BATCH,
): Promise<{ events: OutboxEvent[]; candidates: number; expired: number; rearmed: number }> {
  const at = now.toISOString();
  // An open episode whose lease check is due (the partial index alert_instances_lease_check_idx).
  const checkDue = sql`status = 'firing' and lease_check_at <= ${at}::timestamptz`;
  // One statement, outside any transaction: moves the check of renewed leases up to their end
  // (or clears it, the lease gone), then says whether any lease has ended. It reads its snapshot
  // from before the update, but a renewed lease has not ended either way. Idle, it is one look
  // into the index.
  const { rows } = await sql<{ rearmed: number; ended: boolean }>`
    with renewed as (
      update alert_instances i set lease_check_at = i.lease_ends_at
      from (select id from alert_instances
            where ${checkDue} and (lease_ends_at is null or lease_ends_at > ${at}::timestamptz)
            order by lease_check_at limit ${REARM_BATCH} for update skip locked) as due
      where i.id = due.id
      returning 1
    )
    select (select count(*) from renewed)::int as rearmed,
           exists (select 1 from alert_instances where ${checkDue} and lease_ends_at <= ${at}::timestamptz) as ended`.execute(db);
  const rearmed = rows[0]?.rearmed ?? 0;
  if (!rows[0]?.ended) return { events: [], candidates: 0, expired: 0, rearmed };
  const batchId = `lease-expiry:${randomUUID()}`;
  return db.transaction().execute(async (trx) => {
    const due = await sql<AlertGroup & { candidates: string }>`
      with due as (
        select group_id from alert_instances
        where ${checkDue} and lease_ends_at <= ${at}::timestamptz
        order by lease_check_at
        limit ${limit}
        for update skip locked
      )
      select g.*, (select count(*) from due) as candidates from alert_groups g
      where g.id in (select group_id from due)
      order by g.fingerprint
      for update of g skip locked`.execute(trx);
    const candidates = Number(due.rows[0]?.candidates ?? 0);
    if (due.rows.length === 0) return { events: [], candidates, expired: 0, rearmed };

    const silences = await activeSilences(trx, now);
    const ids = due.rows.map((row) => row.id);
    const open = await trx.selectFrom('alert_instances').selectAll().where('group_id', '=', anyId(ids)).where('status', '=', 'firing').execute();
    const instancesOf = new Map<number, AlertInstance[]>();
    for (const row of open) instancesOf.set(row.group_id, [...(instancesOf.get(row.group_id) ?? []), row]);

    const groups: GroupState[] = [];
    const rows = new Map<string, AlertGroup>();
    const made: MadeChange[] = [];
    for (const { candidates: _count, ...row } of due.rows) {
      const group = groupStateOf(row, instancesOf.get(row.id) ?? []);
      const transitions = applyExpiry(group, now);
      if (transitions.length === 0) continue;
      groups.push(group);
      rows.set(row.fingerprint, row);
      for (const transition of transitions) made.push({ fingerprint: row.fingerprint, transition, correlationId: batchId });
    }
    const events = await writeChanges(trx, batchId, groups, rows, made, silences, now);
    return { events, candidates, expired: made.length, rearmed };
  });
}

export interface LeaseExpiryOptions {
  /** How often due leases are looked for (LEASE_EXPIRY_INTERVAL_MS). */
  intervalMs: number;
  /** Episodes per transaction; LEASE_EXPIRY_BATCH by default. */
  batchSize?: number;
  relay?: RelayOptions;
  registry?: Registry;
}

/** The counter of episodes expired, once per registry. */
const countersByRegistry = new WeakMap<Registry, Counter>();
function expiredCounter(registry: Registry): Counter {
  const known = countersByRegistry.get(registry);
  if (known) return known;
  const counter = new Counter({
    name: 'sentryhub_processor_leases_expired_total',
    help: 'Episodes resolved because their lease ran out without a re-send (resolution type expired)',
    registers: [registry],
  });
  countersByRegistry.set(registry, counter);
  return counter;
}

/**
 * Every `intervalMs`, expires the episodes whose lease has ended and publishes their events from
 * the outbox (a publish that fails is left to the outbox sweeper: never lost). Safe with several
 * replicas (see expireLeases). A tick that outlasts the interval is not overlapped. Returns a
 * stop function that waits for the tick under way.
 */
export function startLeaseExpiry(
  db: Kysely<Database>,
  messaging: Pick<Messaging, 'publish'>,
  logger: Logger,
  options: LeaseExpiryOptions,
): () => Promise<void> {
  const limit = options.batchSize ?? LEASE_EXPIRY_BATCH;
  const relay = options.relay ?? DEFAULT_RELAY_OPTIONS;
  const expired = options.registry ? expiredCounter(options.registry) : null;
  let failing = false;
  let stopped = false;

  const tick = async (): Promise<void> => {
    for (let round = 0; round < MAX_ROUNDS_PER_TICK && !stopped; round++) {
      const result = await expireLeases(db, new Date(), limit);
      if (failing) logger.info('lease expiry recovered');
      failing = false;
      if (result.expired > 0) {
        expired?.inc(result.expired);
        logger.info(
          { expired: result.expired, instances: result.events.flatMap((event) => event.payload.changes.map((change) => change.instance.id)) },
          'leases expired: episodes resolved (expired)',
        );
        const held = result.events.map(heldEvent);
        await relayOutbox(db, messaging, { events: held }, relay).catch((error: unknown) =>
          logger.warn({ err: error }, 'expiry events stored but not yet published; the outbox relay will publish them'),
        );
      }
      // A full round may leave more due: go on at once; otherwise wait for the next tick.
      if (result.candidates < limit && result.rearmed < REARM_BATCH) return;
    }
  };

  let running: Promise<void> = Promise.resolve();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = tick()
      .catch((error: unknown) => {
        // Logged once per outage (a database down fails every tick), and again when it recovers.
        if (!failing) logger.warn({ err: error }, 'lease expiry failed; retrying every tick');
        failing = true;
      })
      .finally(() => (busy = false));
  }, options.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
