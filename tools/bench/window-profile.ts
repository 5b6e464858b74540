/**
 * A CPU profile of a running service over a window of the bench (not its whole life, as
 * `node --cpu-prof` gives): the service runs with `--inspect=127.0.0.1:0`, and this connects to
 * its inspector over the DevTools protocol, starts V8's profiler and stops it at the window's end.
 */
import { writeFileSync } from 'node:fs';
import type { Service } from './stack-bench-services';

/** The inspector's WebSocket address the service printed on start ("Debugger listening on ws://..."). */
function inspectorUrl(service: Service): string {
  for (const line of service.output) {
    const match = /Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (match?.[1]) return match[1];
  }
  throw new Error(`${service.name} printed no inspector address: was it started with --inspect?`);
}

/** One DevTools session: commands by id, answered in order. */
async function devtools(url: string) {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`could not connect to ${url}`)), { once: true });
  });
  let next = 0;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.addEventListener('message', (message: MessageEvent) => {
    const data = JSON.parse(String(message.data)) as { id?: number; result?: unknown };
    if (data.id !== undefined) waiting.get(data.id)?.(data.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve) => {
      next += 1;
      waiting.set(next, resolve);
      socket.send(JSON.stringify({ id: next, method, params }));
    });
  return { send, close: () => socket.close() };
}

/**
 * Starts profiling each service; the returned function stops them and writes
 * `<dir>/<service>-<label>.cpuprofile` (open it in Chrome's DevTools or speedscope).
 */
export async function profileWindow(services: Service[], dir: string, label: string): Promise<() => Promise<string[]>> {
  const sessions = await Promise.all(
    services.map(async (service) => {
      const session = await devtools(inspectorUrl(service));
      await session.send('Profiler.enable');
      await session.send('Profiler.setSamplingInterval', { interval: 200 });
      await session.send('Profiler.start');
      return { service, session };
    }),
  );
  return async () =>
    Promise.all(
      sessions.map(async ({ service, session }) => {
        const { profile } = (await session.send('Profiler.stop')) as { profile: unknown };
        session.close();
        const file = `${dir}/${service.name.replace(/[^\w-]/g, '_')}-${label}.cpuprofile`;
        writeFileSync(file, JSON.stringify(profile));
        return file;
      }),
    );
}
