/**
 * A CPU profile of a running service over a window of the bench (not its whole life, as
 * `node --cpu-prof` gives): the service runs with `--inspect=127.0.0.1:0`, and this connects to
 * its inspector over the DevTools protocol, starts V8's profiler and stops it at the window's end.
 * With `allocations`, V8's sampling heap profiler runs beside it and keeps the samples of objects
 * already collected too: where the bytes a service allocates come from, garbage included (what
 * makes its heap grow between full collections), not only what is still alive at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
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
  const waiting = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.addEventListener('message', (message: MessageEvent) => {
    const data = JSON.parse(String(message.data)) as { id?: number; result?: unknown; error?: { message?: string } };
    if (data.id === undefined) return;
    const call = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.error) call?.reject(new Error(`${url}: ${data.error.message ?? 'DevTools error'}`));
    else call?.resolve(data.result);
  });
  // A service that exits (or a socket that breaks) fails the calls still waiting instead of leaving them hanging.
  socket.addEventListener('close', () => {
    for (const call of waiting.values()) call.reject(new Error(`${url}: inspector connection closed`));
    waiting.clear();
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      next += 1;
      waiting.set(next, { resolve, reject });
      socket.send(JSON.stringify({ id: next, method, params }));
    });
  return { send, close: () => socket.close() };
}

/**
 * Starts profiling each service; the returned function stops them and writes
 * `<dir>/<service>-<label>.cpuprofile` (open it in Chrome's DevTools or speedscope).
 */
export async function profileWindow(
  services: Service[],
  dir: string,
  label: string,
  options: { allocations?: boolean } = {},
): Promise<() => Promise<string[]>> {
  mkdirSync(dir, { recursive: true });
  const started = await Promise.allSettled(
    services.map(async (service) => {
      const session = await devtools(inspectorUrl(service));
      try {
        await session.send('Profiler.enable');
        await session.send('Profiler.setSamplingInterval', { interval: 200 });
        await session.send('Profiler.start');
        if (options.allocations) {
          await session.send('HeapProfiler.enable');
          await session.send('HeapProfiler.startSampling', {
            samplingInterval: 32_768,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          });
        }
      } catch (error) {
        session.close();
        throw error;
      }
      return { service, session };
    }),
  );
  const sessions = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failed = started.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    // None half-profiled: close the sessions that did start.
    for (const { session } of sessions) session.close();
    throw failed.reason;
  }
  return async () =>
    Promise.all(
      sessions.map(async ({ service, session }) => {
        const { profile } = (await session.send('Profiler.stop')) as { profile: unknown };
        const allocations = options.allocations ? ((await session.send('HeapProfiler.stopSampling')) as { profile: unknown }).profile : null;
        session.close();
        const base = `${dir}/${service.name.replace(/[^\w-]/g, '_')}-${label}`;
        writeFileSync(`${base}.cpuprofile`, JSON.stringify(profile));
        if (allocations) writeFileSync(`${base}.heapprofile`, JSON.stringify(allocations));
        return allocations ? [`${base}.cpuprofile`, `${base}.heapprofile`] : [`${base}.cpuprofile`];
      }),
    ).then((files) => files.flat());
}
