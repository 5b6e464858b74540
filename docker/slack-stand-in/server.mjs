// A stand-in for Slack's incoming webhook, for `docker compose up` on a laptop: the nginx
// Slack proxy forwards to it instead of hooks.slack.com. Every POST whose JSON body has
// `text` is answered `200 ok` (what Slack answers) and printed as one JSON line, so
// `docker compose logs -f slack-stand-in` shows what would have reached Slack;
// GET /messages lists the last 1,000 of them. Plain Node, no dependencies.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const messages = [];

const server = createServer((request, response) => {
  const reply = (status, body, type = 'text/plain') => response.writeHead(status, { 'content-type': type }).end(body);
  if (request.method === 'GET' && request.url === '/healthz') return reply(200, 'ok');
  if (request.method === 'GET' && request.url === '/messages') return reply(200, JSON.stringify(messages), 'application/json');
  if (request.method !== 'POST') return reply(405, 'invalid_method');
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(400, 'invalid_payload');
    }
    if (typeof body?.text !== 'string' || body.text === '') return reply(400, 'no_text');
    const message = { receivedAt: new Date().toISOString(), path: request.url, channel: body.channel ?? null, text: body.text };
    messages.push(message);
    if (messages.length > 1000) messages.shift();
    process.stdout.write(`${JSON.stringify(message)}\n`);
    reply(200, 'ok');
  });
});

server.listen(port, () => process.stdout.write(`slack stand-in listening on :${port}\n`));
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => server.close(() => process.exit(0)));
