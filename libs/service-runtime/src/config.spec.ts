import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig, rabbitmqUrl, rabbitmqUrls, redactUrl, sharedEnv } from './config';

const Schema = z.object({ ...sharedEnv, PORT: z.coerce.number().int().default(8080) });

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    const result = parseConfig(Schema, {});
    expect(result).toMatchObject({
      ok: true,
      config: {
        RABBITMQ_HOST: 'localhost',
        RABBITMQ_PORT: 5672,
        RABBITMQ_HEARTBEAT: 10,
        DATABASE_URL: 'postgres://postgres@localhost:5432/sentryhub',
        LOG_LEVEL: 'info',
        PORT: 8080,
      },
    });
  });

  it('names every bad variable', () => {
    const result = parseConfig(Schema, { RABBITMQ_PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://x' });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toHaveLength(3);
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'RABBITMQ_PORT']);
  });
});

describe('rabbitmqUrl', () => {
  const parts = { RABBITMQ_HOST: 'mq', RABBITMQ_PORT: 5671, RABBITMQ_VHOST: '/', RABBITMQ_USER: 'u', RABBITMQ_PASSWORD: 'p@ss', RABBITMQ_HEARTBEAT: 10 };
  it('builds the URL from the parts, encoding the vhost and password', () => {
    expect(rabbitmqUrl(parts)).toBe('amqp://u:p%40ss@mq:5671/%2F?heartbeat=10');
  });
  it('prefers RABBITMQ_URL and keeps its own heartbeat', () => {
    expect(rabbitmqUrl({ ...parts, RABBITMQ_URL: 'amqps://a:b@host/v?heartbeat=5' })).toBe('amqps://a:b@host/v?heartbeat=5');
  });
  it('takes RABBITMQ_URLS over RABBITMQ_URL and the parts: every node in order, each with the heartbeat unless it names one', () => {
    const parsed = parseConfig(Schema, {
      RABBITMQ_URLS: ' amqp://u:p@mq-a:5672/v , amqp://u:p@mq-b:5672/v?heartbeat=3,amqps://u:p@mq-c/v',
      RABBITMQ_URL: 'amqp://other/',
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(parsed.config.RABBITMQ_URLS).toEqual(['amqp://u:p@mq-a:5672/v', 'amqp://u:p@mq-b:5672/v?heartbeat=3', 'amqps://u:p@mq-c/v']);
    expect(rabbitmqUrls(parsed.config)).toEqual([
      'amqp://u:p@mq-a:5672/v?heartbeat=10',
      'amqp://u:p@mq-b:5672/v?heartbeat=3',
      'amqps://u:p@mq-c/v?heartbeat=10',
    ]);
    expect(rabbitmqUrl(parsed.config)).toBe('amqp://u:p@mq-a:5672/v?heartbeat=10');
  });
  it('without RABBITMQ_URLS, one address: RABBITMQ_URL or the parts', () => {
    expect(rabbitmqUrls(parts)).toEqual(['amqp://u:p%40ss@mq:5671/%2F?heartbeat=10']);
    expect(rabbitmqUrls({ ...parts, RABBITMQ_URL: 'amqp://a:b@host/v' })).toEqual(['amqp://a:b@host/v?heartbeat=10']);
  });
  it('refuses a RABBITMQ_URLS entry that is no amqp URL, an empty list and a repeated node, naming the variable', () => {
    for (const value of ['amqp://mq-a/v,http://mq-b/v', ' , ', 'amqp://mq-a/v,amqp://mq-a/v', 'amqp://mq-a/v,amqp:///v']) {
      const parsed = parseConfig(Schema, { RABBITMQ_URLS: value });
      expect(parsed.ok, value).toBe(false);
      expect(parsed.ok ? [] : parsed.problems.map((problem) => problem.split('.')[0]?.split(':')[0]), value).toEqual(['RABBITMQ_URLS']);
    }
  });
  it('hides the password for logs', () => {
    expect(redactUrl('amqp://u:secret@mq:5672/')).toBe('amqp://u:***@mq:5672/');
  });
});
