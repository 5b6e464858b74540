import type pg from 'pg';

/** Elements PostgreSQL reads the same with or without quotes: no space, quote, brace, comma or backslash, and not NULL. */
const BARE_ELEMENT = /^[\w.:+-]+$/;
const NULL_WORD = /^null$/i;
const NEEDS_ESCAPE = /["\\]/g;

/**
 * An array parameter as PostgreSQL's array literal (`{a,"b c",NULL}`), built in one pass and
 * joined once; null when an element is not a string, number, bigint, boolean, null or
 * undefined (node-postgres then writes it as before).
 *
 * node-postgres builds the literal by concatenating a quoted, twice-escaped copy of each element
 * onto the text so far: for the 1,500-element arrays of a processor batch that took about 7
 * times the CPU and 5 times the bytes of this (`select $1::text[]` reads both the same).
 */
export function arrayLiteral(values: readonly unknown[]): string | null {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value === null || value === undefined) parts[i] = 'NULL';
    else if (typeof value === 'string') parts[i] = BARE_ELEMENT.test(value) && !NULL_WORD.test(value) ? value : `"${value.replace(NEEDS_ESCAPE, '\\$&')}"`;
    else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') parts[i] = String(value);
    else return null;
  }
  return `{${parts.join(',')}}`;
}

const withLiterals = (values: unknown[]): unknown[] =>
  values.some(Array.isArray) ? values.map((value: unknown) => (Array.isArray(value) ? (arrayLiteral(value) ?? value) : value)) : values;

/** The client's statements (`query(text, values)` or `query({ text, values })`) send their flat array parameters as literals built by `arrayLiteral`. */
export function sendArraysAsLiterals(client: pg.PoolClient): void {
  const query = client.query.bind(client) as unknown as (...args: unknown[]) => unknown;
  const run = (first: unknown, values?: unknown, ...rest: unknown[]): unknown => {
    if (typeof first === 'string' && Array.isArray(values)) return query(first, withLiterals(values), ...rest);
    // A plain query config (what prepared statements send); a submittable such as a cursor goes as it is.
    const config = first as { values?: unknown } | null;
    if (typeof config === 'object' && config !== null && Object.getPrototypeOf(config) === Object.prototype && Array.isArray(config.values))
      return query({ ...config, values: withLiterals(config.values) }, values, ...rest);
    return query(first, values, ...rest);
  };
  (client as unknown as { query: typeof run }).query = run;
}
