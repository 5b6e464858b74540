import { z } from 'zod';
import { LabelSet, Rfc3339 } from './alertmanager';

export const Severity = z.enum(['critical', 'warning', 'info']);
export type Severity = z.infer<typeof Severity>;

/**
 * How an episode ended: `normal` (its resolved event), `inferred` (a later episode replaced it),
 * `manual` (resolved in the console or API), `expired` (its lease ran out without renewal).
 */
export const ResolutionType = z.enum(['normal', 'inferred', 'manual', 'expired']);
export type ResolutionType = z.infer<typeof ResolutionType>;

export const GroupSnapshot = z.object({
  id: z.number().int(),
  fingerprint: z.string(),
  name: z.string(),
  labels: LabelSet,
  severity: Severity,
  instance: z.string().nullable(),
  source: z.string(),
  status: z.enum(['firing', 'resolved']),
  firingCount: z.number().int(),
  silenced: z.boolean(),
  silencedUntil: Rfc3339.nullable(),
  acknowledged: z.boolean(),
});
export type GroupSnapshot = z.infer<typeof GroupSnapshot>;

export const InstanceSnapshot = z.object({
  id: z.number().int(),
  status: z.enum(['firing', 'resolved']),
  startsAt: Rfc3339,
  endsAt: Rfc3339.nullable(),
  annotations: LabelSet,
  generatorURL: z.string().nullable(),
  resolutionType: ResolutionType.nullable(),
});
export type InstanceSnapshot = z.infer<typeof InstanceSnapshot>;

export const ChangeKind = z.enum(['created', 'resolved', 'refired']);
export type ChangeKind = z.infer<typeof ChangeKind>;

export const AlertChange = z.object({
  group: GroupSnapshot,
  instance: InstanceSnapshot,
  change: ChangeKind,
  /** The correlation id of the intake request or message that caused this change. */
  correlationId: z.string().optional(),
});
export type AlertChange = z.infer<typeof AlertChange>;

/** `alert.processed.<status>`: the changes of one processed batch that share a status. */
export const AlertProcessed = z.object({
  id: z.string().min(1),
  processedAt: Rfc3339,
  status: z.enum(['firing', 'resolved']),
  changes: z.array(AlertChange).min(1),
});
export type AlertProcessed = z.infer<typeof AlertProcessed>;
