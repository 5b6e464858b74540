import fc from 'fast-check';
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

  it('equals the plain BigInt FNV-1a 64 for any labels, non-ASCII and lone surrogates included (fast-check)', () => {
    const reference = (labels: Record<string, string>) => {
      let hash = 0xcbf29ce484222325n;
      const add = (byte: number) => {
        hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
      };
      for (const name of Object.keys(labels).sort()) {
        for (const byte of new TextEncoder().encode(name)) add(byte);
        add(0xff);
        for (const byte of new TextEncoder().encode(labels[name] ?? '')) add(byte);
        add(0xff);
      }
      return hash.toString(16).padStart(16, '0');
    };
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }));
    fc.assert(
      fc.property(fc.dictionary(text, text, { maxKeys: 6 }), (labels) => fingerprint(labels) === reference(labels)),
      { numRuns: 2_000 },
    );
  });
});
