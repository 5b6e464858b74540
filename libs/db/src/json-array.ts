/**
 * Many JSON values as one query parameter: a JSON array, read back in order with
 * `jsonb_array_elements($n::jsonb)` (beside `unnest(...)` of the other columns in a
 * `rows from (...)`, which pairs them by position).
 *
 * Why not a `text[]` of JSON texts: node-postgres writes an array parameter as an array literal
 * built in JavaScript, quoting every element and escaping every `"` and `\` in it, which for
 * JSON (a quote every few characters) allocates about thirteen times the literal's size and is
 * the processor's largest single source of garbage. `JSON.stringify` of the whole array is one
 * native call and one string, and PostgreSQL parses it faster than it parses the literal and then
 * each element's text.
 */
export function jsonArray(values: readonly unknown[]): string {
  return JSON.stringify(values);
}
