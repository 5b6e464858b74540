import { createServer, type AddressInfo, type Socket } from 'node:net';
import { createLogger, retryAfterMs } from '@sentryhub/service-runtime';
import { startSlackMock, type SlackMock } from '@sentryhub/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSlackSender } from './slack-client';

const logger = createLogger('slack-client-test', 'silent');

describe('retryAfterMs', () => {
  it('reads delta-seconds and HTTP dates, and falls back to 1 s', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(['0.5'])).toBe(500);
    expect(retryAfterMs(new Date(10_000 + 4_000).toUTCString(), 10_000)).toBe(4_000);
    expect(retryAfterMs(undefined)).toBe(1_000);
    expect(retryAfterMs('soon')).toBe(1_000);
    expect(retryAfterMs('999999')).toBe(600_000);
  });
});

describe('Slack HTTP sender (against a local Slack mock)', () => {
  let mock: SlackMock;
  beforeAll(async () => {
    mock = await startSlackMock();
  });
  afterAll(async () => {
    await mock.close();
  });

  it('posts {channel, text} as JSON and calls a 2xx "ok" sent', async () => {
    const sender = createSlackSender({ endpoint: mock.url, timeoutMs: 2_000 });
    try {
      mock.respondWith(() => ({ status: 200, body: 'ok' }));
      expect(await sender.deliver({ channel: '#c', text: 'hello' }, logger)).toEqual({ outcome: 'sent' });
      expect(mock.requests.at(-1)).toMatchObject({ channel: '#c', text: 'hello' });
    } finally {
      await sender.close();
    }
  });

  it('classifies 4xx as rejected with the body, 5xx and non-ok bodies as retry', async () => {
    const sender = createSlackSender({ endpoint: mock.url, timeoutMs: 2_000 });
    try {
      mock.respondWith(() => ({ status: 404, body: 'channel_not_found' }));
      expect(await sender.deliver({ channel: '#c', text: 'x' }, logger)).toEqual({ outcome: 'rejected', error: 'Slack answered 404: channel_not_found' });
      mock.respondWith(() => ({ status: 502, body: 'bad gateway' }));
      expect(await sender.deliver({ channel: '#c', text: 'x' }, logger)).toEqual({
        outcome: 'retry',
        error: 'Slack answered 502: bad gateway',
        rateLimited: false,
      });
      mock.respondWith(() => ({ status: 200, body: 'invalid_token' }));
      expect(await sender.deliver({ channel: '#c', text: 'x' }, logger)).toMatchObject({ outcome: 'retry', error: expect.stringContaining('invalid_token') });
    } finally {
      await sender.close();
    }
  });

  it('sends nothing to the endpoint before a 429 Retry-After has passed', async () => {
    const sender = createSlackSender({ endpoint: mock.url, timeoutMs: 2_000 });
    try {
      let calls = 0;
      mock.respondWith(() => (++calls === 1 ? { status: 429, body: 'rate_limited', headers: { 'retry-after': '1' } } : { status: 200, body: 'ok' }));
      const start = mock.requests.length;
      expect(await sender.deliver({ channel: '#c', text: 'first' }, logger)).toEqual({
        outcome: 'retry',
        error: 'Slack rate limited (429); retry after 1000 ms: rate_limited',
        rateLimited: true,
      });
      expect(await sender.deliver({ channel: '#other', text: 'second' }, logger)).toEqual({ outcome: 'sent' });
      const [first, second] = mock.requests.slice(start);
      expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? Infinity)).toBeGreaterThanOrEqual(950);
    } finally {
      await sender.close();
    }
  });

  it('calls a refused connection a failure to retry', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const sender = createSlackSender({ endpoint: `http://127.0.0.1:${port}/slack`, timeoutMs: 1_000 });
    try {
      expect(await sender.deliver({ channel: '#c', text: 'x' }, logger)).toMatchObject({
        outcome: 'retry',
        error: expect.stringContaining('Slack request failed'),
      });
    } finally {
      await sender.close();
    }
  });

  it('gives up on an endpoint that never answers after SLACK_TIMEOUT_MS', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => void sockets.push(socket)); // accepts, never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const sender = createSlackSender({ endpoint: `http://127.0.0.1:${port}/slack`, timeoutMs: 300 });
    try {
      const started = Date.now();
      expect(await sender.deliver({ channel: '#c', text: 'x' }, logger)).toMatchObject({ outcome: 'retry' });
      // A bound far above the 300 ms timeout: it proves the request is abandoned, not how fast.
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await sender.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('Slack sink (no SLACK_INTERNAL_ENDPOINT)', () => {
  it('logs the message at info with slackSink, channel and text, and calls it sent', async () => {
    const lines: Record<string, unknown>[] = [];
    const sinkLogger = createLogger('slack-sink-test', 'info', { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const sender = createSlackSender({ endpoint: undefined, timeoutMs: 1_000 });
    expect(sender.mode).toBe('sink');
    expect(await sender.deliver({ channel: '#ops', text: 'disk full' }, sinkLogger.child({ correlationId: 'c-1' }))).toEqual({ outcome: 'sent' });
    expect(lines).toEqual([expect.objectContaining({ level: 30, slackSink: true, channel: '#ops', text: 'disk full', correlationId: 'c-1' })]);
  });
});
