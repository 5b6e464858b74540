/**
 * Load generation of `npm run bench`: autocannon for closed-loop scenarios (as fast as the
 * connections go), loadtest for an offered rate. The bench process is the client of every
 * target: the stack's gateways, the gateway alone, the bare fastify route and Alertmanager.
 */
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { loadTest } from 'loadtest';
import type { Options } from './stack-bench-options';
import type { BodyOf } from './stack-bench-scenarios';
import { quantile } from './system-stats';

export interface LoadResult {
  /** Requests answered (any status). */
  requests: number;
  /** Bodies made, one per request sent or about to be: an upper bound of what the target received (answered or still in flight when the load stopped). */
  sent: number;
  requestsPerSecond: number;
  seconds: number;
  latencyMs: { p50: number; p99: number; p99_9: number; max: number };
  statuses: Record<string, number>;
  connectionErrors: number;
  timeouts: number;
  /** With more than one gateway: each autocannon instance (one per gateway) on its own; the figures above are their sums, and percentiles of every response time of all of them. */
  perGateway?: { requests: number; requestsPerSecond: number; connections: number; latencyMs: LoadResult['latencyMs']; statuses: Record<string, number> }[];
}

/** Every response's time, bucketed by the sampler's window. */
export const windowLatencies: number[] = [];

/** What one load generator instance (one per gateway) reports. */
export interface InstanceLoad {
  statuses: Record<string, number>;
  /** Every response's time, ms. */
  latencies: number[];
  connectionErrors: number;
  timeouts: number;
}

/**
 * One load generator instance per URL (gateway), started together: connections, a fixed amount
 * and an offered rate split evenly among them, the bodies made from one shared request counter
 * (request n gets body(n): the same requests, in the same order, whatever the target).
 * Requests and statuses are summed and the latency percentiles are those of every response time
 * of all instances. Closed loop (as fast as the connections go): autocannon. An offered rate:
 * loadtest, which sends one request every 1/rate s whatever the responses (open loop), where
 * autocannon's rate lets each connection send its whole quota at the start of every second (a
 * burst of the second's load, not a pace).
 */
export async function drive(
  urls: string | string[],
  path: string,
  body: BodyOf,
  options: Options,
  run: { durationS?: number; amount?: number; rate?: number },
): Promise<LoadResult> {
  const targets = typeof urls === 'string' ? [urls] : urls;
  const share = (totalValue: number, index: number) => Math.floor(totalValue / targets.length) + (index < totalValue % targets.length ? 1 : 0);
  let next = 0;
  const nextBody = () => body(next++);
  const durationS = run.durationS ?? options.durationS;
  const started = performance.now();
  const results = await Promise.all(
    targets.map((url, index) =>
      run.rate
        ? runPaced(url, path, nextBody, { rate: run.rate / targets.length, durationS })
        : runAutocannon(url, path, nextBody, {
            connections: share(options.connections, index),
            ...(run.amount ? { amount: share(run.amount, index) } : { durationS }),
          }),
    ),
  );
  // Our own clock: autocannon's duration is coarse for short runs.
  const seconds = (performance.now() - started) / 1000;
  const countOf = (statuses: Record<string, number>) => Object.values(statuses).reduce((sum, count) => sum + count, 0);
  const latencyOf = (latencies: number[]) => {
    const sorted = Float64Array.from(latencies).sort();
    return {
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      p99_9: quantile(sorted, 0.999),
      max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
    };
  };
  const statuses: Record<string, number> = {};
  for (const result of results) for (const [code, count] of Object.entries(result.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
  const requests = countOf(statuses);
  return {
    requests,
    sent: next,
    requestsPerSecond: requests / seconds,
    seconds,
    latencyMs: latencyOf(results.flatMap((result) => result.latencies)),
    statuses,
    connectionErrors: results.reduce((sum, result) => sum + result.connectionErrors, 0),
    timeouts: results.reduce((sum, result) => sum + result.timeouts, 0),
    ...(results.length === 1
      ? {}
      : {
          perGateway: results.map((result, index) => ({
            requests: countOf(result.statuses),
            requestsPerSecond: countOf(result.statuses) / seconds,
            connections: run.rate ? 0 : share(options.connections, index),
            latencyMs: latencyOf(result.latencies),
            statuses: result.statuses,
          })),
        }),
  };
}

export async function runAutocannon(
  url: string,
  path: string,
  nextBody: () => string,
  run: { connections: number; durationS?: number; amount?: number },
): Promise<InstanceLoad> {
  const latencies: number[] = [];
  const done = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections: run.connections,
        ...(run.amount ? { amount: run.amount } : { duration: run.durationS }),
        timeout: 30,
        headers: { 'content-type': 'application/json' },
        requests: [{ method: 'POST', path, setupRequest: (request) => ({ ...request, body: nextBody() }) }],
      },
      (error: unknown, result: autocannon.Result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)),
    );
    instance.on('response', (_client: autocannon.Client, _status: number, _bytes: number, responseTime: number) => {
      windowLatencies.push(responseTime);
      latencies.push(responseTime);
    });
  });
  const statuses: Record<string, number> = {};
  for (const [code, stat] of Object.entries(done.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0;
  return { statuses, latencies, connectionErrors: done.errors, timeouts: done.timeouts };
}

/** An open-loop constant rate (loadtest's requestsPerSecond): request i goes at i/rate s, answered or not. */
export async function runPaced(url: string, path: string, nextBody: () => string, run: { rate: number; durationS: number }): Promise<InstanceLoad> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let connectionErrors = 0;
  await new Promise<void>((resolve, reject) =>
    loadTest(
      {
        url: new URL(path, url).href,
        method: 'POST',
        contentType: 'application/json',
        body: nextBody,
        requestsPerSecond: Math.max(1, Math.round(run.rate)),
        maxSeconds: run.durationS,
        agentKeepAlive: true,
        timeout: 30_000,
        quiet: true,
        statusCallback: (_error: unknown, result?: { statusCode?: number; requestElapsed?: number }) => {
          if (result?.statusCode === undefined) {
            connectionErrors += 1;
            return;
          }
          statuses[result.statusCode] = (statuses[result.statusCode] ?? 0) + 1;
          if (result.requestElapsed !== undefined) {
            windowLatencies.push(result.requestElapsed);
            latencies.push(result.requestElapsed);
          }
        },
      },
      (error: unknown) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve()),
    ),
  );
  return { statuses, latencies, connectionErrors, timeouts: 0 };
}
