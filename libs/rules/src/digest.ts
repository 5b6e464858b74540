import { MAX_MESSAGE_LENGTH } from './templates';

/**
 * One notification folded into a digest: its own rendered text and its kind. The text is a
 * composed Slack message (composeMessage), whose interpolated values are already escaped;
 * the digest adds only counts of its own, so it escapes nothing twice.
 */
export interface DigestEntry {
  text: string;
  status: 'firing' | 'resolved';
}

export interface Digest {
  text: string;
  /** Entries shown as a line of their own, in the order given. */
  listed: number;
  /** Entries only counted in the closing "+N more" line, to keep the text within the bound. */
  more: number;
}

/** A digest line longer than this is cut: one alert must not crowd out the others. */
export const DIGEST_LINE_LENGTH = 300;

/** Below this even the header and the "+N more" line might not fit. */
const MIN_DIGEST_LENGTH = 400;

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/**
 * A notification's text as one digest line: every run of whitespace (newlines included)
 * becomes one space, and a line over `maxLength` is cut with an ellipsis (never inside a
 * surrogate pair, so an emoji is never split).
 */
export function digestLine(text: string, maxLength = DIGEST_LINE_LENGTH): string {
  const line = text.replace(/\s+/g, ' ').trim() || '(empty message)';
  if (line.length <= maxLength) return line;
  let cut = maxLength - 1;
  if (isHighSurrogate(line.charCodeAt(cut - 1))) cut -= 1;
  let head = line.slice(0, cut);
  // Never end inside an escape (`&am`) or inside the template's own markup (`<http://x|la`):
  // a cut escape or an unclosed `<` would show Slack something other than what was meant.
  head = head.replace(/&[a-z]{0,4}$/, '');
  const open = head.lastIndexOf('<');
  if (open > head.lastIndexOf('>')) head = head.slice(0, open);
  return `${head}…`;
}

function header(entries: readonly DigestEntry[]): string {
  const firing = entries.filter((entry) => entry.status === 'firing').length;
  const resolved = entries.length - firing;
  const parts = [firing > 0 ? `${firing} firing` : '', resolved > 0 ? `${resolved} resolved` : ''].filter(Boolean).join(', ');
  return `[SentryHub] ${entries.length} notifications (${parts}) in one message: they arrived faster than this channel's rate allows.`;
}

const moreLine = (count: number) => `\n+${count} more (each is recorded in SentryHub's notifications)`;

/**
 * Several notifications for one channel as one Slack message: a header with the count, one
 * line per notification in the given order, and, when the lines would not fit in
 * `maxLength` characters, a last line `+N more` counting those left out. The text never
 * exceeds `maxLength` (by default MAX_MESSAGE_LENGTH, under Slack's 40,000).
 */
export function foldDigest(entries: readonly DigestEntry[], maxLength = MAX_MESSAGE_LENGTH): Digest {
  if (entries.length === 0) throw new RangeError('a digest needs at least one notification');
  if (maxLength < MIN_DIGEST_LENGTH) throw new RangeError(`a digest needs at least ${MIN_DIGEST_LENGTH} characters, got ${maxLength}`);
  const lineLength = Math.min(DIGEST_LINE_LENGTH, Math.floor(maxLength / 4));
  let text = header(entries);
  let listed = 0;
  for (const entry of entries) {
    const next = `${text}\n• ${digestLine(entry.text, lineLength)}`;
    const left = entries.length - listed - 1;
    // Room for the "+N more" line must remain as long as anything is left to count.
    if (next.length + (left > 0 ? moreLine(left).length : 0) > maxLength) break;
    text = next;
    listed += 1;
  }
  const more = entries.length - listed;
  if (more > 0) text += moreLine(more);
  return { text, listed, more };
}
