import { DEFAULT_EXTERNAL_QUEUE } from '@sentryhub/contracts';
import { parseConfig } from '@sentryhub/service-runtime';
import { describe, expect, it } from 'vitest';
import { ConsumerConfig } from './config';

describe('ConsumerConfig', () => {
  it('has the documented defaults of the shared and its own variables', () => {
    const result = parseConfig(ConsumerConfig, {});
    expect(result).toMatchObject({
      ok: true,
      config: { RABBITMQ_EXTERNAL_QUEUE: DEFAULT_EXTERNAL_QUEUE, RABBITMQ_PREFETCH: 50, HEALTH_PORT: 9101, RABBITMQ_VHOST: '/', BODY_LIMIT_BYTES: 1_048_576 },
    });
    expect(result.ok && result.config.RABBITMQ_CA_FILE).toBeUndefined();
  });

  it('reads its variables from the environment', () => {
    const result = parseConfig(ConsumerConfig, {
      RABBITMQ_EXTERNAL_QUEUE: 'partner_alerts',
      RABBITMQ_PREFETCH: '5',
      HEALTH_PORT: '9200',
      BODY_LIMIT_BYTES: '65536',
    });
    expect(result).toMatchObject({
      ok: true,
      config: { RABBITMQ_EXTERNAL_QUEUE: 'partner_alerts', RABBITMQ_PREFETCH: 5, HEALTH_PORT: 9200, BODY_LIMIT_BYTES: 65_536 },
    });
  });

  it('reports one problem per bad variable, naming it', () => {
    const result = parseConfig(ConsumerConfig, { RABBITMQ_PREFETCH: '0', HEALTH_PORT: 'x', RABBITMQ_CA_FILE: '/nonexistent/ca.pem', BODY_LIMIT_BYTES: '1MB' });
    expect(result.ok).toBe(false);
    const problems = result.ok ? [] : result.problems;
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^RABBITMQ_PREFETCH: /),
        expect.stringMatching(/^HEALTH_PORT: /),
        expect.stringMatching(/^BODY_LIMIT_BYTES: /),
        expect.stringMatching(/^RABBITMQ_CA_FILE: cannot read CA bundle \/nonexistent\/ca\.pem/),
      ]),
    );
  });
});
