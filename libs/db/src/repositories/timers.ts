import type { AlertChange, LabelSet, Severity } from '@sentryhub/contracts';
import { findInhibitingSource, type StoredInhibitRule } from './rules';
import { activeSilences, type ActiveSilenceRow } from './silences';
import { sql, type Kysely } from 'kysely';
import type { Database, NotificationTimer, TimerKind } from '../schema';
import { anyId } from '../prepared-statements';

/**
 * Timers in PostgreSQL, shared by every notifier (Slack, email, webhook): repeats, the end of
 * a silence or an inhibition that held a firing back, escalations (and, later, group flushes)
 * are rows of `notification_timers` with a due time. No timer lives only in a process's memory:
 * each notifier replica runs `timerLoop`, which claims due rows of its notifier with
 * FOR UPDATE SKIP LOCKED about once a second and works on them under a lease.
 *
 * The lease is what makes a crash harmless: claiming sets `leased_until` and commits; the
 * handler then records its notification under the notification's own once-per key (instance,
 * rule, kind, sequence) and sends it through the notifier's exactly-once path, and only then
 * is the timer finished (deleted or moved to its next due time, compare-and-set on the lease).
 * A replica killed in between leaves the timer leased; once the lease has passed another
 * replica takes it, finds the same notification row (sent: nothing to do; pending: sends it)
 * and finishes the timer. Nothing is lost and nothing is sent twice, beyond a receiver that
 * accepted a message whose recording then failed.
 */

export type TimerNotifier = NotificationTimer['notifier'];

export interface TimerDraft {
  kind: TimerKind;
  notifier: TimerNotifier;
  ruleId: number;
  groupId: number | null;
  instanceId: number | null;
  groupKey?: string;
  /** The repeat to send when it is due (1 for the first); 0 for other kinds. */
  sequence?: number;
  dueAt: Date;
}

/** What a handler made of a due timer. */
export type TimerOutcome =
  /** Finished: the timer is deleted. */
  | { action: 'done' }
  /** Due again at `dueAt`, with `sequence` (a repeat moves on to the next one; otherwise unchanged). */
  | { action: 'reschedule'; dueAt: Date; sequence?: number };

/** A timer's identity, as the unique index `notification_timers_once` sees it. */
const timerKey = (draft: TimerDraft) => `${draft.kind}/${draft.notifier}/${draft.ruleId}/${draft.instanceId ?? ''}/${draft.groupKey ?? ''}`;

/**
 * Creates the timers that do not exist yet in one INSERT, in key order; one that exists stays as
 * it is (a redelivered event never pushes a repeat further out).
 */
async function insertTimers(db: Kysely<Database>, drafts: readonly TimerDraft[]): Promise<void> {
  // Key order: two replicas never lock each other's keys crosswise.
  const sorted = drafts
    .map((draft) => ({ draft, key: timerKey(draft) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ draft }) => draft);
  await sql`
    insert into notification_timers (kind, notifier, rule_id, group_id, instance_id, group_key, sequence, due_at)
    select * from unnest(${sorted.map((d) => d.kind)}::text[], ${sorted.map((d) => d.notifier)}::text[], ${sorted.map((d) => d.ruleId)}::bigint[],
                         ${sorted.map((d) => d.groupId)}::bigint[], ${sorted.map((d) => d.instanceId)}::bigint[], ${sorted.map((d) => d.groupKey ?? '')}::text[],
                         ${sorted.map((d) => d.sequence ?? 0)}::int[], ${sorted.map((d) => d.dueAt.toISOString())}::timestamptz[])
    on conflict (kind, notifier, rule_id, instance_id, group_key) do nothing`.execute(db);
}

/** The timers asked for in the current event-loop turn, per database, and who waits for them. */
interface TurnTimers {
  drafts: TimerDraft[];
  waiting: { resolve: () => void; reject: (error: unknown) => void }[];
}
const timersOfTurn = new WeakMap<Kysely<Database>, TurnTimers>();

/**
 * Schedules `drafts` together with every other call of the same event-loop turn on `db`: the
 * changes of an event cost one INSERT, not one a change (each awaited one by one, they also
 * spread the event's notification rows over many turns, and so over many inserts). Inside a
 * transaction the timers are inserted at once, in it.
 */
function scheduleInTurn(db: Kysely<Database>, drafts: readonly TimerDraft[]): Promise<void> {
  if (drafts.length === 0) return Promise.resolve();
  if (db.isTransaction) return insertTimers(db, drafts);
  let turn = timersOfTurn.get(db);
  if (!turn) {
    const started: TurnTimers = { drafts: [], waiting: [] };
    turn = started;
    timersOfTurn.set(db, started);
    setImmediate(() => {
      timersOfTurn.delete(db);
      insertTimers(db, started.drafts).then(
        () => started.waiting.forEach((call) => call.resolve()),
        (error: unknown) => started.waiting.forEach((call) => call.reject(error)),
      );
    });
  }
  turn.drafts.push(...drafts);
  const { waiting } = turn;
  return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
}

export function timerRepo(db: Kysely<Database>) {
  return {
    /**
     * (The lease end is cut to milliseconds: it comes back as a JavaScript Date, and `finish`
     * compares it with what is stored.)
     * Leases up to `limit` due timers of `notifier` for `leaseMs`: those due and not leased,
     * and those whose lease ran out (their replica died). SKIP LOCKED lets replicas share them.
     */
    async claimDue(notifier: TimerNotifier, limit: number, leaseMs: number): Promise<NotificationTimer[]> {
      const result = await sql<NotificationTimer>`
        update notification_timers set leased_until = date_trunc('milliseconds', now() + make_interval(secs => ${leaseMs / 1000})), attempts = attempts + 1, updated_at = now()
        where id in (
          select id from notification_timers
          where notifier = ${notifier} and due_at <= now() and (leased_until is null or leased_until < now())
          order by due_at limit ${limit} for update skip locked)
        returning *`.execute(db);
      return result.rows;
    },

    /**
     * Finishes a claimed timer as the handler said, if this replica still holds its lease
     * (compare-and-set on `leased_until`); false when another replica took it meanwhile.
     */
    async finish(timer: NotificationTimer, outcome: TimerOutcome): Promise<boolean> {
      if (timer.leased_until === null) throw new Error(`timer ${timer.id} was not claimed`);
      if (outcome.action === 'done') {
        const deleted = await db.deleteFrom('notification_timers').where('id', '=', timer.id).where('leased_until', '=', timer.leased_until).executeTakeFirst();
        return Number(deleted.numDeletedRows) > 0;
      }
      const updated = await db
        .updateTable('notification_timers')
        .set({ due_at: outcome.dueAt, sequence: outcome.sequence ?? timer.sequence, leased_until: null, attempts: 0, last_error: null, updated_at: new Date() })
        .where('id', '=', timer.id)
        .where('leased_until', '=', timer.leased_until)
        .executeTakeFirst();
      return Number(updated.numUpdatedRows) > 0;
    },

    /** A handler failed: the timer is tried again after `retryInMs` (its lease is shortened to that). */
    async failed(timer: NotificationTimer, error: string, retryInMs: number): Promise<void> {
      if (timer.leased_until === null) return;
      await db
        .updateTable('notification_timers')
        .set({ leased_until: new Date(Date.now() + retryInMs), last_error: error.slice(0, 2000), updated_at: new Date() })
        .where('id', '=', timer.id)
        .where('leased_until', '=', timer.leased_until)
        .execute();
    },

    /**
     * Schedules each of `timers` (the policy's `timersFor`) for one episode; idempotent. A timer
     * with a `groupKey` (a grouped rule's repeat) is the group's: no instance, one per rule and key.
     * The calls of one event-loop turn share one INSERT.
     */
    async scheduleAll(
      notifier: TimerNotifier,
      timers: readonly { kind: TimerKind; ruleId: number; dueAt: Date; sequence: number; groupKey?: string }[],
      episode: { groupId: number; instanceId: number },
    ): Promise<void> {
      await scheduleInTurn(
        db,
        timers.map((timer) =>
          timer.groupKey === undefined
            ? { ...timer, notifier, groupId: episode.groupId, instanceId: episode.instanceId }
            : { ...timer, notifier, groupId: null, instanceId: null, groupKey: timer.groupKey },
        ),
      );
    },

    /** A group's rows wait for its flush: at `groupWait` after the first, at `groupInterval` after a message (the timer exists then). */
    async scheduleGroupFlush(notifier: TimerNotifier, rule: { id: number; groupWaitMs: number }, groupKey: string): Promise<void> {
      await scheduleInTurn(db, [
        {
          kind: 'group_flush',
          notifier,
          ruleId: rule.id,
          groupId: null,
          instanceId: null,
          groupKey,
          dueAt: new Date(Date.now() + rule.groupWaitMs),
        },
      ]);
    },

    /** The timers of one instance (tests, the console). */
    async ofInstance(instanceId: number): Promise<NotificationTimer[]> {
      return db.selectFrom('notification_timers').selectAll().where('instance_id', '=', instanceId).orderBy('id').execute();
    },
  };
}

export type TimerRepo = ReturnType<typeof timerRepo>;

/** What `timerLoop` tells about its work (structured, for the notifier's logger). */
export interface TimerLoopLogger {
  info(object: Record<string, unknown>, message: string): void;
  warn(object: Record<string, unknown>, message: string): void;
  debug(object: Record<string, unknown>, message: string): void;
}

export interface TimerLoopOptions {
  db: Kysely<Database>;
  notifier: TimerNotifier;
  /** Works on one due timer; throwing leaves it to be tried again after `retryMs`. */
  handle: (timer: NotificationTimer) => Promise<TimerOutcome>;
  logger: TimerLoopLogger;
  /** How often due timers are looked for; 1000 ms: a timer is worked on about a second after it is due. */
  pollMs?: number;
  /** Timers claimed at once (worked on concurrently). */
  batchSize?: number;
  /** How long a claimed timer is this replica's; longer than any send (the Slack pacer may hold a message for a while). */
  leaseMs?: number;
  /** When a failed timer is tried again. */
  retryMs?: number;
}

export interface TimerLoop {
  /** Claims and works on what is due now, until nothing is; resolves with the number handled. */
  runOnce(): Promise<number>;
  start(): void;
  /** Stops polling and waits for the timers in hand. */
  stop(): Promise<void>;
}

const asMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** A handler's failure that says when to try the timer again (a group send backing off), instead of the loop's `retryMs`. */
export class TimerRetryError extends Error {
  constructor(
    message: string,
    readonly retryInMs: number,
  ) {
    super(message);
    this.name = 'TimerRetryError';
  }
}

/** The poll loop every notifier runs (one per replica); see the top of this file. */
export function timerLoop(options: TimerLoopOptions): TimerLoop {
  const repo = timerRepo(options.db);
  const pollMs = options.pollMs ?? 1000;
  const batchSize = options.batchSize ?? 100;
  const leaseMs = options.leaseMs ?? 5 * 60_000;
  const retryMs = options.retryMs ?? 30_000;
  let timeout: NodeJS.Timeout | null = null;
  let running: Promise<number> | null = null;
  let stopped = true;

  async function work(timer: NotificationTimer): Promise<void> {
    const log = { timerId: timer.id, kind: timer.kind, ruleId: timer.rule_id, instanceId: timer.instance_id, sequence: timer.sequence };
    try {
      const outcome = await options.handle(timer);
      const finished = await repo.finish(timer, outcome);
      if (!finished) options.logger.warn(log, 'timer was taken over by another replica before it was finished (its lease ran out)');
      else options.logger.debug({ ...log, outcome: outcome.action }, 'timer handled');
    } catch (error) {
      const retryInMs = error instanceof TimerRetryError ? error.retryInMs : retryMs;
      options.logger.warn({ ...log, error: asMessage(error), retryInMs }, 'timer failed; it will be tried again');
      await repo
        .failed(timer, asMessage(error), retryInMs)
        .catch((failure: unknown) =>
          options.logger.warn({ ...log, error: asMessage(failure) }, 'could not record the failure of a timer; its lease will run out'),
        );
    }
  }

  async function runOnce(): Promise<number> {
    let handled = 0;
    for (;;) {
      const due = await repo.claimDue(options.notifier, batchSize, leaseMs);
      await Promise.all(due.map(work));
      handled += due.length;
      if (due.length < batchSize || stopped) return handled;
    }
  }

  function schedule(): void {
    if (stopped) return;
    timeout = setTimeout(() => {
      timeout = null;
      running = runOnce();
      running
        .catch((error: unknown) => options.logger.warn({ error: asMessage(error) }, 'timer poll failed; trying again'))
        .finally(() => {
          running = null;
          schedule();
        });
    }, pollMs);
  }

  return {
    runOnce,
    start() {
      if (!stopped) return;
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      if (timeout) clearTimeout(timeout);
      timeout = null;
      await running?.catch(() => undefined);
    },
  };
}

/** An episode as a timer handler sees it now: the group and instance in the shape of an `alert.processed` change. */
export interface EpisodeNow {
  change: AlertChange;
  /** Whether this instance is the group's newest one (an older episode never fires again). */
  latest: boolean;
}

const iso = (value: Date | null) => (value === null ? null : value.toISOString());

/**
 * The episode of `instanceId` now, as a change (`change: 'created'`) that templates and the
 * policy understand; `silenced` is left false for the caller to decide from the silences.
 * Null when the instance is gone (retention).
 */
export async function readEpisode(db: Kysely<Database>, instanceId: number): Promise<EpisodeNow | null> {
  return (await readEpisodes(db, [instanceId])).get(instanceId) ?? null;
}

/** The episodes of several instances in one query (a group's message), by instance id; gone ones are left out. */
export async function readEpisodes(db: Kysely<Database>, instanceIds: readonly number[]): Promise<Map<number, EpisodeNow>> {
  const found = new Map<number, EpisodeNow>();
  if (instanceIds.length === 0) return found;
  const rows = await db
    .selectFrom('alert_instances as i')
    .innerJoin('alert_groups as g', 'g.id', 'i.group_id')
    .select([
      'i.id as instanceId',
      'i.status as instanceStatus',
      'i.starts_at',
      'i.ends_at',
      'i.annotations',
      'i.generator_url',
      'i.resolution_type',
      'g.id as groupId',
      'g.fingerprint',
      'g.name',
      'g.labels',
      'g.severity',
      'g.instance',
      'g.source',
      'g.current_status',
      'g.firing_count',
      'g.acknowledged',
    ])
    .select((eb) =>
      eb
        .selectFrom('alert_instances as newer')
        .select('newer.id')
        .whereRef('newer.group_id', '=', 'i.group_id')
        .whereRef('newer.id', '>', 'i.id')
        .limit(1)
        .as('newerId'),
    )
    .where('i.id', '=', anyId([...new Set(instanceIds)]))
    .execute();
  for (const row of rows) {
    found.set(row.instanceId, {
      latest: row.newerId === null,
      change: {
        group: {
          id: row.groupId,
          fingerprint: row.fingerprint,
          name: row.name,
          labels: row.labels,
          severity: row.severity as Severity,
          instance: row.instance,
          source: row.source,
          status: row.current_status,
          firingCount: row.firing_count,
          silenced: false,
          silencedUntil: null,
          acknowledged: row.acknowledged,
        },
        instance: {
          id: row.instanceId,
          status: row.instanceStatus,
          startsAt: row.starts_at.toISOString(),
          endsAt: iso(row.ends_at),
          annotations: row.annotations,
          generatorURL: row.generator_url,
          resolutionType: row.resolution_type,
        },
        change: 'created',
      },
    });
  }
  return found;
}

/** An episode as a due timer must judge it (libs/rules `EpisodeState`, `timerVerdict`). */
export interface TimerEpisode {
  change: AlertChange;
  firing: boolean;
  acknowledged: boolean;
  silence: { silenced: boolean; until: Date | null };
  /** The first inhibition that holds it now, or null. */
  inhibition: { ruleId: number; ruleName: string | null; sourceGroupId: number } | null;
}

/** What judging an episode needs of the pure policy (libs/rules), handed in: libs/db does not decide. */
export interface TimerEpisodeDeps {
  inhibitRules: () => Promise<StoredInhibitRule[]>;
  silenceState: (silences: readonly ActiveSilenceRow[], labels: LabelSet, now: Date) => { silenced: boolean; until: Date | null };
  predicates: Parameters<typeof findInhibitingSource>[3];
  /** The silences active at `now`; read from the table each time when not given (see `recentSilences`). */
  silences?: (now: Date) => Promise<ActiveSilenceRow[]>;
}

/**
 * The active silences, read at most once per `ttlMs` (concurrent callers share a read): a
 * loop working on many due timers reads the silences table once, not once per timer. A silence
 * deleted or expired is seen at most `ttlMs` late; each is still checked against `now`.
 */
export function recentSilences(db: Kysely<Database>, ttlMs = 500): (now: Date) => Promise<ActiveSilenceRow[]> {
  let cache: { rows: Promise<ActiveSilenceRow[]>; at: number } | null = null;
  return (now: Date) => {
    if (!cache || Date.now() - cache.at >= ttlMs) {
      const rows = activeSilences(db, now);
      cache = { rows, at: Date.now() };
      rows.catch(() => {
        cache = null;
      });
    }
    return cache.rows;
  };
}

/**
 * The episode of a due timer now, with what may hold it back: the silences that hold at `now`
 * and the first inhibition (read only for a firing, unsilenced episode). Null when the
 * instance is gone. Every notifier's timer handler starts here.
 */
export async function timerEpisode(db: Kysely<Database>, instanceId: number, deps: TimerEpisodeDeps, now: Date): Promise<TimerEpisode | null> {
  return (await timerEpisodes(db, [instanceId], deps, now)).get(instanceId) ?? null;
}

/** `timerEpisode` for several instances (a group's repeat): one read of the episodes and of the silences. */
export async function timerEpisodes(
  db: Kysely<Database>,
  instanceIds: readonly number[],
  deps: TimerEpisodeDeps,
  now: Date,
): Promise<Map<number, TimerEpisode>> {
  const episodes = await readEpisodes(db, instanceIds);
  const judged = new Map<number, TimerEpisode>();
  const anyFiring = [...episodes.values()].some((episode) => episode.latest && episode.change.instance.status === 'firing');
  const silences = anyFiring ? await (deps.silences ?? ((at: Date) => activeSilences(db, at)))(now) : [];
  const inhibitRules = anyFiring ? await deps.inhibitRules() : [];
  for (const [instanceId, episode] of episodes) {
    const { change } = episode;
    const firing = episode.latest && change.instance.status === 'firing';
    const silence = firing ? deps.silenceState(silences, change.group.labels, now) : { silenced: false, until: null };
    let inhibition: TimerEpisode['inhibition'] = null;
    if (firing && !silence.silenced && inhibitRules.length > 0) {
      const found = await findInhibitingSource(db, inhibitRules, { groupId: change.group.id, labels: change.group.labels }, deps.predicates);
      if (found) inhibition = { ruleId: found.rule.id, ruleName: found.rule.name, sourceGroupId: found.sourceGroupId };
    }
    judged.set(instanceId, { change, firing, acknowledged: change.group.acknowledged, silence, inhibition });
  }
  return judged;
}

/** What `dueTimerEpisode` asks of the notifier: its rules, the pure policy's verdict (libs/rules `timerVerdict`), what it tells. */
export interface DueTimerOptions<R extends { id: number }> {
  /** The notifier's active rules. */
  rules: () => Promise<R[]>;
  episode: TimerEpisodeDeps;
  /** The verdict on the episode now (libs/rules `timerVerdict` for the timer's kind). */
  verdict: (episode: TimerEpisode, now: Date) => { action: 'drop'; reason: string } | { action: 'wait'; until: Date } | { action: 'tell' };
  /** What the notifier tells, for the log line of a timer that ends without it ("a message", "an email", "a post"). */
  told: string;
  logger: Pick<TimerLoopLogger, 'debug'>;
}

/** A due repeat, escalation or silence end to tell now: its rule (with the other active rules, for an escalation) and episode. */
export interface DueTimerEpisode<R> {
  rule: R;
  rules: R[];
  change: AlertChange;
  now: Date;
}

/** What a notifier tells of a due timer: the rule it goes under (`target`: the `escalateTo` rule for an escalation, else the timer's rule). */
export interface DueTimerTell<R> {
  rule: R;
  target: R;
  change: AlertChange;
  now: Date;
}

/**
 * Where every notifier's handler of a repeat, an escalation or a silence end starts: the
 * timer's rule (gone or inactive: the timer ends), its episode now (none or gone: the timer
 * ends) and the verdict on it: `{ outcome }` when the timer ends or waits, else what to tell.
 */
export async function dueTimerEpisode<R extends { id: number }>(
  db: Kysely<Database>,
  timer: Pick<NotificationTimer, 'rule_id' | 'instance_id'>,
  options: DueTimerOptions<R>,
): Promise<{ outcome: TimerOutcome } | DueTimerEpisode<R>> {
  if (timer.instance_id === null) return { outcome: { action: 'done' } };
  const rules = await options.rules();
  const rule = rules.find((candidate) => candidate.id === timer.rule_id);
  if (!rule) {
    options.logger.debug({}, 'the rule is gone or inactive; timer dropped');
    return { outcome: { action: 'done' } };
  }
  const now = new Date();
  const episode = await timerEpisode(db, timer.instance_id, options.episode, now);
  if (!episode) return { outcome: { action: 'done' } };
  const verdict = options.verdict(episode, now);
  if (verdict.action === 'drop') {
    options.logger.debug({ reason: verdict.reason }, `timer ends without ${options.told}`);
    return { outcome: { action: 'done' } };
  }
  if (verdict.action === 'wait') return { outcome: { action: 'reschedule', dueAt: verdict.until } };
  return { rule, rules, change: episode.change, now };
}

/** What the pure policy (libs/rules `silenceState`, `inhibitionPredicates`, `timerVerdict`) decides of a due timer, handed in. */
export interface DueTimerPolicy extends Pick<TimerEpisodeDeps, 'silenceState' | 'predicates'> {
  verdict: (
    kind: Exclude<TimerKind, 'group_flush'>,
    episode: TimerEpisode,
    now: Date,
    recheckMs: number,
  ) => ReturnType<DueTimerOptions<{ id: number }>['verdict']>;
}

/** A grouped rule's repeat to tell now: the group's alerts that still fire, unacknowledged and not held back. */
export interface DueGroupRepeat<R> {
  rule: R;
  groupKey: string;
  /** The repeat's number (the timer's `sequence`): each alert's `repeat` row has it. */
  sequence: number;
  /** The alerts to tell again, oldest first (at most the notifier's `limit`). */
  changes: AlertChange[];
  now: Date;
}

/** What a notifier gives `dueTimerHandler` for the repeats of its grouped rules. */
export interface GroupRepeatOptions<R, L> {
  /**
   * The instances whose firing was told under the rule in this group and that still fire (the
   * group's newest episode, not resolved), oldest first, at most `limit`.
   */
  firingsTold: (ruleId: number, groupKey: string, limit: number) => Promise<number[]>;
  /** At most this many alerts in one repeat (the notifier's group message limit). */
  limit: number;
  /** Tells them in one message of the group, through the notifier's exactly-once path; throwing tries the timer again. */
  tell: (due: DueGroupRepeat<R>, log: L, timer: NotificationTimer) => Promise<void>;
}

export interface DueTimerHandlerOptions<
  R extends { id: number; escalateTo: number | null; repeatIntervalMs?: number | null },
  L extends Pick<TimerLoopLogger, 'debug' | 'info' | 'warn'>,
> {
  db: Kysely<Database>;
  /** The notifier's active rules. */
  rules: () => Promise<R[]>;
  inhibitRules: () => Promise<StoredInhibitRule[]>;
  policy: DueTimerPolicy;
  /** How often a held-back firing or a waiting repeat is looked at again, at least. */
  recheckMs: number;
  /** What the notifier tells ("a message", "an email", "a post"). */
  told: string;
  /** Each timer's log is a child of it (timer id, kind, rule, instance). */
  logger: { child(bindings: Record<string, unknown>): L };
  /** A group's `group_flush`. */
  flushGroup: (timer: NotificationTimer) => Promise<TimerOutcome>;
  /**
   * A silence end: the firing held back is told now (an ungrouped rule), or joins its group's
   * next message (a grouped rule); then the episode's repeat and escalation timers start.
   */
  tellReleased: (due: DueTimerTell<R>, log: L, timer: NotificationTimer) => Promise<TimerOutcome>;
  /**
   * Tells the episode again under `due.target`: a repeat (the timer's rule, `sequence` the
   * timer's) or an escalation (the `escalateTo` rule, `sequence` 0). What it returns (the
   * delivery's outcome) goes in the log line; throwing tries the timer again.
   */
  tellAgain: (kind: 'repeat' | 'escalation', due: DueTimerTell<R>, sequence: number, log: L) => Promise<unknown>;
  /** The log line of a repeat told ("still firing: told again"). */
  toldAgain: string;
  /** A grouped rule's repeat (a `repeat` timer of a group key, no instance). */
  groupRepeat: GroupRepeatOptions<R, L>;
}

/**
 * Every notifier's timer handler (the `handle` of `timerLoop`): a group flush goes to the
 * notifier's `flushGroup`; a repeat, an escalation or a silence end starts at `dueTimerEpisode`
 * (the silences read at most twice a second, `recentSilences`) and, when there is something to
 * tell now (for an escalation: when its `escalateTo` rule is still active), is told through
 * the notifier's `tellReleased` (a silence end) or `tellAgain` (a repeat, due again after the
 * rule's `repeatInterval`; an escalation, which ends).
 */
export function dueTimerHandler<
  R extends { id: number; escalateTo: number | null; repeatIntervalMs?: number | null },
  L extends Pick<TimerLoopLogger, 'debug' | 'info' | 'warn'>,
>(options: DueTimerHandlerOptions<R, L>): (timer: NotificationTimer) => Promise<TimerOutcome> {
  const silences = recentSilences(options.db);
  const episodeDeps = { inhibitRules: options.inhibitRules, silenceState: options.policy.silenceState, predicates: options.policy.predicates, silences };

  /**
   * A grouped rule's repeat (Alertmanager's `repeat_interval`): one message of the group with
   * every alert whose firing it told and that still fires, unacknowledged, neither silenced nor
   * inhibited (the policy's verdict on each, as for an alert's own repeat); due again after
   * `repeatInterval`. Nothing firing any more, or every alert acknowledged: the group's repeats
   * end (the group's next told firing starts them again). Everything held back now: nothing is
   * told, and the group is looked at again after `repeatInterval`.
   */
  async function groupRepeat(timer: NotificationTimer, log: L): Promise<TimerOutcome> {
    const rule = (await options.rules()).find((candidate) => candidate.id === timer.rule_id);
    if (!rule?.repeatIntervalMs) {
      log.debug({}, 'the rule is gone, inactive or repeats no more; group repeat dropped');
      return { action: 'done' };
    }
    const ids = await options.groupRepeat.firingsTold(rule.id, timer.group_key, options.groupRepeat.limit);
    const now = new Date();
    const episodes = ids.length === 0 ? new Map<number, TimerEpisode>() : await timerEpisodes(options.db, ids, episodeDeps, now);
    const verdicts = ids.flatMap((id) => {
      const episode = episodes.get(id);
      return episode ? [{ episode, verdict: options.policy.verdict('repeat', episode, now, options.recheckMs) }] : [];
    });
    if (verdicts.every(({ verdict }) => verdict.action === 'drop')) {
      log.debug({ alerts: ids.length }, `nothing of the group fires unacknowledged; its repeats end without ${options.told}`);
      return { action: 'done' };
    }
    const changes = verdicts.filter(({ verdict }) => verdict.action === 'tell').map(({ episode }) => episode.change);
    const next = new Date(now.getTime() + rule.repeatIntervalMs);
    if (changes.length === 0) return { action: 'reschedule', dueAt: next };
    await options.groupRepeat.tell({ rule, groupKey: timer.group_key, sequence: timer.sequence, changes, now }, log, timer);
    return { action: 'reschedule', dueAt: next, sequence: timer.sequence + 1 };
  }

  return async (timer) => {
    if (timer.kind === 'group_flush') return options.flushGroup(timer);
    const kind = timer.kind;
    const log = options.logger.child({
      timerId: timer.id,
      timer: kind,
      ruleId: timer.rule_id,
      instanceId: timer.instance_id,
      ...(timer.instance_id === null ? { groupKey: timer.group_key } : {}),
    });
    if (kind === 'repeat' && timer.instance_id === null) return groupRepeat(timer, log);
    const episode = await dueTimerEpisode(options.db, timer, {
      rules: options.rules,
      episode: episodeDeps,
      verdict: (episode, now) => options.policy.verdict(kind, episode, now, options.recheckMs),
      told: options.told,
      logger: log,
    });
    if ('outcome' in episode) return episode.outcome;
    const { rule, rules, change, now } = episode;
    const target = kind !== 'escalation' ? rule : rule.escalateTo === null ? undefined : rules.find((candidate) => candidate.id === rule.escalateTo);
    if (!target) {
      log.warn({ escalateTo: rule.escalateTo }, 'escalation rule is gone or inactive; not escalated');
      return { action: 'done' };
    }
    const due: DueTimerTell<R> = { rule, target, change, now };
    if (kind === 'silence_end') return options.tellReleased(due, log, timer);
    if (kind === 'escalation') {
      const outcome = await options.tellAgain('escalation', due, 0, log);
      log.info({ outcome, escalatedTo: target.id }, 'still firing unacknowledged: escalated');
      return { action: 'done' };
    }
    if (!rule.repeatIntervalMs) return { action: 'done' };
    const outcome = await options.tellAgain('repeat', due, timer.sequence, log);
    log.info({ outcome, sequence: timer.sequence }, options.toldAgain);
    return { action: 'reschedule', dueAt: new Date(now.getTime() + rule.repeatIntervalMs), sequence: timer.sequence + 1 };
  };
}
