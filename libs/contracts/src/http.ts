import { z } from 'zod';

/** The error shape of every HTTP API (SPEC section 2). */
export const ErrorIssue = z.object({ path: z.string(), message: z.string() });
export const ErrorResponse = z.object({
  error: z.string(),
  issues: z.array(ErrorIssue).optional(),
});
export type ErrorResponse = z.infer<typeof ErrorResponse>;

/** 202 from the intake routes: sent only after the broker confirmed the publish. */
export const AcceptedResponse = z.object({
  accepted: z.number().int(),
  id: z.string(),
});
export type AcceptedResponse = z.infer<typeof AcceptedResponse>;

/** Turns zod issues into the `issues` of the error shape: a dotted path and a message. */
export function toErrorIssues(error: z.ZodError): z.infer<typeof ErrorIssue>[] {
  return error.issues.map((issue) => ({
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}
