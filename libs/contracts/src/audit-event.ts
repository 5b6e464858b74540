import { z } from 'zod';
import { Rfc3339 } from './alertmanager';

/** `audit.<entity>.<action>`: who changed what, and how. */
export const AuditEvent = z.object({
  id: z.string().min(1),
  actor: z.string().min(1),
  entity: z.string().min(1),
  entityId: z.string().nullable(),
  action: z.string().min(1),
  changes: z.record(z.string(), z.unknown()).default({}),
  at: Rfc3339,
});
export type AuditEvent = z.infer<typeof AuditEvent>;
