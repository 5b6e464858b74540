import { randomUUID } from 'node:crypto';
import type { AlertGroup, AlertInstance, Database } from '@sentryhub/db';
import type { ActiveSilence } from '@sentryhub/rules';
import type { Transaction } from 'kysely';
import { groupStateOf, writeChanges, type OutboxEvent } from './batch-store';
import { applyManualResolve } from './state-machine';

export type ManualResolveOutcome =
  | { status: 'resolved'; group: AlertGroup; closed: AlertInstance['id'][]; events: OutboxEvent[] }
  | { status: 'not-found' | 'nothing-open' | 'before-start'; error: string };

export interface ManualResolve {
  groupId: number;
  /** The episodes' end. */
  at: Date;
  /** Carried by the `alert.processed.resolved` event (the admin request's id). */
  correlationId: string;
  /** The active silences at `now`, for the event's snapshot. */
  silences: readonly ActiveSilence[];
  now: Date;
}

/**
 * An operator's resolve, in the caller's transaction: the group is locked as a batch of alerts
 * locks it (a manual resolve and a batch never interleave), its open episodes close at `at` with
 * resolution type `manual` through the state machine, and the changes are written and their
 * `alert.processed.resolved` event put in the outbox exactly as the processor writes its own, so
 * that the notifiers learn of it like any other resolution. Refused, with nothing written, when
 * the group does not exist, has no open episode, or `at` is before an episode started.
 */
export async function resolveGroupManually(
  trx: Transaction<Database>,
  { groupId, at, correlationId, silences, now }: ManualResolve,
): Promise<ManualResolveOutcome> {
  const row = await trx.selectFrom('alert_groups').selectAll().where('id', '=', groupId).forUpdate().executeTakeFirst();
  if (!row) return { status: 'not-found', error: `alert group ${groupId} not found` };
  const open = await trx.selectFrom('alert_instances').selectAll().where('group_id', '=', groupId).where('status', '=', 'firing').execute();
  if (open.length === 0) return { status: 'nothing-open', error: 'nothing to resolve: the group has no open episode' };
  const earliest = open.reduce((min, instance) => (instance.starts_at < min ? instance.starts_at : min), open[0]?.starts_at ?? at);
  if (at < earliest) return { status: 'before-start', error: `resolve time ${at.toISOString()} is before the episode started (${earliest.toISOString()})` };

  const group = groupStateOf(row, open);
  const made = applyManualResolve(group, at).map((transition) => ({ fingerprint: row.fingerprint, transition, correlationId }));
  const events = await writeChanges(trx, randomUUID(), [group], new Map([[row.fingerprint, row]]), made, silences, now);
  const closed = made.flatMap(({ transition }) => (transition.instance.id === null ? [] : [transition.instance.id]));
  return { status: 'resolved', group: { ...row, current_status: group.status, firing_count: group.firingCount }, closed, events };
}
