import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AlertmanagerWebhook,
  compileAnchoredRegex,
  externalIntakeSchema,
  jsonValueProblem,
  MatchCriteria,
  MAX_ALERTS_PER_REQUEST,
  MAX_JSON_DEPTH,
  PostableAlert,
  PostableAlertOrAlerts,
  PostableAlerts,
  PostableSilence,
  regexError,
} from './index';

/** A parse result is either a success or a zod error that has issues: it never throws. */
function expectParseNeverThrows(parse: () => { success: boolean; error?: { issues: unknown[] } }): void {
  const result = parse();
  if (!result.success) expect(result.error?.issues.length).toBeGreaterThan(0);
}

const anyJson = fc.jsonValue({ maxDepth: 6 });
/** Objects shaped roughly like the intake payloads, so the properties reach past the first field. */
const labels = fc.dictionary(fc.string(), fc.string(), { maxKeys: 5 });
const alertLike = fc.record(
  {
    status: fc.constantFrom('firing', 'resolved', 'x'),
    labels,
    annotations: labels,
    startsAt: fc.constantFrom('2026-11-26T08:00:00Z', 'nope'),
    endsAt: fc.string(),
    fingerprint: fc.string(),
    generatorURL: fc.string(),
  },
  { requiredKeys: [] },
);
const webhookLike = fc.record(
  {
    version: fc.constantFrom('4', 4, '3'),
    groupKey: fc.string(),
    status: fc.constantFrom('firing', 'resolved'),
    receiver: fc.string(),
    alerts: fc.array(alertLike, { maxLength: 4 }),
    extra: anyJson,
  },
  { requiredKeys: [] },
);
const intakeBody = fc.oneof(anyJson, alertLike, fc.array(alertLike, { maxLength: 4 }), webhookLike);

describe('intake schemas under arbitrary JSON (fast-check)', () => {
  it('never throw: success, or a zod error with issues', () => {
    fc.assert(
      fc.property(intakeBody, (body) => {
        expectParseNeverThrows(() => AlertmanagerWebhook.safeParse(body));
        expectParseNeverThrows(() => PostableAlert.safeParse(body));
        expectParseNeverThrows(() => PostableAlerts.safeParse(body));
        expectParseNeverThrows(() => PostableAlertOrAlerts.safeParse(body));
        expectParseNeverThrows(() => externalIntakeSchema(body).safeParse(body));
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throw on arbitrary rule criteria and silences, and accepted regexes compile', () => {
    const criterion = fc.oneof(fc.string(), fc.record({ regex: fc.string() }), fc.record({ not: fc.string() }), fc.record({ notRegex: fc.string() }), anyJson);
    fc.assert(
      fc.property(fc.dictionary(fc.string(), criterion), anyJson, (criteria, silence) => {
        expectParseNeverThrows(() => MatchCriteria.safeParse(criteria));
        expectParseNeverThrows(() => PostableSilence.safeParse(silence));
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('hostile intake input', () => {
  const alert = { labels: { alertname: 'X' } };

  it(`refuses more than ${MAX_ALERTS_PER_REQUEST} alerts in one request with a clear issue`, () => {
    expect(PostableAlerts.safeParse(Array.from({ length: MAX_ALERTS_PER_REQUEST }, () => alert)).success).toBe(true);
    const many = PostableAlerts.safeParse(Array.from({ length: 100_000 }, () => alert));
    expect(many.success).toBe(false);
    expect(many.error?.issues[0]?.message).toBe(`at most ${MAX_ALERTS_PER_REQUEST} alerts per request`);
  });

  it('refuses JSON nested deeper than MAX_JSON_DEPTH, without overflowing the stack', () => {
    let deep: unknown = 'bottom';
    for (let i = 0; i < 200_000; i += 1) deep = [deep];
    expect(jsonValueProblem(deep)?.message).toMatch(/nested deeper/);
    const result = PostableAlert.safeParse({ ...alert, extra: deep });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  });

  it('keeps control characters and SQL metacharacters verbatim, refuses NUL and lone surrogates', () => {
    // Label names keep Prometheus's grammar (intake bounds); values and annotations carry anything storable.
    const verbatim = {
      labels: { alertname: "x'; DROP TABLE alert_groups; --", we_ird: 'tab\there\u001b[31m\r\n"\\%_\u0001' },
      annotations: { 'we\u0001ird\n': "'; --" },
    };
    expect(PostableAlert.parse(verbatim)).toMatchObject(verbatim);
    for (const bad of ['a\u0000b', 'lone \ud800 high', 'lone \udc00 low']) {
      expect(PostableAlert.safeParse({ labels: { alertname: bad } }).success).toBe(false);
      expect(PostableAlert.safeParse({ labels: { alertname: 'X' }, annotations: { [bad]: 'v' } }).success).toBe(false);
      expect(PostableAlert.safeParse({ ...alert, unknownField: { nested: bad } }).success).toBe(false);
    }
    expect(PostableAlert.safeParse({ labels: { alertname: 'emoji 🔥 ok' } }).success).toBe(true);
  });

  it('refuses timestamps PostgreSQL cannot store (year 0000), keeps the zero time 0001-01-01', () => {
    const webhookAlert = {
      status: 'firing',
      labels: { alertname: 'X' },
      annotations: {},
      startsAt: '2026-11-26T08:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: '',
    };
    const webhook = (startsAt: string) => ({
      version: '4',
      groupKey: 'k',
      status: 'firing',
      receiver: 'r',
      groupLabels: {},
      commonLabels: {},
      commonAnnotations: {},
      externalURL: '',
      alerts: [{ ...webhookAlert, startsAt }],
    });
    expect(AlertmanagerWebhook.safeParse(webhook('2026-11-26T08:00:00Z')).success).toBe(true);
    const result = AlertmanagerWebhook.safeParse(webhook('0000-06-01T00:00:00Z'));
    expect(result.error?.issues).toMatchObject([{ path: ['alerts', 0, 'startsAt'], message: 'year 0000 cannot be stored: the first year is 0001' }]);
    expect(PostableAlert.safeParse({ ...alert, endsAt: '0000-12-31T23:59:59Z' }).success).toBe(false);
    expect(PostableAlert.safeParse({ ...alert, endsAt: '0001-01-01T00:00:00Z' }).success).toBe(true);
  });
});

describe('regexes are RE2 (linear time): no "catastrophic pattern" is refused any more', () => {
  const silence = (value: string) => ({
    matchers: [{ name: 'host', value, isRegex: true }],
    startsAt: '2026-11-26T08:00:00Z',
    endsAt: '2026-11-27T08:00:00Z',
    createdBy: 'a',
    comment: 'c',
  });
  const value = 'a'.repeat(8 * 1024);

  // Each of these backtracks exponentially (or in a high power of the length) in JS RegExp;
  // a backtracking engine would take minutes or years on an 8 KiB value.
  it.each(['(a+)+$', '(a*)*b', '(\\w+\\s?)*', '(a|aa)+', '((ab)*c)+', '(x+x+)+y', '([a-z]+)*', '(.*){1,}', '(.*.*){1,20}x', '.*.*.*.*.*.*.*.*x', '(a|a)*b'])(
    'accepts %s, and it matches an 8 KiB value at once',
    (source) => {
      expect(regexError(source)).toBeNull();
      expect(MatchCriteria.safeParse({ host: { regex: source } }).success).toBe(true);
      expect(MatchCriteria.safeParse({ host: { notRegex: source } }).success).toBe(true);
      expect(PostableSilence.safeParse(silence(source)).success).toBe(true);
      const started = performance.now();
      const regex = compileAnchoredRegex(source);
      regex.test(value);
      regex.test(`${value}!`);
      expect(performance.now() - started).toBeLessThan(1_000);
    },
  );

  it.each([
    'host-[0-9]+',
    'web-.*',
    '(prod|staging)',
    'a+b*c{2,}',
    '(ab)+',
    '(?:web|db)-\\d+',
    '[(|)]+',
    '\\(a+\\)+',
    '(a+)?',
    '(a+){0,3}',
    '(?i)prod',
    '(?P<env>prod)',
    '\\pL+',
  ])('accepts %s', (source) => {
    expect(regexError(source)).toBeNull();
    expect(PostableSilence.safeParse(silence(source)).success).toBe(true);
  });

  it.each([
    ['(?=a)', 'invalid or unsupported Perl syntax: `(?=`'],
    ['(?!a)b', 'invalid or unsupported Perl syntax: `(?!`'],
    ['(a)\\1', 'invalid escape sequence: `\\1`'],
    ['a{1001}', 'invalid repeat count: `{1001}`'],
    ['db-(', 'missing closing ): `db-(`'],
    ['a)|(b', 'unexpected ): `a)|(b`'],
    ['[z-a]', 'invalid character class range: `z-a`'],
    ['a'.repeat(1_001), 'longer than 1000 characters'],
  ])('refuses %s (not RE2) naming the problem', (source, problem) => {
    expect(regexError(source)).toBe(problem);
    const criteria = MatchCriteria.safeParse({ host: { regex: source } });
    expect(criteria.error?.issues[0]?.message).toBe(`invalid regular expression: ${problem}`);
    expect(MatchCriteria.safeParse({ host: { notRegex: source } }).success).toBe(false);
    const result = PostableSilence.safeParse(silence(source));
    expect(result.error?.issues[0]?.message).toBe(`invalid regular expression "${source}": ${problem}`);
  });
});
