import { parseConfig } from '@sentryhub/service-runtime';
import { describe, expect, it } from 'vitest';
import { SlackNotifierConfig } from './config';

describe('SlackNotifierConfig', () => {
  it('has the documented defaults, with the Slack sink when no endpoint is set', () => {
    const result = parseConfig(SlackNotifierConfig, {});
    expect(result).toMatchObject({
      ok: true,
      config: {
        HEALTH_PORT: 9103,
        SLACK_DEFAULT_CHANNEL: '#general',
        SLACK_TIMEOUT_MS: 10_000,
        SLACK_MAX_PER_SECOND: 1,
        NOTIFIER_PREFETCH: 200,
        DATABASE_POOL_SIZE: 10,
      },
    });
    expect(result.ok && result.config.SLACK_INTERNAL_ENDPOINT).toBeUndefined();
  });

  it('names each invalid variable', () => {
    const result = parseConfig(SlackNotifierConfig, { SLACK_INTERNAL_ENDPOINT: 'ftp://proxy', SLACK_TIMEOUT_MS: '-1', SLACK_MAX_PER_SECOND: '0' });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems.some((p) => p.startsWith('SLACK_INTERNAL_ENDPOINT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('SLACK_TIMEOUT_MS:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('SLACK_MAX_PER_SECOND:'))).toBe(true);
  });

  it('takes a fractional SLACK_MAX_PER_SECOND (one message per channel every few seconds)', () => {
    expect(parseConfig(SlackNotifierConfig, { SLACK_MAX_PER_SECOND: '0.5' })).toMatchObject({ ok: true, config: { SLACK_MAX_PER_SECOND: 0.5 } });
  });

  it('accepts the nginx proxy URL', () => {
    const result = parseConfig(SlackNotifierConfig, { SLACK_INTERNAL_ENDPOINT: 'http://nginx:8080/slack', SLACK_DEFAULT_CHANNEL: '#alerts' });
    expect(result).toMatchObject({ ok: true, config: { SLACK_INTERNAL_ENDPOINT: 'http://nginx:8080/slack', SLACK_DEFAULT_CHANNEL: '#alerts' } });
  });
});
