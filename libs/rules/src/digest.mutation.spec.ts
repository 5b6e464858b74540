import { describe, expect, it } from 'vitest';
import { digestLine, foldDigest } from './digest';

/** Digest lines cut at their edges, and digests that fit exactly. */

describe('digestLine', () => {
  it('keeps a line of exactly maxLength whole', () => {
    expect(digestLine('a'.repeat(10), 10)).toBe('a'.repeat(10));
    expect(digestLine('a'.repeat(11), 10)).toBe(`${'a'.repeat(9)}…`);
  });

  it('never splits a surrogate pair at the cut, from the first high surrogate to the last', () => {
    for (const pair of ['\uD800\uDC00', '\uDBFF\uDFFF', '\uD83D\uDE00']) {
      expect(digestLine(`${'a'.repeat(8)}${pair}bbbb`, 10)).toBe(`${'a'.repeat(8)}…`);
    }
    // A low surrogate at the cut is the end of a whole pair: kept.
    expect(digestLine(`${'a'.repeat(7)}\uD83D\uDE00bbbb`, 10)).toBe(`${'a'.repeat(7)}\uD83D\uDE00…`);
  });

  it('drops a cut HTML escape', () => {
    expect(digestLine('abcdef&amp;zzzz', 10)).toBe('abcdef…');
  });
});

describe('foldDigest', () => {
  const entries = Array.from({ length: 5 }, (_, i) => ({
    status: i % 2 ? ('resolved' as const) : ('firing' as const),
    text: `alert number ${i} ${'x'.repeat(40)}`,
  }));

  it('refuses an empty digest or a length too small, saying why', () => {
    expect(() => foldDigest([])).toThrow(new RangeError('a digest needs at least one notification'));
    expect(() => foldDigest(entries, 399)).toThrow(new RangeError('a digest needs at least 400 characters, got 399'));
  });

  it('lists every entry when the digest fits exactly, and counts the rest when one character is missing', () => {
    const whole = foldDigest(entries, 10_000);
    expect(whole).toMatchObject({ listed: 5, more: 0 });
    expect(foldDigest(entries, whole.text.length)).toEqual(whole);
    const short = foldDigest(entries, whole.text.length - 1);
    expect(short.listed).toBeLessThan(5);
    expect(short.listed + short.more).toBe(5);
    expect(short.text.length).toBeLessThanOrEqual(whole.text.length - 1);
    expect(short.text).toMatch(new RegExp(`\\n\\+${short.more} more \\(each is recorded in SentryHub's notifications\\)$`));
  });

  it('cuts each line to a quarter of a small digest', () => {
    const digest = foldDigest([{ status: 'firing', text: 'y'.repeat(200) }], 400);
    expect(digest.text.split('\n• ')[1]).toBe(`${'y'.repeat(99)}…`);
  });
});
