import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackRequest {
  channel: string;
  text: string;
  receivedAt: number;
  /** The status this request was answered with (200 unless respondWith said otherwise). */
  status?: number;
}

export interface SlackReply {
  status: number;
  body: string;
  headers?: Record<string, string>;
}

export interface SlackMock {
  url: string;
  requests: SlackRequest[];
  /** What the next requests get; the default is Slack's `200 ok`. */
  respondWith(reply: (request: SlackRequest) => SlackReply): void;
  waitForRequests(count: number, timeoutMs?: number): Promise<SlackRequest[]>;
  close(): Promise<void>;
}

const OK: SlackReply = { status: 200, body: 'ok' };

/** A local HTTP server standing in for Slack's incoming webhook (behind nginx in production). */
export async function startSlackMock(): Promise<SlackMock> {
  const requests: SlackRequest[] = [];
  let reply: (request: SlackRequest) => SlackReply = () => OK;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let request: SlackRequest;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { channel?: string; text?: string };
        request = { channel: String(body.channel ?? ''), text: String(body.text ?? ''), receivedAt: Date.now() };
      } catch {
        res.writeHead(400).end('invalid_payload');
        return;
      }
      requests.push(request);
      const answer = reply(request);
      request.status = answer.status;
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/slack-proxy/`,
    requests,
    respondWith: (next) => {
      reply = next;
    },
    waitForRequests: (count, timeoutMs = 20_000) =>
      waitFor(() => (requests.length >= count ? requests.slice() : null), timeoutMs, `${count} Slack requests (got ${requests.length})`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls until `check` returns a value, or fails naming what it waited for. */
export async function waitFor<T>(check: () => T | null | undefined | Promise<T | null | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null && value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
