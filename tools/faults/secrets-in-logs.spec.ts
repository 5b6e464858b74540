import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import {
  createTestDatabase,
  createTestVhost,
  startSlackMock,
  TEST_RABBITMQ_HOST,
  waitFor,
  type SlackMock,
  type TestDatabase,
  type TestVhost,
} from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '../e2e/services';

const run = promisify(execFile);
const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });

/**
 * Secrets never reach logs, error messages, metrics or API responses (issue 11): the built
 * services run as real processes with a password in RABBITMQ_URL (a RabbitMQ user of its own),
 * WEBHOOK_TOKENS, and a Slack endpoint whose path is the secret (as the real webhook URL's
 * is); traffic goes through good and bad paths (401s, 400s, a Slack 500 and its retry, debug
 * logging), then every line of every service's stdout/stderr, every /metrics page and every
 * HTTP answer is searched for each secret.
 */
describe('secrets never appear in logs, metrics or responses', () => {
  const suffix = randomBytes(6).toString('hex');
  const user = `sentryhub-secrets-${suffix}`;
  const secrets = {
    rabbitPassword: `rabbit-pw-${randomBytes(12).toString('hex')}`,
    webhookToken: `whtoken-${randomBytes(12).toString('hex')}`,
    slackPath: `T000-B000-${randomBytes(12).toString('hex')}`,
  };
  let vhost: TestVhost;
  let database: TestDatabase;
  let slack: SlackMock;
  let userCreated = false;
  const services: RunningService[] = [];
  const answers: string[] = [];

  beforeAll(async () => {
    [vhost, database, slack] = await Promise.all([createTestVhost('secrets'), createTestDatabase('secrets'), startSlackMock()]);
    await rabbitmqctl('add_user', user, secrets.rabbitPassword);
    userCreated = true;
    await rabbitmqctl('set_permissions', '-p', vhost.vhost, user, '.*', '.*', '.*');
    await database.db
      .insertInto('slack_rules')
      .values({ name: 'all', priority: 0, match_criteria: JSON.stringify({}), message_template: '{{ alert_group.name }}', updated_at: new Date() })
      .execute();
    // The first Slack answer is a 500: the retry path (and its error logging) runs too.
    let calls = 0;
    slack.respondWith(() => (++calls === 1 ? { status: 500, body: 'internal_error' } : { status: 200, body: 'ok' }));
    const env = {
      RABBITMQ_URL: `amqp://${user}:${secrets.rabbitPassword}@${TEST_RABBITMQ_HOST}:5672/${encodeURIComponent(vhost.vhost)}`,
      DATABASE_URL: database.url,
      SLACK_INTERNAL_ENDPOINT: `${slack.url}${secrets.slackPath}`,
      WEBHOOK_TOKENS: `other-token,${secrets.webhookToken}`,
      LOG_LEVEL: 'debug',
    };
    services.push(...(await Promise.all([startService('alert-processor', env, 'HEALTH_PORT'), startService('slack-notifier', env, 'HEALTH_PORT')])));
    services.push(await startService('webhook-gateway', env, 'PORT'));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(services.map((service) => service.stop()));
    await Promise.all([slack?.close(), database?.destroy()]);
    if (userCreated) await rabbitmqctl('delete_user', user);
    await vhost?.destroy();
  }, 60_000);

  it('sends traffic through good and bad paths, then finds no secret anywhere', async () => {
    const gateway = services.find((service) => service.name === 'webhook-gateway');
    if (!gateway) throw new Error('the gateway did not start');
    const url = `http://127.0.0.1:${gateway.port}`;
    const post = async (path: string, body: string, authorization?: string) => {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body,
      });
      answers.push(`${response.status} ${JSON.stringify([...response.headers])} ${await response.text()}`);
      return response.status;
    };
    const alert = (name: string) => JSON.stringify([{ labels: { alertname: name } }]);
    expect(await post('/api/v2/alerts', alert('SecretsBearer'), `Bearer ${secrets.webhookToken}`)).toBe(202);
    expect(await post('/api/v2/alerts', alert('SecretsBasic'), `Basic ${Buffer.from(`am:${secrets.webhookToken}`).toString('base64')}`)).toBe(202);
    expect(await post('/api/v2/alerts', alert('Wrong'), `Bearer ${secrets.webhookToken}x`)).toBe(401);
    expect(await post('/api/v2/alerts', alert('Wrong'), `Basic ${Buffer.from(`${secrets.webhookToken}:nope`).toString('base64')}`)).toBe(401);
    expect(await post('/api/v2/alerts', '[{"labels":', `Bearer ${secrets.webhookToken}`)).toBe(400);
    expect(await post('/api/v2/alerts', JSON.stringify([{ labels: {} }]), `Bearer ${secrets.webhookToken}`)).toBe(400);

    // Both alerts reach Slack (one after a 500 and a retry through the broker).
    await waitFor(
      async () => {
        const sent = await database.db.selectFrom('notifications').select('id').where('status', '=', 'sent').execute();
        return sent.length >= 2 ? sent : null;
      },
      60_000,
      'both notifications to be sent',
    );
    for (const service of services) {
      const metrics = await fetch(`http://127.0.0.1:${service.port}/metrics`).then((response) => response.text());
      answers.push(metrics);
    }
    const notifications = await database.db.selectFrom('notifications').select(['last_error', 'text']).execute();
    answers.push(JSON.stringify(notifications));
    await Promise.all(services.map((service) => service.stop()));

    const everything = [...services.flatMap((service) => service.output.map((line) => `${service.name}: ${line}`)), ...answers];
    expect(everything.length).toBeGreaterThan(10);
    for (const [name, secret] of Object.entries(secrets)) {
      const leaks = everything.filter(
        (line) => line.includes(secret) || line.includes(encodeURIComponent(secret)) || line.includes(Buffer.from(secret).toString('base64')),
      );
      expect(leaks, `${name} leaked`).toEqual([]);
    }
  }, 120_000);
});
