import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toErrorIssues } from './http';
import { compileAnchoredRegex, MAX_REGEX_LENGTH, RegexSyntaxError } from './rules';
import { deadLetterQueueName, retryQueueName } from './topology';

/** Error issues as the HTTP error shape writes them, the regex length bound, and the derived queue names. */

describe('toErrorIssues', () => {
  it('writes each issue path dotted, array indexes included, and the root as ""', () => {
    const schema = z.object({ alerts: z.array(z.object({ labels: z.record(z.string(), z.string()) })) });
    const error = schema.safeParse({ alerts: [{ labels: {} }, { labels: { a: 1 } }] }).error;
    if (!error) throw new Error('expected an error');
    expect(toErrorIssues(error)).toEqual([{ path: 'alerts.1.labels.a', message: expect.any(String) }]);
    const root = z.string().safeParse(1).error;
    if (!root) throw new Error('expected an error');
    expect(toErrorIssues(root)).toEqual([{ path: '', message: expect.any(String) }]);
  });
});

describe('compileAnchoredRegex', () => {
  it('takes a regex of exactly the maximum length and refuses one character more, saying why', () => {
    expect(compileAnchoredRegex('a'.repeat(MAX_REGEX_LENGTH)).test('a'.repeat(MAX_REGEX_LENGTH))).toBe(true);
    expect(() => compileAnchoredRegex('a'.repeat(MAX_REGEX_LENGTH + 1))).toThrow(RegexSyntaxError);
    expect(() => compileAnchoredRegex('a'.repeat(MAX_REGEX_LENGTH + 1))).toThrow(`longer than ${MAX_REGEX_LENGTH} characters`);
  });
});

describe('queue names', () => {
  it('derives the dead-letter and retry queues from the work queue', () => {
    expect(deadLetterQueueName('sentryhub_alerts')).toBe('sentryhub_alerts.dead');
    expect(retryQueueName('sentryhub_alerts', 2)).toBe('sentryhub_alerts.retry.2');
  });
});
