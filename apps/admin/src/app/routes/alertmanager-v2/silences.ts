import { PostableSilence } from '@sentryhub/contracts';
import type { Database, Silence } from '@sentryhub/db';
import { matcherMatchesValue, type SilenceMatcher } from '@sentryhub/rules';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { createSilence, expireSilence, silenceStateAt, updateSilence, type SilenceInput, type SilenceWriter } from '../../silences';
import { ApiV2Error, UUID } from './common';

/** A silence as Alertmanager's `GET /api/v2/silences` returns it (`gettableSilence`, API 0.25). */
export interface GettableSilence {
  id: string;
  status: { state: 'expired' | 'active' | 'pending' };
  updatedAt: string;
  comment: string;
  createdBy: string;
  endsAt: string;
  matchers: { isEqual: boolean; isRegex: boolean; name: string; value: string }[];
  startsAt: string;
}

export function gettableSilence(row: Silence, now: Date): GettableSilence {
  return {
    id: row.uuid,
    status: { state: silenceStateAt(row, now) },
    updatedAt: row.updated_at.toISOString(),
    comment: row.comment,
    createdBy: row.created_by,
    endsAt: row.ends_at.toISOString(),
    matchers: row.matchers.map((m) => ({ isEqual: m.isEqual, isRegex: m.isRegex, name: m.name, value: m.value })),
    startsAt: row.starts_at.toISOString(),
  };
}

const STATE_ORDER = { active: 1, pending: 2, expired: 3 } as const;

/** Alertmanager's order: active (next to end first), pending (next to start first), expired (latest end first). */
export function sortSilences(silences: GettableSilence[]): GettableSilence[] {
  const t = (iso: string) => Date.parse(iso);
  return silences.sort((a, b) => {
    if (a.status.state !== b.status.state) return STATE_ORDER[a.status.state] - STATE_ORDER[b.status.state];
    if (a.status.state === 'active') return t(a.endsAt) - t(b.endsAt);
    if (a.status.state === 'pending') return t(a.startsAt) - t(b.startsAt);
    return t(b.endsAt) - t(a.endsAt);
  });
}

/** A filter matches a silence that has a matcher with the same name, operator and value. */
const hasMatcher = (row: Silence, wanted: SilenceMatcher) =>
  row.matchers.some((m) => m.name === wanted.name && m.value === wanted.value && m.isEqual === wanted.isEqual && m.isRegex === wanted.isRegex);

export async function listSilences(
  db: Kysely<Database>,
  filter: { matchers: SilenceMatcher[]; active: boolean; pending: boolean; expired: boolean },
  now = new Date(),
): Promise<GettableSilence[]> {
  const rows = await db.selectFrom('silences').selectAll().execute();
  const kept = rows.filter((row) => filter[silenceStateAt(row, now)] && filter.matchers.every((matcher) => hasMatcher(row, matcher)));
  return sortSilences(kept.map((row) => gettableSilence(row, now)));
}

export async function silenceByUuid(db: Kysely<Database>, id: string): Promise<Silence | undefined> {
  if (!UUID.test(id)) throw new ApiV2Error(422, `silenceID in path must be of type uuid: ${JSON.stringify(id)}`);
  return db.selectFrom('silences').selectAll().where('uuid', '=', id).executeTakeFirst();
}

/** `postableSilence`: the silence, and the `id` of the one it updates. */
const PostableSilenceV2 = z.object({ id: z.string().optional() }).and(PostableSilence);

const issuesText = (error: z.ZodError) => error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`).join('; ');

/** Alertmanager refuses a silence that would mute every alert: one matcher must not match "". */
const matchesEmpty = (matcher: SilenceMatcher) => matcherMatchesValue(matcher, '');

const sameMatchers = (a: readonly SilenceMatcher[], b: readonly SilenceMatcher[]) =>
  a.length === b.length && a.every((m, i) => m.name === b[i]?.name && m.value === b[i]?.value && m.isEqual === b[i]?.isEqual && m.isRegex === b[i]?.isRegex);

/**
 * Alertmanager's rule for an update: in place when the matchers are the same and an active
 * silence keeps its start and does not end in the past, or a pending one does not start in the
 * past; otherwise the old silence is expired and a new one (new id) replaces it.
 */
function canUpdateInPlace(current: Silence, next: SilenceInput & { startsAt: Date; endsAt: Date }, now: Date): boolean {
  if (!sameMatchers(current.matchers, next.matchers)) return false;
  const state = silenceStateAt(current, now);
  if (state === 'active') return next.startsAt.getTime() === current.starts_at.getTime() && next.endsAt.getTime() >= now.getTime();
  if (state === 'pending') return next.startsAt.getTime() >= now.getTime();
  return false;
}

/**
 * `POST /api/v2/silences`: create, or update by `id`, as Alertmanager does; answers the id of
 * the silence that now holds the matchers. Writes through the same code as `/api/v1/silences`.
 */
export async function postSilence(writer: SilenceWriter, body: unknown, now = new Date()): Promise<string> {
  const parsed = PostableSilenceV2.safeParse(body);
  if (!parsed.success) throw new ApiV2Error(400, `invalid silence: ${issuesText(parsed.error)}`);
  const silence = parsed.data;
  if (silence.matchers.every(matchesEmpty)) throw new ApiV2Error(400, 'invalid silence: at least one matcher must not match the empty string');
  const endsAt = new Date(silence.endsAt);
  if (endsAt.getTime() <= now.getTime()) throw new ApiV2Error(400, "Failed to create silence: end time can't be in the past");
  const input = { matchers: silence.matchers, startsAt: new Date(silence.startsAt), endsAt, createdBy: silence.createdBy, comment: silence.comment };
  const changes = { ...input, startsAt: silence.startsAt, endsAt: silence.endsAt };

  if (silence.id !== undefined && silence.id !== '') {
    const current = await silenceByUuid(writer.db, silence.id);
    if (!current) throw new ApiV2Error(404, `silence ${silence.id} not found`);
    if (canUpdateInPlace(current, input, now)) {
      const row = await updateSilence(writer, current.id, input, changes);
      if (!row) throw new ApiV2Error(404, `silence ${silence.id} not found`);
      return row.uuid;
    }
    // Replaced: the old one ends now (unless it already has), a new one holds the matchers.
    await expireSilence(writer, current.id, now);
  }
  // A new silence starts no earlier than now, as in Alertmanager.
  if (input.startsAt.getTime() < now.getTime()) input.startsAt = now;
  const row = await createSilence(writer, input, changes);
  return row.uuid;
}

/** `DELETE /api/v2/silence/{id}`: expire it (the row stays, as in Alertmanager). */
export async function deleteSilence(writer: SilenceWriter, id: string, now = new Date()): Promise<void> {
  const row = await silenceByUuid(writer.db, id);
  if (!row) throw new ApiV2Error(404, `silence ${id} not found`);
  const result = await expireSilence(writer, row.id, now);
  if (result === 'not-found') throw new ApiV2Error(404, `silence ${id} not found`);
  if (result === 'already-expired') throw new ApiV2Error(500, `silence ${id} already expired`);
}
