import { describe, expect, it } from 'vitest';
import { PostableSilence, SilenceMatcher } from './silence';

const silence = {
  matchers: [{ name: 'alertname', value: 'DiskFull' }],
  startsAt: '2026-11-26T10:00:00Z',
  endsAt: '2026-11-26T12:00:00Z',
  createdBy: 'alice',
  comment: 'maintenance',
};

describe('silence schemas', () => {
  it('accepts every matcher type: =, !=, =~, !~', () => {
    for (const [isEqual, isRegex] of [
      [true, false],
      [false, false],
      [true, true],
      [false, true],
    ] as const) {
      expect(SilenceMatcher.safeParse({ name: 'instance', value: 'db-.*', isEqual, isRegex }).success).toBe(true);
    }
    expect(SilenceMatcher.parse({ name: 'a', value: 'b' })).toEqual({ name: 'a', value: 'b', isEqual: true, isRegex: false });
  });

  it('refuses an invalid regex with a message that names it', () => {
    const result = SilenceMatcher.safeParse({ name: 'instance', value: 'db-(', isRegex: true });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]).toMatchObject({ path: ['value'], message: expect.stringMatching(/^invalid regular expression "db-\(": .+/) });
    // The same text is a fine literal value.
    expect(SilenceMatcher.safeParse({ name: 'instance', value: 'db-(', isRegex: false }).success).toBe(true);
  });

  it('needs a matcher, a comment, and an end after the start', () => {
    expect(PostableSilence.safeParse(silence).success).toBe(true);
    expect(PostableSilence.safeParse({ ...silence, matchers: [] }).error?.issues[0]?.message).toBe('a silence needs at least one matcher');
    expect(PostableSilence.safeParse({ ...silence, comment: '' }).error?.issues[0]?.path).toEqual(['comment']);
    const backwards = PostableSilence.safeParse({ ...silence, endsAt: silence.startsAt });
    expect(backwards.error?.issues[0]).toMatchObject({ path: ['endsAt'], message: 'endsAt must be after startsAt' });
  });
});
