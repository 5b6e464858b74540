import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonValueProblem, LabelSet, parseIntakeAlerts, PostableAlert, unstorableText } from './alertmanager';

/**
 * What LabelSet replaced: a zod record of non-empty storable names to storable values. LabelSet
 * is one check over the object (it allocates a fraction of what the record did); it must accept
 * and refuse the same values, with the same result and the same issue paths.
 */
const StoredText = z.string().check((payload) => {
  const error = unstorableText(payload.value);
  if (error) payload.issues.push({ code: 'custom', message: error, input: payload.value, continue: true });
});
const RecordLabelSet = z.record(StoredText.min(1), StoredText);

/** Strings that are mostly fine, sometimes empty, sometimes holding NUL or a lone surrogate. */
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a\u0000b', 'x\uD800', '\uDC00y', 'ok\uD83D\uDE00', '__proto__', 'constructor') },
);
const value = fc.oneof(
  { weight: 8, arbitrary: text },
  { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(text, { maxLength: 2 })) },
);
/** A parsed JSON object, as JSON.parse makes it (a `__proto__` key is an own property there). */
const jsonObject = fc.dictionary(text, value, { maxKeys: 6 }).map((entries) => JSON.parse(JSON.stringify(entries)) as unknown);
const anything = fc.oneof({ weight: 8, arbitrary: jsonObject }, { weight: 1, arbitrary: fc.oneof(fc.constant(null), fc.integer(), text, fc.array(text)) });

const paths = (result: z.ZodSafeParseResult<unknown>) => (result.error?.issues ?? []).map((issue) => issue.path.join('.')).sort();

describe('LabelSet agrees with the zod record it replaced (fast-check)', () => {
  it('accepts and refuses the same values, with the same result and issue paths', () => {
    fc.assert(
      fc.property(anything, (input) => {
        const ours = LabelSet.safeParse(input);
        const reference = RecordLabelSet.safeParse(input);
        expect(ours.success).toBe(reference.success);
        if (reference.success) expect(ours.data).toEqual(reference.data);
        else expect(paths(ours)).toEqual(paths(reference));
      }),
      { numRuns: 5_000 },
    );
  });

  it('names what is wrong in zod words', () => {
    expect(LabelSet.safeParse([]).error?.issues[0]?.message).toBe('Invalid input: expected record, received array');
    expect(LabelSet.safeParse({ replicas: 3 }).error?.issues[0]).toMatchObject({
      path: ['replicas'],
      message: 'Invalid input: expected string, received number',
    });
    expect(LabelSet.safeParse({ '': 'x' }).error?.issues[0]).toMatchObject({ path: [''], message: 'Too small: expected string to have >=1 characters' });
    expect(LabelSet.safeParse({ ['a\u0000']: 'x' }).error?.issues[0]).toMatchObject({ path: ['a\u0000'], message: 'name must not contain NUL (\\u0000)' });
  });

  it('takes an object without a prototype, as the record did; refuses any other class', () => {
    const bare = Object.assign(Object.create(null) as object, { alertname: 'A' });
    expect(LabelSet.safeParse(bare).success).toBe(true);
    expect(LabelSet.safeParse(new Map([['alertname', 'A']])).error?.issues[0]?.message).toBe('Invalid input: expected record, received Map');
  });

  it('keeps the object it was given, but drops a __proto__ key', () => {
    const labels = { alertname: 'A', job: 'j' };
    expect(LabelSet.parse(labels)).toBe(labels);
    const hostile = JSON.parse('{"__proto__":"x","alertname":"A"}') as object;
    const parsed = LabelSet.parse(hostile);
    expect(Object.keys(parsed)).toEqual(['alertname']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });
});

describe('jsonValueProblem', () => {
  it('leaves out the top-level fields checked apart, and only those', () => {
    const alert = { labels: { a: 'x\u0000' }, extra: { labels: 'y\u0000' } };
    expect(jsonValueProblem(alert)).toEqual({ path: ['labels', 'a'], message: 'must not contain NUL (\\u0000)' });
    expect(jsonValueProblem(alert, 32, new Set(['labels']))).toEqual({ path: ['extra', 'labels'], message: 'must not contain NUL (\\u0000)' });
  });

  it('refuses an unstorable key at any depth, naming it as a key', () => {
    expect(jsonValueProblem({ ['k\u0000']: 1 })).toEqual({ path: ['k\u0000'], message: 'key must not contain NUL (\\u0000)' });
    expect(jsonValueProblem({ a: [{ ['\uD800']: 'v' }] })).toEqual({ path: ['a', 0, '\uD800'], message: 'key must not contain a lone UTF-16 surrogate' });
  });

  it('gives a too deep alert the refusal nested_too_deep, unstorable text unstorable_text', () => {
    let deep: unknown = 'leaf';
    for (let level = 0; level < 40; level++) deep = { k: deep };
    const limits = { receivedAt: new Date(), maxFutureMs: 600_000 };
    const judged = parseIntakeAlerts(
      'alerts',
      [
        { labels: { a: 'b' }, extra: deep },
        { labels: { a: 'b' }, extra: 'x\u0000' },
      ],
      limits,
    );
    expect(judged.rejected.map((refused) => refused.refusal)).toEqual(['nested_too_deep', 'unstorable_text']);
  });

  it('cuts the path of a value too deep at the depth limit', () => {
    let deep: unknown = 'leaf';
    for (let level = 0; level < 40; level++) deep = [deep];
    expect(jsonValueProblem(deep, 5)).toEqual({ path: [0, 0, 0, 0, 0], message: 'JSON nested deeper than 32 levels' });
    expect(jsonValueProblem({ a: { b: 'ok' } }, 2)).toBeNull();
    expect(jsonValueProblem({ a: { b: {} } }, 2)).toBeNull();
    expect(jsonValueProblem({ a: { b: { c: 1 } } }, 2)?.path).toEqual(['a', 'b']);
  });

  it('a postable alert reports an unstorable label once, from its labels', () => {
    const result = PostableAlert.safeParse({ labels: { alertname: 'A', bad: 'x\u0000' } });
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['labels.bad']);
  });
});
