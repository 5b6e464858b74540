import { MAX_ALERTS_PER_REQUEST } from '@sentryhub/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseExternalMessage } from './parse-external-message';

/** A message body as the subscriber decodes it: UTF-8 bytes, then JSON.parse. */
const decode = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'));

/** A refusal always names a reason (it becomes the dead letter's x-error). */
function expectSuccessOrReason(json: unknown): void {
  const result = parseExternalMessage(json);
  if (!result.success) expect(result.error.issues[0]?.message).toBeTruthy();
}

describe('rabbit-consumer parse path under hostile input', () => {
  it('never throws for arbitrary JSON: success, or a reason for the dead letter (fast-check)', () => {
    const labels = fc.dictionary(fc.string(), fc.string(), { maxKeys: 4 });
    const alertLike = fc.record(
      { status: fc.constantFrom('firing', 'resolved'), labels, startsAt: fc.constantFrom('2026-11-26T08:00:00Z', 'x'), extra: fc.jsonValue({ maxDepth: 4 }) },
      { requiredKeys: [] },
    );
    const webhookLike = fc.record(
      {
        version: fc.constantFrom('4', 4),
        groupKey: fc.string(),
        status: fc.constantFrom('firing'),
        receiver: fc.string(),
        alerts: fc.array(alertLike, { maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(fc.oneof(fc.jsonValue({ maxDepth: 6 }), alertLike, fc.array(alertLike, { maxLength: 3 }), webhookLike), expectSuccessOrReason), {
      numRuns: 2_000,
    });
  });

  it('never throws for arbitrary bytes that happen to decode to JSON, invalid UTF-8 included (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const wrapped = Buffer.concat([
          Buffer.from('{"labels":{"alertname":"'),
          Buffer.from(bytes.filter((b) => b !== 0x22 && b !== 0x5c && b >= 0x20)),
          Buffer.from('"}}'),
        ]);
        const json = decode(wrapped);
        expectSuccessOrReason(json);
        const result = parseExternalMessage(json);
        // Invalid sequences decode to U+FFFD: what is accepted is well-formed text (no escaped lone surrogate).
        if (result.success) expect(JSON.stringify(result.data)).not.toMatch(/\\ud[89a-f]/i);
      }),
      { numRuns: 1_000 },
    );
  });

  it(`refuses 100,000 alerts in one message (at most ${MAX_ALERTS_PER_REQUEST}) with a reason`, () => {
    const result = parseExternalMessage(Array.from({ length: 100_000 }, (_, i) => ({ labels: { alertname: `A${i}` } })));
    expect(result.success).toBe(false);
    if (!result.success) expect(result.error.issues[0]?.message).toBe(`at most ${MAX_ALERTS_PER_REQUEST} alerts per request`);
  });

  it('refuses deep nesting, NUL and lone surrogates; keeps control and SQL characters verbatim', () => {
    expect(parseExternalMessage(decode(Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`))).success).toBe(false);
    expect(parseExternalMessage(decode(Buffer.from('{"labels":{"alertname":"a\\u0000"}}'))).success).toBe(false);
    expect(parseExternalMessage(decode(Buffer.from('{"labels":{"alertname":"a\\udfff"}}'))).success).toBe(false);
    const labels = { alertname: "x'); DROP TABLE alert_groups; --", k: '%_\\"\r\n$1\u0001\u001b\t' };
    expect(parseExternalMessage({ labels })).toMatchObject({ success: true, data: { alerts: { kind: 'postable', alerts: [{ labels }] } } });
  });
});
