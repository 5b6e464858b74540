import { describe, expect, it } from 'vitest';
import { silenceMatches, silenceState, type ActiveSilence } from './silences';

const now = new Date('2026-11-26T10:00:00Z');
const labels = { alertname: 'DiskFull', instance: 'db-1', severity: 'warning' };
const silence = (matchers: ActiveSilence['matchers'], startsAt = '2026-11-26T09:00:00Z', endsAt = '2026-11-26T11:00:00Z'): ActiveSilence => ({
  id: 1,
  matchers,
  startsAt: new Date(startsAt),
  endsAt: new Date(endsAt),
});

describe('silences', () => {
  it('applies =, !=, =~ and !~ with anchored regexes', () => {
    expect(silenceMatches(silence([{ name: 'alertname', value: 'DiskFull', isEqual: true, isRegex: false }]), labels, now)).toBe(true);
    expect(silenceMatches(silence([{ name: 'severity', value: 'critical', isEqual: false, isRegex: false }]), labels, now)).toBe(true);
    expect(silenceMatches(silence([{ name: 'instance', value: 'db-.*', isEqual: true, isRegex: true }]), labels, now)).toBe(true);
    expect(silenceMatches(silence([{ name: 'instance', value: 'db', isEqual: true, isRegex: true }]), labels, now)).toBe(false);
    expect(silenceMatches(silence([{ name: 'instance', value: 'db-.*', isEqual: false, isRegex: true }]), labels, now)).toBe(false);
  });

  it('is active from its start (inclusive) to its end (exclusive)', () => {
    const m = [{ name: 'alertname', value: 'DiskFull', isEqual: true, isRegex: false }];
    expect(silenceMatches(silence(m, '2026-11-26T10:00:00Z'), labels, now)).toBe(true);
    expect(silenceMatches(silence(m, '2026-11-26T09:00:00Z', '2026-11-26T10:00:00Z'), labels, now)).toBe(false);
  });

  it('reports the latest end among matching silences', () => {
    const m = [{ name: 'alertname', value: 'DiskFull', isEqual: true, isRegex: false }];
    const state = silenceState([silence(m), silence(m, '2026-11-26T09:00:00Z', '2026-11-26T12:00:00Z')], labels, now);
    expect(state).toEqual({ silenced: true, until: new Date('2026-11-26T12:00:00Z') });
    expect(silenceState([], labels, now)).toEqual({ silenced: false, until: null });
  });
});
