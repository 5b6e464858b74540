import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseTimestamptz } from './timestamps';

const general = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (value: string) => unknown;
const pad = (value: number, width: number) => String(value).padStart(width, '0');

/** The text PostgreSQL writes for a timestamptz in UTC: the fraction in microseconds, trailing zeros dropped, none when zero. */
function postgresText(ms: number, micros: number, offset = '+00'): string {
  const date = new Date(ms);
  const fraction = pad((((ms % 1000) + 1000) % 1000) * 1000 + micros, 6).replace(/0+$/, '');
  return (
    `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)} ` +
    `${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}${fraction ? `.${fraction}` : ''}${offset}`
  );
}

describe('parseTimestamptz', () => {
  it('reads every UTC timestamptz PostgreSQL can write for years 1-9999 as the instant, to the millisecond (the fraction cut)', () => {
    const instants = fc.tuple(fc.integer({ min: Date.UTC(1, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), fc.integer({ min: 0, max: 999 }));
    fc.assert(
      fc.property(instants, ([ms, micros]) => {
        const parsed = parseTimestamptz(postgresText(ms, micros));
        expect(parsed).toBeInstanceOf(Date);
        expect((parsed as Date).getTime()).toBe(ms);
      }),
      { numRuns: 5_000 },
    );
  });

  it('gives every other form to pg’s own parser: other zones, BC, years past 9999, infinity', () => {
    for (const text of [
      '2026-12-06 23:42:28.5+05:30',
      '2026-12-06 13:12:28-05',
      '0044-03-15 12:00:00+00 BC',
      '12026-12-06 18:12:28+00',
      'infinity',
      '-infinity',
    ]) {
      expect(parseTimestamptz(text)).toEqual(general(text));
    }
    expect((parseTimestamptz('2026-12-06 23:42:28.5+05:30') as Date).toISOString()).toBe('2026-12-06T18:12:28.500Z');
  });

  it('agrees with pg’s own parser on the forms it reads itself', () => {
    for (const text of [
      '2026-12-06 18:12:28+00',
      '2026-12-06 18:12:28.1+00',
      '2026-12-06 18:12:28.123456+00',
      '0050-01-01 00:00:00+00',
      '1970-01-01 00:00:00.000999+00',
    ]) {
      expect(parseTimestamptz(text)).toEqual(general(text));
    }
  });
});
