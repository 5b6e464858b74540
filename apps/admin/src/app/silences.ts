import type { Silence } from '@sentryhub/db';

export function silenceStateAt(row: Pick<Silence, 'starts_at' | 'ends_at'>, now: Date): 'pending' | 'active' | 'expired' {
  if (now < row.starts_at) return 'pending';
  return now < row.ends_at ? 'active' : 'expired';
}

export function silenceView(row: Silence, now: Date) {
  return {
    id: row.id,
    matchers: row.matchers,
    startsAt: row.starts_at.toISOString(),
    endsAt: row.ends_at.toISOString(),
    createdBy: row.created_by,
    comment: row.comment,
    state: silenceStateAt(row, now),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

