import { z } from 'zod';
import { Rfc3339 } from './alertmanager';
import { regexError } from './rules';

/** An Alertmanager silence matcher: `=`, `!=`, `=~`, `!~` as isEqual x isRegex. */
export const SilenceMatcher = z
  .object({
    name: z.string().min(1, 'matcher name must not be empty'),
    value: z.string(),
    isEqual: z.boolean().default(true),
    isRegex: z.boolean().default(false),
  })
  .superRefine((matcher, ctx) => {
    const error = matcher.isRegex ? regexError(matcher.value) : null;
    if (error) ctx.addIssue({ code: 'custom', path: ['value'], message: `invalid regular expression "${matcher.value}": ${error}` });
  });
export type SilenceMatcher = z.infer<typeof SilenceMatcher>;

/** A silence as Alertmanager's API takes it. */
export const PostableSilence = z
  .object({
    matchers: z.array(SilenceMatcher).min(1, 'a silence needs at least one matcher'),
    startsAt: Rfc3339,
    endsAt: Rfc3339,
    createdBy: z.string().min(1, 'createdBy is required'),
    comment: z.string().min(1, 'comment is required'),
  })
  .refine((silence) => Date.parse(silence.endsAt) > Date.parse(silence.startsAt), { path: ['endsAt'], message: 'endsAt must be after startsAt' });
export type PostableSilence = z.infer<typeof PostableSilence>;
