import { describe, expect, it } from 'vitest';
import { fingerprint } from './fingerprint';

describe('fingerprint', () => {
  it('matches Alertmanager 0.25 for a single label', () => {
    expect(fingerprint({ alertname: 'X' })).toBe('d2aeefc389ca7746');
  });

  it('matches Alertmanager 0.25 for several labels, whatever their order', () => {
    const expected = '0000b575cf5f7ad3';
    expect(fingerprint({ alertname: 'HighCPU', instance: 'host-1', job: 'node', severity: 'critical', team: 'ops' })).toBe(expected);
    expect(fingerprint({ team: 'ops', severity: 'critical', job: 'node', instance: 'host-1', alertname: 'HighCPU' })).toBe(expected);
  });

  it('gives different label sets different fingerprints', () => {
    expect(fingerprint({ alertname: 'X', a: 'b' })).not.toBe(fingerprint({ alertname: 'X', a: 'c' }));
    // The separator keeps "ab"+"c" apart from "a"+"bc".
    expect(fingerprint({ ab: 'c' })).not.toBe(fingerprint({ a: 'bc' }));
  });
});
