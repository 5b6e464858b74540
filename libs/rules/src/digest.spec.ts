import { describe, expect, it } from 'vitest';
import { digestLine, foldDigest, type DigestEntry } from './digest';
import { MAX_MESSAGE_LENGTH } from './templates';

const firing = (text: string): DigestEntry => ({ text, status: 'firing' });

describe('digestLine', () => {
  it('puts a multi-line text on one line', () => {
    expect(digestLine('  :fire: DiskFull\non host-1:\n\n  disk\talmost full ')).toBe(':fire: DiskFull on host-1: disk almost full');
    expect(digestLine(' \n ')).toBe('(empty message)');
  });

  it('cuts a long line with an ellipsis, never inside a surrogate pair', () => {
    expect(digestLine('x'.repeat(400))).toBe(`${'x'.repeat(299)}…`);
    const cut = digestLine(`${'a'.repeat(8)}😀😀😀`, 10);
    expect(cut).toBe(`${'a'.repeat(8)}…`);
    expect(digestLine(`${'a'.repeat(7)}😀😀😀`, 10)).toBe(`${'a'.repeat(7)}😀…`);
  });
});

describe('foldDigest', () => {
  it('counts the notifications and lists each on its own line, in order', () => {
    const digest = foldDigest([
      firing(':fire: DiskFull on host-1'),
      { text: ':white_check_mark: HighCPU on host-2\nresolved', status: 'resolved' },
      firing(':fire: DiskFull on host-3'),
    ]);
    expect(digest).toEqual({
      listed: 3,
      more: 0,
      text: [
        "[SentryHub] 3 notifications (2 firing, 1 resolved) in one message: they arrived faster than this channel's rate allows.",
        '• :fire: DiskFull on host-1',
        '• :white_check_mark: HighCPU on host-2 resolved',
        '• :fire: DiskFull on host-3',
      ].join('\n'),
    });
  });

  it('names only the kinds present', () => {
    expect(foldDigest([firing('a'), firing('b')]).text.split('\n')[0]).toContain('2 notifications (2 firing) in one message');
    expect(foldDigest([{ text: 'a', status: 'resolved' }]).text.split('\n')[0]).toContain('1 notifications (1 resolved)');
  });

  it('stays under Slack\'s 40,000 characters, counting what does not fit as "+N more"', () => {
    const entries = Array.from({ length: 1_000 }, (_, i) => firing(`:fire: Alert-${String(i).padStart(4, '0')} ${'x'.repeat(400)}`));
    const digest = foldDigest(entries);
    expect(MAX_MESSAGE_LENGTH).toBeLessThan(40_000);
    expect(digest.text.length).toBeLessThanOrEqual(MAX_MESSAGE_LENGTH);
    expect(digest.listed + digest.more).toBe(1_000);
    expect(digest.more).toBeGreaterThan(0);
    const lines = digest.text.split('\n');
    expect(lines).toHaveLength(1 + digest.listed + 1);
    expect(lines.at(-1)).toBe(`+${digest.more} more (each is recorded in SentryHub's notifications)`);
    // The listed ones are the first ones, each cut to one line of at most 300 characters.
    expect(lines[1]).toMatch(/^• :fire: Alert-0000 x+…$/);
    expect(lines[digest.listed]).toContain(`Alert-${String(digest.listed - 1).padStart(4, '0')}`);
    expect(Math.max(...lines.slice(1, -1).map((line) => line.length))).toBe(2 + 300);
  });

  it('never exceeds the bound, whatever the bound and the number of entries', () => {
    for (const maxLength of [400, 401, 555, 1_000, 4_321]) {
      for (const count of [1, 2, 3, 9, 10, 11, 99, 100, 1_000, 12_345]) {
        const entries = Array.from({ length: count }, (_, i) => firing(`alert ${i} ${'y'.repeat(i % 50)}`));
        const digest = foldDigest(entries, maxLength);
        expect(digest.text.length, `${count} entries in ${maxLength}`).toBeLessThanOrEqual(maxLength);
        expect(digest.listed + digest.more).toBe(count);
        // Nothing is left out while there is room for it.
        if (digest.more === 0) expect(digest.text.split('\n')).toHaveLength(count + 1);
      }
    }
  });

  it('refuses no entries and a bound too small for the header', () => {
    expect(() => foldDigest([])).toThrow(RangeError);
    expect(() => foldDigest([firing('a')], 100)).toThrow(RangeError);
  });
});
