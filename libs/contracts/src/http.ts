import { z } from 'zod';

/** The error shape of every HTTP API (docs/contracts.md §3.1). */
export const ErrorIssue = z.object({ path: z.string(), message: z.string() });
export const ErrorResponse = z.object({
  error: z.string(),
  issues: z.array(ErrorIssue).optional(),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/** An alert of the request that was refused on its own (it broke an intake bound); the others were accepted. */
export const RejectedAlertResponse = z.object({
  /** Its index in the request's alerts (0 for a single alert). */
  index: z.number().int().nonnegative(),
  /** What is wrong with it, naming the field. */
  reason: z.string(),
  /** The bound it broke, as counted in the metrics (`label_count`, `starts_in_future`, ...). */
  bound: z.string(),
});

/**
 * 202 from the intake routes: sent only after the broker confirmed the publish. `rejected` lists
 * the alerts refused on their own (absent when there is none).
 */
export const AcceptedResponse = z.object({
  accepted: z.number().int(),
  id: z.string(),
  rejected: z.array(RejectedAlertResponse).optional(),
});
export type AcceptedResponse = z.infer<typeof AcceptedResponse>;

/** Turns zod issues into the `issues` of the error shape: a dotted path and a message. */
export function toErrorIssues(error: z.ZodError): z.infer<typeof ErrorIssue>[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}
