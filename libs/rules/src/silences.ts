import type { LabelSet } from '@sentryhub/contracts';
import { anchoredRegex, labelValue, RegexSyntaxError } from './matching';

/** An Alertmanager silence matcher. */
export interface SilenceMatcher {
  name: string;
  value: string;
  isEqual: boolean;
  isRegex: boolean;
}

export interface ActiveSilence {
  id: number;
  matchers: SilenceMatcher[];
  startsAt: Date;
  endsAt: Date;
}

/**
 * One matcher, as Alertmanager evaluates it: a missing label is "", regexes are RE2, anchored
 * at both ends, matched in linear time. A regex RE2 refuses (only one written to the database
 * by hand, or saved before regexes were RE2, can be) holds for nothing, `=~` and `!~` alike:
 * such a silence silences nothing rather than too much.
 */
export function matcherHolds(matcher: SilenceMatcher, labels: LabelSet): boolean {
  const value = labelValue(labels, matcher.name) ?? '';
  if (!matcher.isRegex) return (value === matcher.value) === matcher.isEqual;
  let regex;
  try {
    regex = anchoredRegex(matcher.value);
  } catch (error) {
    if (error instanceof RegexSyntaxError) return false;
    throw error;
  }
  return regex.test(value) === matcher.isEqual;
}

/** A silence matches when every matcher holds and `now` is in [startsAt, endsAt). */
export function silenceMatches(silence: ActiveSilence, labels: LabelSet, now: Date): boolean {
  const t = now.getTime();
  if (t < silence.startsAt.getTime() || t >= silence.endsAt.getTime()) return false;
  return silence.matchers.length > 0 && silence.matchers.every((matcher) => matcherHolds(matcher, labels));
}

/** Whether the labels are silenced now, and until when (the latest end among matching silences). */
export function silenceState(silences: readonly ActiveSilence[], labels: LabelSet, now: Date): { silenced: boolean; until: Date | null } {
  let until: Date | null = null;
  for (const silence of silences) {
    if (silenceMatches(silence, labels, now) && (until === null || silence.endsAt > until)) until = silence.endsAt;
  }
  return { silenced: until !== null, until };
}
