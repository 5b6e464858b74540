import type { LabelSet, MatchableRule } from '@sentryhub/contracts';
import { compareRules, matchCriteria, type CriterionFailure } from './matching';
import { matcherHolds, silenceState, type SilenceMatcher } from './silences';
import { escapeSlack, groupTemplateContext, renderTemplate, usesGroupVariables, type TemplateEscape } from './templates';

/**
 * The notification policy: for one change of one alert group and the rules of one kind (Slack,
 * email, ...), which rules apply and what each of them does. Pure: the notifiers, the admin's
 * explain and its previews read what it needs (rules, silences, inhibiting sources, earlier
 * notifications) and hand it over, then only render and deliver what it decides.
 *
 * Routing works as Alertmanager's routing tree with `continue`: rules are tried by priority
 * (highest first), then name; the first one that matches applies and ends the search, unless
 * it has `continue`, in which case the search goes on and the next matching rule applies too.
 */

/** What the policy needs to know of a rule, whatever its kind. */
export interface PolicyRule extends MatchableRule {
  id: number;
  sendResolved: boolean;
  /** Keep searching after this rule applied (Alertmanager's route `continue`). */
  continue: boolean;
  /** Tell a still-firing, unacknowledged, unsilenced episode again this often (ms); null or absent: never. */
  repeatIntervalMs?: number | null;
  /** A rule of the same kind whose receiver is told too after `escalateAfterMs`, if the episode still fires unacknowledged. */
  escalateTo?: number | null;
  escalateAfterMs?: number | null;
  /** Alertmanager's `group_by`: one message per group key; its repeats are the group's (`timersFor`). Null or absent: per alert. */
  groupBy?: readonly string[] | null;
}

/** One rule as the search saw it, in the order it was tried. */
export type RuleTrace<R> =
  | { rule: R; outcome: 'inactive' }
  | { rule: R; outcome: 'no-match'; failure: CriterionFailure }
  | { rule: R; outcome: 'applied' }
  /** Never tried: an earlier rule without `continue` applied. */
  | { rule: R; outcome: 'not-reached' };

export interface Route<R> {
  /** The rules that apply, in order. */
  applied: R[];
  /** The applied rule without `continue` that ended the search; null when every rule was tried. */
  stoppedAt: R | null;
  /** Every rule, in the order of the search, and what became of it. */
  trace: RuleTrace<R>[];
}

/** Rules in the order they are tried: highest priority first, then lowest name. */
export function orderRules<R extends MatchableRule>(rules: readonly R[]): R[] {
  return [...rules].sort(compareRules);
}

/** The rules that apply to `labels`, and where the search stopped. */
export function routeAlert<R extends PolicyRule>(rules: readonly R[], labels: LabelSet): Route<R> {
  const applied: R[] = [];
  const trace: RuleTrace<R>[] = [];
  let stoppedAt: R | null = null;
  for (const rule of orderRules(rules)) {
    if (stoppedAt !== null) {
      trace.push({ rule, outcome: 'not-reached' });
      continue;
    }
    if (!rule.isActive) {
      trace.push({ rule, outcome: 'inactive' });
      continue;
    }
    const result = matchCriteria(rule.matchCriteria, labels);
    if (!result.matched) {
      trace.push({ rule, outcome: 'no-match', failure: result.failure });
      continue;
    }
    trace.push({ rule, outcome: 'applied' });
    applied.push(rule);
    if (!rule.continue) stoppedAt = rule;
  }
  return { applied, stoppedAt, trace };
}

/** An inhibition rule: while a source fires, targets with the same `equal` labels are not told. */
export interface InhibitRule {
  id: number;
  name: string | null;
  sourceMatchers: SilenceMatcher[];
  targetMatchers: SilenceMatcher[];
  /** Label names whose values source and target must share (a missing label counts as ""). */
  equal: string[];
}

/** A firing alert group that may inhibit others. */
export interface InhibitionSource {
  groupId: number;
  labels: LabelSet;
}

/** Why a group is inhibited: the rule, and the firing group that holds it back. */
export interface Inhibition {
  ruleId: number;
  ruleName: string | null;
  sourceGroupId: number;
}

/** Every matcher holds (an empty list holds for everything, as in Alertmanager). */
export const matchersHold = (matchers: readonly SilenceMatcher[], labels: LabelSet): boolean => matchers.every((matcher) => matcherHolds(matcher, labels));

const labelOrEmpty = (labels: LabelSet, name: string) => (Object.hasOwn(labels, name) ? (labels[name] ?? '') : '');

/**
 * Whether `source` inhibits `target` under `rule`, as Alertmanager decides it: the target
 * matches the target matchers, the source (another, firing group) the source matchers, both
 * have the same values for the `equal` labels; and when the target also matches the source
 * matchers, a source that also matches the target matchers does not count, so that two alerts
 * that each match both sides do not silence each other (and an alert never inhibits itself).
 */
export function inhibits(rule: InhibitRule, source: InhibitionSource, target: InhibitionSource): boolean {
  if (source.groupId === target.groupId) return false;
  if (!matchersHold(rule.targetMatchers, target.labels) || !matchersHold(rule.sourceMatchers, source.labels)) return false;
  if (!rule.equal.every((name) => labelOrEmpty(source.labels, name) === labelOrEmpty(target.labels, name))) return false;
  const twoSided = matchersHold(rule.sourceMatchers, target.labels);
  return !(twoSided && matchersHold(rule.targetMatchers, source.labels));
}

/**
 * The first inhibition of `target` among `rules`, given the firing groups that may be sources
 * (the caller reads them, bounded, from the database; see libs/db inhibit rules), or null.
 */
export function inhibitionOf(rules: readonly InhibitRule[], firingSources: readonly InhibitionSource[], target: InhibitionSource): Inhibition | null {
  for (const rule of rules) {
    if (!matchersHold(rule.targetMatchers, target.labels)) continue;
    const source = firingSources.find((candidate) => inhibits(rule, candidate, target));
    if (source) return { ruleId: rule.id, ruleName: rule.name, sourceGroupId: source.groupId };
  }
  return null;
}

export type NotificationKind = 'firing' | 'resolved';

/** What becomes of one applied rule for one change. */
export type Decision<R> =
  | { rule: R; action: 'send' }
  /** A silence holds the group: recorded, not told. */
  | { rule: R; action: 'suppressed'; reason: 'silenced'; silencedUntil: string | null }
  /** A firing source holds it back (inhibition rule): recorded, not told. */
  | { rule: R; action: 'inhibited'; by: Inhibition }
  /** Nothing to record: the rule does not send resolved notices. */
  | { rule: R; action: 'skip'; reason: 'resolved-not-wanted' };

export interface PolicyInput<R> {
  /** The rules of one kind (any order; inactive ones are passed over). */
  rules: readonly R[];
  /** The group's labels. */
  labels: LabelSet;
  /** The episode's status in this change. */
  kind: NotificationKind;
  silence: { silenced: boolean; until: string | null };
  /** The inhibition that holds the group now, or null. */
  inhibition: Inhibition | null;
  /** The rules (ids) under which this episode's firing was already told. */
  firingSentUnder: ReadonlySet<number>;
}

export interface PolicyResult<R> extends Route<R> {
  /** One decision per applied rule, in order. */
  decisions: Decision<R>[];
}

/**
 * What each applied rule does with a change. A silenced group is not told (`suppressed`); an
 * inhibited one is not told either (`inhibited`, naming the source); in both cases except the
 * resolved notice of an episode whose firing was told under that rule: who heard it fire hears
 * it end. A rule without `sendResolved` records nothing for a resolved change.
 */
export function decide<R extends PolicyRule>(route: Route<R>, input: Omit<PolicyInput<R>, 'rules' | 'labels'>): PolicyResult<R> {
  const decisions = route.applied.map((rule): Decision<R> => {
    if (input.kind === 'resolved' && !rule.sendResolved) return { rule, action: 'skip', reason: 'resolved-not-wanted' };
    const toldFiring = input.kind === 'resolved' && input.firingSentUnder.has(rule.id);
    if (toldFiring) return { rule, action: 'send' };
    if (input.silence.silenced) return { rule, action: 'suppressed', reason: 'silenced', silencedUntil: input.silence.until };
    if (input.inhibition) return { rule, action: 'inhibited', by: input.inhibition };
    return { rule, action: 'send' };
  });
  return { ...route, decisions };
}

/** routeAlert then decide, for callers that have everything at hand. */
export function notificationPolicy<R extends PolicyRule>(input: PolicyInput<R>): PolicyResult<R> {
  return decide(routeAlert(input.rules, input.labels), input);
}

/**
 * Whether deciding needs the earlier notifications / the inhibition state at all: only a
 * resolved change under a silence or inhibition asks which firings were told, and only a
 * change that some rule would tell needs the inhibition sources. Lets a notifier skip queries.
 */
export function needsInhibitionCheck<R extends PolicyRule>(route: Route<R>, kind: NotificationKind): boolean {
  return route.applied.some((rule) => kind === 'firing' || rule.sendResolved);
}

/** A one-line account of an inhibition, for logs and the `notifications.last_error` column. */
export function describeInhibition(inhibition: Inhibition): string {
  const rule = inhibition.ruleName ? `"${inhibition.ruleName}" (${inhibition.ruleId})` : String(inhibition.ruleId);
  return `inhibited by alert group ${inhibition.sourceGroupId} (inhibit rule ${rule})`;
}

/** The two checks `findInhibitingSource` (libs/db) asks of the policy. */
export const inhibitionPredicates = {
  targetHolds: (rule: InhibitRule, labels: LabelSet) => matchersHold(rule.targetMatchers, labels),
  inhibits,
};

/** A policy decision's reason in words, or null for `send`. */
export function decisionReason(decision: Decision<unknown>): string | null {
  switch (decision.action) {
    case 'send':
      return null;
    case 'suppressed':
      return decision.silencedUntil ? `silenced until ${decision.silencedUntil}` : 'silenced';
    case 'inhibited':
      return describeInhibition(decision.by);
    case 'skip':
      return 'the rule does not send resolved notifications';
  }
}

/**
 * Timers (kept in PostgreSQL, libs/db timers.ts): what the policy asks to happen later.
 * - `repeat`: an episode still firing, unacknowledged and not held back is told again every
 *   `repeatInterval` under the rule (Alertmanager's `repeat_interval`; acknowledging stops it);
 * - `escalation`: after `escalateAfter`, if the episode still fires unacknowledged, the
 *   `escalateTo` rule's receiver is told too, once;
 * - `silence_end`: a firing that a silence or an inhibition held back is told once neither
 *   holds while it still fires. It is due when the silence ends, and is looked at again at
 *   least every `recheckMs` (a silence deleted or expired early, an inhibiting source that
 *   resolved), so it is told within about that long.
 */
export type PolicyTimerKind = 'repeat' | 'escalation' | 'silence_end';

export interface PolicyTimer {
  kind: PolicyTimerKind;
  /** The rule that asked (for an escalation, the escalating rule, not its target). */
  ruleId: number;
  dueAt: Date;
  /** The repeat to send when it is due (1 for the first); 0 for other kinds. */
  sequence: number;
  /**
   * A grouped rule's repeat is its group's, not the alert's: one timer per (rule, group key),
   * which tells the group's still-firing alerts in one message (Alertmanager's `repeat_interval`).
   */
  groupKey?: string;
}

/** How often a held-back firing is looked at again, at least, unless told otherwise. */
export const DEFAULT_HELD_RECHECK_MS = 30_000;

/**
 * The timers a decision asks for: a told firing starts its repeats and escalation, a held-back
 * one waits for its end. The repeat of a grouped rule (`groupBy`) is its group's (`groupKey`:
 * one per rule and group key, whichever alert of the group started it); `labels` (the alert's)
 * give the key.
 */
export function timersFor<R extends PolicyRule>(
  decision: Decision<R>,
  kind: NotificationKind | 'repeat' | 'escalation',
  now: Date,
  recheckMs = DEFAULT_HELD_RECHECK_MS,
  labels: LabelSet = {},
): PolicyTimer[] {
  if (kind !== 'firing') return [];
  const { rule } = decision;
  const at = (ms: number) => new Date(now.getTime() + ms);
  if (decision.action === 'send') {
    const timers: PolicyTimer[] = [];
    const groupKey = groupKeyOf(rule.groupBy, labels);
    if (rule.repeatIntervalMs)
      timers.push({ kind: 'repeat', ruleId: rule.id, dueAt: at(rule.repeatIntervalMs), sequence: 1, ...(groupKey === null ? {} : { groupKey }) });
    if (rule.escalateTo != null && rule.escalateAfterMs != null)
      timers.push({ kind: 'escalation', ruleId: rule.id, dueAt: at(rule.escalateAfterMs), sequence: 0 });
    return timers;
  }
  if (decision.action === 'suppressed') {
    const until = decision.silencedUntil === null ? null : new Date(decision.silencedUntil);
    return [{ kind: 'silence_end', ruleId: rule.id, dueAt: heldRecheckAt(until, now, recheckMs), sequence: 0 }];
  }
  if (decision.action === 'inhibited') return [{ kind: 'silence_end', ruleId: rule.id, dueAt: at(recheckMs), sequence: 0 }];
  return [];
}

/** When a held-back firing is looked at next: when its silence ends, or after `recheckMs`, whichever is first. */
export function heldRecheckAt(silencedUntil: Date | null, now: Date, recheckMs: number): Date {
  const recheck = now.getTime() + recheckMs;
  return new Date(silencedUntil === null ? recheck : Math.min(Math.max(silencedUntil.getTime(), now.getTime()), recheck));
}

/** An episode as a due timer finds it. */
export interface EpisodeState {
  /** The episode still fires (it is the group's newest and not resolved). */
  firing: boolean;
  acknowledged: boolean;
  silence: { silenced: boolean; until: Date | null };
  /** The inhibition that holds it back now, or null. */
  inhibition: Inhibition | null;
}

/** What a due timer comes to. */
export type TimerVerdict =
  /** Nothing to tell, ever: the timer ends. */
  | { action: 'drop'; reason: 'resolved' | 'acknowledged' | 'rule-gone' }
  /** Held back now: look again at `until` (a repeat keeps its number). */
  | { action: 'wait'; until: Date; reason: 'silenced' | 'inhibited' }
  /** Tell it now. */
  | { action: 'tell' };

/**
 * The decision of a due timer. A resolved episode ends every timer; an acknowledged one ends
 * repeats and escalations (a held-back firing is still told when its silence ends: it never
 * was). While a silence or an inhibition holds, nothing is told and the timer waits.
 */
export function timerVerdict(kind: PolicyTimerKind, episode: EpisodeState, now: Date, recheckMs = DEFAULT_HELD_RECHECK_MS): TimerVerdict {
  if (!episode.firing) return { action: 'drop', reason: 'resolved' };
  if (kind !== 'silence_end' && episode.acknowledged) return { action: 'drop', reason: 'acknowledged' };
  if (episode.silence.silenced) return { action: 'wait', until: heldRecheckAt(episode.silence.until, now, recheckMs), reason: 'silenced' };
  if (episode.inhibition) return { action: 'wait', until: heldRecheckAt(null, now, recheckMs), reason: 'inhibited' };
  return { action: 'tell' };
}

/**
 * Grouping (Alertmanager's `group_by`): the key of the group an alert falls in under a rule
 * with `groupBy`, made of those labels' values (a missing label counts as ""), or null for a
 * rule without grouping (one message per alert).
 */
export function groupKeyOf(groupBy: readonly string[] | null | undefined, labels: LabelSet): string | null {
  if (!groupBy) return null;
  return JSON.stringify([...new Set(groupBy)].sort().map((name) => [name, labelOrEmpty(labels, name)]));
}

/** The group's labels back from its key. */
export function groupLabelsOf(groupKey: string): Record<string, string> {
  const pairs = JSON.parse(groupKey) as [string, string][];
  return Object.fromEntries(pairs.filter(([, value]) => value !== ''));
}

/** One alert in a group's message. */
export interface GroupEntry {
  status: 'firing' | 'resolved';
  labels: LabelSet;
  annotations: LabelSet;
  startsAt: string;
  endsAt: string | null;
  /** The alert's own text under the rule's template. */
  text: string;
}

/** What a group's message tells, and what its templates get. */
export interface GroupContext {
  alerts: Omit<GroupEntry, 'text'>[];
  group_labels: Record<string, string>;
  common_labels: Record<string, string>;
  common_annotations: Record<string, string>;
  firing_count: number;
  resolved_count: number;
}

/** The labels (or annotations) every entry has with the same value. */
function common(sets: readonly LabelSet[]): Record<string, string> {
  const [first, ...rest] = sets;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([name, value]) => rest.every((set) => Object.hasOwn(set, name) && set[name] === value)));
}

export function groupContext(groupKey: string, entries: readonly GroupEntry[]): GroupContext {
  return {
    alerts: entries.map(({ text: _text, ...alert }) => alert),
    group_labels: groupLabelsOf(groupKey),
    common_labels: common(entries.map((entry) => entry.labels)),
    common_annotations: common(entries.map((entry) => entry.annotations)),
    firing_count: entries.filter((entry) => entry.status === 'firing').length,
    resolved_count: entries.filter((entry) => entry.status === 'resolved').length,
  };
}

/**
 * The title of a group's message, as Alertmanager writes it: `[FIRING:3] HighCPU (team=ops)`,
 * `[FIRING:2, RESOLVED:1] ...`, `[RESOLVED:2] ...`; the name is the common `alertname`, if any.
 */
export function groupTitle(context: GroupContext): string {
  const counts = [context.firing_count > 0 ? `FIRING:${context.firing_count}` : null, context.resolved_count > 0 ? `RESOLVED:${context.resolved_count}` : null]
    .filter(Boolean)
    .join(', ');
  const name = context.common_labels['alertname'];
  const labels = Object.entries(context.group_labels)
    .filter(([label]) => label !== 'alertname')
    .map(([label, value]) => `${label}=${value}`)
    .join(', ');
  return [`[${counts}]`, name ?? null, labels ? `(${labels})` : null].filter(Boolean).join(' ');
}

/** The rule's templates, for a group's message. */
export interface GroupMessageTemplate {
  ruleName: string;
  source: string;
  /** Used instead of `source` for a message in which nothing fires any more (when set). */
  resolvedSource?: string | null;
  /** How values are written (`slack`: escaped for Slack, the title included). */
  escape?: TemplateEscape;
}

export interface GroupMessage {
  text: string;
  context: GroupContext;
  /** `group`: the rule's template rendered once with the group context; `per-alert`: the title, then each alert's text. */
  rendered: 'group' | 'per-alert';
  /** Why the group template could not be used (the message is then the per-alert one, saying so), or null. */
  templateError: string | null;
}

/**
 * One message for a group. The rule: a template that uses a group variable (`alerts`,
 * `group_labels`, `common_labels`, `common_annotations`, `firing_count`, `resolved_count`; see
 * `usesGroupVariables`) is rendered once with the group context and is the whole message; any
 * other template (or none) gives the Alertmanager-like title, then each alert's own text (firing
 * first), one per line. A group template that fails or renders nothing gives the per-alert
 * message, headed by a line that says so: a group's message is never lost to a template bug.
 */
export function composeGroupMessage(groupKey: string, entries: readonly GroupEntry[], template?: GroupMessageTemplate): GroupMessage {
  const context = groupContext(groupKey, entries);
  const value = (text: string) => (template?.escape === 'slack' ? escapeSlack(text) : text);
  const title = groupTitle(context);
  const ordered = [...entries.filter((entry) => entry.status === 'firing'), ...entries.filter((entry) => entry.status === 'resolved')];
  const perAlert = [value(title), ...ordered.map((entry) => `• ${entry.text}`)].join('\n');
  const source = template && context.firing_count === 0 && template.resolvedSource ? template.resolvedSource : template?.source;
  if (!template || source === undefined || !usesGroupVariables(source)) return { text: perAlert, context, rendered: 'per-alert', templateError: null };
  const failed = (error: string): GroupMessage => ({
    text: `[SentryHub] The group template of rule "${value(template.ruleName)}" could not be used (${value(error)}); the group's alerts:\n${perAlert}`,
    context,
    rendered: 'per-alert',
    templateError: error,
  });
  try {
    // The template sees the alerts as the message lists them: what fires first, then what resolved.
    const alerts = ordered.map(({ text: _text, ...alert }) => alert);
    const text = renderTemplate(source, groupTemplateContext({ ...context, alerts }, title), template.escape ?? 'none');
    return text.trim() === '' ? failed('the template rendered an empty message') : { text, context, rendered: 'group', templateError: null };
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  }
}

/** What a notifier's due timers need of the policy (libs/db `dueTimerHandler`): silences, inhibitions, the verdict. */
export const timerPolicy = { silenceState, predicates: inhibitionPredicates, verdict: timerVerdict };
