import { EXCHANGES, HEADERS, ROUTING_KEYS, type AlertProcessed } from '@sentryhub/contracts';
import type { Database } from '@sentryhub/db';
import { PublishError, WORK_QUEUES, type Messaging } from '@sentryhub/messaging';
import { Counter, type Logger, type Registry } from '@sentryhub/service-runtime';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { OutboxEvent } from '@sentryhub/alert-state';

interface OutboxRow {
  id: string;
  message_id: string;
  routing_key: string;
  correlation_id: string | null;
  created_at: Date;
  /** How many times the broker refused this row's event before (nack, returned). */
  refusals: number;
  /** The body as stored (JSON text); read back only where the caller does not hold it. */
  payload?: string;
}

/** An event of a batch just committed, its serialised body (and changes) still in memory, not its objects. */
export type HeldEvent = Omit<OutboxEvent, 'payload'> & Pick<AlertProcessed, 'processedAt' | 'status'>;

export function heldEvent({ payload, ...event }: OutboxEvent): HeldEvent {
  return { ...event, processedAt: payload.processedAt, status: payload.status };
}

/** What a part's frame needs besides its changes, each change serialised. */
type SplittableEvent = Pick<HeldEvent, 'processedAt' | 'status' | 'changeBodies'>;

/** For an event read back from the outbox: its body parsed, the changes serialised again. */
function splittable(body: string): SplittableEvent {
  const event = JSON.parse(body) as AlertProcessed;
  return { processedAt: event.processedAt, status: event.status, changeBodies: event.changes.map((change) => JSON.stringify(change)) };
}

export type OutboxSelection =
  | { events: HeldEvent[] }
  | { messageIds: string[] }
  /** Leftovers: rows older than `olderThanMs`, oldest first, after the row `afterId` (a sweep's cursor). */
  | { olderThanMs: number; limit: number; afterId?: number };

/** What becomes of an event the broker refused: its outcome is counted by this. */
export type RelayOutcome = 'published' | 'set_aside' | 'kept';

export interface RelayOptions {
  /** PROCESSOR_EVENT_MAX_BYTES: no `alert.processed` body above it is published; a bigger event is split. */
  maxEventBytes: number;
  /**
   * PROCESSOR_OUTBOX_MAX_REFUSALS: an event the broker refuses (nack, returned) is kept in the
   * outbox for the sweeper until it has been refused this many times, then set aside. A quorum
   * queue without a leader nacks during a failover; the next sweep publishes such an event.
   */
  maxRefusals?: number;
  logger?: Logger;
  /** Counts events by outcome (outboxMetrics). */
  events?: Counter<'outcome'>;
}

/**
 * 256 KiB: a notifier holds up to its prefetch of these delivered (200 x 256 KiB = 50 MiB for the
 * slack-notifier, inside its Deployment's 256 MiB); 4 MiB events let it hold 800 MiB.
 */
export const DEFAULT_EVENT_MAX_BYTES = 256 * 1024;
/** With the 5 s sweep and the 10 s leftover age, about 35 s of refusals: longer than a quorum queue's failover. */
export const DEFAULT_MAX_REFUSALS = 6;
export const DEFAULT_RELAY_OPTIONS: RelayOptions = { maxEventBytes: DEFAULT_EVENT_MAX_BYTES, maxRefusals: DEFAULT_MAX_REFUSALS };

export interface RelayResult {
  /** Rows taken from the outbox (published, set aside or kept). */
  rows: number;
  /** Rows whose every part the broker confirmed. */
  published: number;
  /** Rows the broker refused, set aside in the consumers' dead-letter queues with the reason. */
  setAside: number;
  /** Rows left in the outbox for a later sweep (the broker unreachable, refused fewer than maxRefusals times, or the set-aside failed too). */
  kept: number;
  /** Of those, how many failed only for want of a broker (timeout, disconnected, blocked). */
  unavailable: number;
  /** The highest outbox id among the rows taken, or null: a sweep goes on after it. */
  lastId: number | null;
}

/** The counter of relayed events by outcome, once per registry. */
const countersByRegistry = new WeakMap<Registry, Counter<'outcome'>>();
export function outboxMetrics(registry: Registry): Counter<'outcome'> {
  const known = countersByRegistry.get(registry);
  if (known) return known;
  const counter = new Counter({
    name: 'sentryhub_processor_outbox_events_total',
    help: 'alert.processed events relayed from the outbox: published, set_aside (refused by the broker, in the notifiers\u2019 .dead queues) or kept (left for the next sweep)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  countersByRegistry.set(registry, counter);
  return counter;
}

/** The queues an `alert.processed` event is meant for: where a refused one is set aside. */
const CONSUMER_QUEUES = WORK_QUEUES.filter((queue) => queue.exchange === EXCHANGES.alerts && queue.bindingKeys.includes(ROUTING_KEYS.allAlertsProcessed)).map(
  (queue) => queue.name,
);

/** One message of an event: the event itself, or one part of an event too big for one message. */
interface EventPart {
  messageId: string;
  body: string;
  bytes: number;
}

const byteLength = (text: string) => Buffer.byteLength(text, 'utf8');

/**
 * The event as messages of at most `maxBytes`: itself when it fits, else parts `<id>:1`,
 * `<id>:2`, ... with the same status and processedAt and consecutive runs of its changes. The
 * split depends only on the body and the limit, so a part published again carries the same id.
 * A single change bigger than the limit is a part of its own, over the limit: the caller sets it
 * aside instead of publishing it. `known` is the event's head and changes where the caller still
 * holds them serialised (a batch just stored); without it the body is parsed.
 */
export function splitEvent(messageId: string, body: string, maxBytes: number, known?: SplittableEvent): EventPart[] {
  const bytes = byteLength(body);
  if (bytes <= maxBytes) return [{ messageId, body, bytes }];
  const event = known ?? splittable(body);
  const changes = event.changeBodies;
  // Everything but the changes, with room for the longest part id.
  const frame = (id: string, joined: string) =>
    `{"id":${JSON.stringify(id)},"processedAt":${JSON.stringify(event.processedAt)},"status":${JSON.stringify(event.status)},"changes":[${joined}]}`;
  const overhead = byteLength(frame(`${messageId}:${changes.length}`, ''));
  const runs: string[][] = [];
  let run: string[] = [];
  let runBytes = overhead;
  for (const change of changes) {
    const size = byteLength(change) + 1;
    if (run.length > 0 && runBytes + size > maxBytes) {
      runs.push(run);
      run = [];
      runBytes = overhead;
    }
    run.push(change);
    runBytes += size;
  }
  runs.push(run);
  return runs.map((changesOfPart, index) => {
    const id = `${messageId}:${index + 1}`;
    const partBody = frame(id, changesOfPart.join(','));
    return { messageId: id, body: partBody, bytes: byteLength(partBody) };
  });
}

/** The broker is away (or blocking): the event is kept for later, not set aside. */
const brokerUnavailable = (error: unknown) =>
  error instanceof PublishError && (error.reason === 'timeout' || error.reason === 'disconnected' || error.reason === 'blocked');

/** The broker refused this very message (nack, unroutable, a channel error such as its size): retrying it changes nothing. */
const refused = (error: unknown) => error instanceof PublishError && (error.reason === 'error' || error.reason === 'returned');

const reasonOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Publishes outbox rows (confirmed) and deletes them in one transaction: the DELETE takes the
 * rows' locks (SKIP LOCKED, so a processor publishing its own batch and a relay sweeping for
 * leftovers never publish the same row twice) and the publishes happen while it is open. Each
 * row ends on its own:
 * - every part confirmed: it stays deleted;
 * - refused by the broker (nack, unroutable, too large for it) fewer than `maxRefusals` times
 *   in all: the row is put back with its `refusals` count raised, for a later sweep (a quorum
 *   queue without a leader nacks during a failover; the count lives in the row, so a restart
 *   does not reset it);
 * - refused for the `maxRefusals`-th time, or a change alone over `maxEventBytes`: the message
 *   is set aside, a copy in each consumer's `<queue>.dead` with `x-error` (the admin's dead
 *   letters show it and can replay it), and the row stays deleted;
 * - the broker unreachable, or the set-aside refused too: the row is put back as it was (its
 *   refusals counted), for a later sweep, and the others still go.
 * A crash after a confirm and before the commit publishes the event again with the same message
 * id(s); consumers are idempotent. Events whose bodies the caller holds (`events`) are published
 * from memory: their payloads are not read back.
 */
export async function relayOutbox(
  db: Kysely<Database>,
  messaging: Pick<Messaging, 'publish'>,
  select: OutboxSelection,
  options: RelayOptions = DEFAULT_RELAY_OPTIONS,
): Promise<RelayResult> {
  const held = 'events' in select ? new Map(select.events.map((event) => [event.messageId, event])) : null;
  const returning = held
    ? sql`id, message_id, routing_key, correlation_id, created_at, refusals`
    : sql`id, message_id, routing_key, correlation_id, created_at, refusals, payload`;
  return db.transaction().execute(async (trx) => {
    const rows = (
      await sql<OutboxRow>`
        delete from alert_outbox where id in (select id from alert_outbox where ${rowsOf(select)} for update skip locked)
        returning ${returning}`.execute(trx)
    ).rows;
    const withBodies = rows.map((row) => {
      const event = held?.get(row.message_id);
      const body = held ? event?.body : row.payload;
      // Nothing to publish or to put back: roll everything back, as it was.
      if (body === undefined) throw new Error(`outbox row ${row.message_id} has no body to publish`);
      return { row, body, event };
    });
    const outcomes = await Promise.all(withBodies.map(({ row, body, event }) => relayRow(messaging, row, body, options, event)));
    const kept = withBodies.filter((_, index) => outcomes[index]?.outcome === 'kept');
    if (kept.length > 0) {
      // Back as they were (same id, same age, this attempt's refusals counted): a later sweep takes them again.
      const refusals = withBodies
        .map(({ row }, index) => row.refusals + (outcomes[index]?.refused ? 1 : 0))
        .filter((_, index) => outcomes[index]?.outcome === 'kept');
      await sql`
        insert into alert_outbox (id, message_id, routing_key, correlation_id, payload, created_at, refusals)
        select * from unnest(${kept.map(({ row }) => row.id)}::bigint[], ${kept.map(({ row }) => row.message_id)}::text[], ${kept.map(({ row }) => row.routing_key)}::text[],
                             ${kept.map(({ row }) => row.correlation_id)}::text[], ${kept.map(({ body }) => body)}::text[], ${kept.map(({ row }) => row.created_at.toISOString())}::timestamptz[],
                             ${refusals}::int[])`.execute(trx);
    }
    const count = (outcome: RelayOutcome) => outcomes.filter((result) => result.outcome === outcome).length;
    for (const outcome of ['published', 'set_aside', 'kept'] as const) if (count(outcome) > 0) options.events?.inc({ outcome }, count(outcome));
    return {
      rows: rows.length,
      published: count('published'),
      setAside: count('set_aside'),
      kept: kept.length,
      unavailable: outcomes.filter((result) => result.outcome === 'kept' && result.unavailable).length,
      lastId: rows.reduce<number | null>((last, { id }) => Math.max(last ?? 0, Number(id)), null),
    };
  });
}

type RowOutcome = { outcome: RelayOutcome; unavailable?: boolean; refused?: boolean };

/**
 * Publishes one row's event (in parts when it is too big). What the broker refuses is kept for a
 * later sweep until the row's `maxRefusals`-th refusal, then set aside; `refused` says this
 * attempt was refused, so that the row's count goes up.
 */
async function relayRow(
  messaging: Pick<Messaging, 'publish'>,
  row: OutboxRow,
  body: string,
  options: RelayOptions,
  held?: SplittableEvent,
): Promise<RowOutcome> {
  const correlationId = row.correlation_id ?? row.message_id;
  const maxRefusals = options.maxRefusals ?? DEFAULT_MAX_REFUSALS;
  const refusal = row.refusals + 1;
  const parts = splitEvent(row.message_id, body, options.maxEventBytes, held);
  // A large batch's event goes in parts as a matter of course (256 KiB by default): debug, not info.
  if (parts.length > 1)
    options.logger?.debug(
      { messageId: row.message_id, bytes: byteLength(body), parts: parts.length, maxBytes: options.maxEventBytes },
      'event over PROCESSOR_EVENT_MAX_BYTES; published in parts',
    );
  const results = await Promise.all(
    parts.map(async (part): Promise<RowOutcome> => {
      let reason: string;
      if (part.bytes > options.maxEventBytes) {
        reason = `one change of the event is ${part.bytes} bytes, over PROCESSOR_EVENT_MAX_BYTES (${options.maxEventBytes}); not published`;
      } else {
        try {
          await messaging.publish(EXCHANGES.alerts, row.routing_key, Buffer.from(part.body), { messageId: part.messageId, correlationId });
          return { outcome: 'published' };
        } catch (error) {
          if (!refused(error)) {
            options.logger?.warn({ err: error, messageId: part.messageId }, 'event not published; kept in the outbox for the next sweep');
            return { outcome: 'kept', unavailable: brokerUnavailable(error) };
          }
          if (refusal < maxRefusals) {
            options.logger?.warn(
              { err: error, messageId: part.messageId, refusal, maxRefusals },
              'event refused by the broker; kept in the outbox for the next sweep',
            );
            return { outcome: 'kept', refused: true };
          }
          reason = `the broker refused the event (${part.bytes} bytes): ${reasonOf(error)} (refusal ${refusal} of ${maxRefusals} allowed)`;
        }
      }
      return { ...(await setAside(messaging, row, part, correlationId, reason, options)), refused: part.bytes <= options.maxEventBytes };
    }),
  );
  const wasRefused = results.some((result) => result.refused === true);
  // One part kept keeps the row: its parts are published again later, with the same ids.
  const keptPart = results.find((result) => result.outcome === 'kept');
  if (keptPart) return { outcome: 'kept', unavailable: keptPart.unavailable === true && !wasRefused, refused: wasRefused };
  return results.some((result) => result.outcome === 'set_aside') ? { outcome: 'set_aside' } : { outcome: 'published' };
}

/**
 * A copy of the refused message in each consumer's `<queue>.dead`, with why and where it was
 * going: the admin's dead letters list it and replay it once the cause is fixed. Kept in the
 * outbox when even that is refused.
 */
async function setAside(
  messaging: Pick<Messaging, 'publish'>,
  row: OutboxRow,
  part: EventPart,
  correlationId: string,
  reason: string,
  options: RelayOptions,
): Promise<RowOutcome> {
  try {
    await Promise.all(
      CONSUMER_QUEUES.map((queue) =>
        messaging.publish(EXCHANGES.deadLetter, queue, Buffer.from(part.body), {
          messageId: part.messageId,
          correlationId,
          headers: {
            [HEADERS.error]: reason,
            [HEADERS.originalExchange]: EXCHANGES.alerts,
            [HEADERS.originalRoutingKey]: row.routing_key,
            [HEADERS.originalQueue]: queue,
          },
        }),
      ),
    );
    options.logger?.error(
      { messageId: part.messageId, routingKey: row.routing_key, reason, queues: CONSUMER_QUEUES },
      'event set aside in the dead-letter queues',
    );
    return { outcome: 'set_aside' };
  } catch (error) {
    options.logger?.error(
      { err: error, messageId: part.messageId, reason },
      'event refused and could not be set aside; kept in the outbox, retried after the newer events',
    );
    return { outcome: 'kept', unavailable: brokerUnavailable(error) };
  }
}

function rowsOf(select: OutboxSelection): RawBuilder<unknown> {
  if ('events' in select) return sql`message_id = any(${select.events.map((event) => event.messageId)}::text[])`;
  if ('messageIds' in select) return sql`message_id = any(${select.messageIds}::text[])`;
  return sql`created_at < now() - make_interval(secs => ${select.olderThanMs / 1000}) and id > ${select.afterId ?? 0} order by id limit ${select.limit}`;
}
