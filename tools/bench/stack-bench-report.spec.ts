import { describe, expect, it } from 'vitest';
import { slackLatency } from './stack-bench-report';

describe("the report's receipt -> Slack cell", () => {
  const latency = { alerts: 50_000, p50: 1_642.4, p99: 2_886.2, max: 2_976, expected: 50_000 };

  it('gives p50 / p99 once every alert was sent', () => {
    expect(slackLatency({ ...latency, sent: 50_000 })).toBe('1,642 / 2,886');
  });

  it('says how many were sent when the wait ended first', () => {
    expect(slackLatency({ ...latency, sent: 20_000 })).toBe('1,642 / 2,886 (20,000 of 50,000 sent)');
  });

  it('says none was sent, instead of looking like a scenario that was not measured', () => {
    expect(slackLatency({ alerts: 0, p50: Number.NaN, p99: Number.NaN, max: Number.NaN, sent: 0, expected: 50_000 })).toBe('none of 50,000 sent in the wait');
    expect(slackLatency(null)).toBe('n/a');
  });
});
