/**
 * The `resend` scenario of `npm run bench`: what a Prometheus does with alerts that stay active.
 * It sends the same alerts (same labels, same fingerprints, same `startsAt`) to
 * `POST /api/v2/alerts` again and again, every evaluation interval, with `endsAt` pushed forward
 * each time (`ValidUntil = now + 4 × max(resend delay, evaluation interval)` in Prometheus's
 * rules/alerting.go), in requests of at most 64 alerts (the notifier's `maxBatchSize` in
 * Prometheus 2, Debian 12's 2.42 included; since prometheus/prometheus#16254 the default is 256), one request after
 * the other (the notifier sends one batch at a time). The figure is the CPU it costs, as cores:
 * CPU seconds of each process over the re-send cycles ÷ their wall seconds.
 */
import { performance } from 'node:perf_hooks';
import { fmt, sleep, type Options } from './stack-bench-options';
import { STARTS_AT } from './stack-bench-scenarios';
import { quantile } from './system-stats';

/** Alerts per request: Prometheus's notifier batch (`maxBatchSize` = 64 in Prometheus 2). */
export const PROMETHEUS_BATCH = 64;

export interface ResendPlan {
  /** Active alerts, each with its own fingerprint, sent every cycle. */
  alerts: number;
  perRequest: number;
  /** Seconds between the starts of two cycles (Prometheus's evaluation interval and resend delay). */
  intervalS: number;
  /** Re-send cycles measured, after the first send (which makes the alerts active). */
  cycles: number;
  /** endsAt = cycle start + this (4 × the interval, as Prometheus). */
  validForS: number;
}

/** Sleeps until performance.now() has reached `at` (a timer may fire a fraction of a millisecond early). */
async function sleepUntil(at: number): Promise<void> {
  while (performance.now() < at) await sleep(Math.max(1, at - performance.now()));
}

export function resendPlan(options: Options): ResendPlan {
  const intervalS = options.quick ? 2 : 15;
  return { alerts: options.quick ? 1_000 : 10_000, perRequest: PROMETHEUS_BATCH, intervalS, cycles: options.quick ? 2 : 4, validForS: 4 * intervalS };
}

export const RESEND_PREFIX = 'Resend';
const SEVERITIES = ['critical', 'warning', 'info'] as const;

/** A request of alerts `first` ... `first + count - 1`, as Prometheus posts them (labels, annotations, startsAt, endsAt, generatorURL). */
export function resendBody(first: number, count: number, endsAt: string): string {
  const items: string[] = [];
  for (let n = first; n < first + count; n++) {
    const name = `${RESEND_PREFIX}${Math.floor(n / 100)}`;
    items.push(
      `{"labels":{"alertname":"${name}","instance":"host-${n % 100}","job":"bench","severity":"${SEVERITIES[n % 3] ?? 'warning'}","team":"bench"},"annotations":{"summary":"Re-sent alert ${name} on host-${n % 100}"},"startsAt":"${STARTS_AT}","endsAt":"${endsAt}","generatorURL":"http://prometheus.bench:9090/graph?g0.expr=up"}`,
    );
  }
  return `[${items.join(',')}]`;
}

/** Cumulative CPU seconds per part (a process, an app, PostgreSQL, RabbitMQ), the machine's busy seconds and the bench's own. */
export interface CpuReading {
  parts: Record<string, number>;
  busy: number;
  client: number;
  /** Counters read with it (the stack's accepted and processed alerts), differenced over a window. */
  counts?: Record<string, number>;
}

export interface CpuProbe {
  read(): Promise<CpuReading>;
}

export interface CpuWindow {
  seconds: number;
  /** CPU seconds per part over the window. */
  cpuSeconds: Record<string, number>;
  /** The same ÷ the window's wall seconds. */
  cores: Record<string, number>;
  totalCores: number;
  /** Cores the machine spent on anything else (not the parts, not the bench's client): other people's work. */
  othersCores: number;
  /** The counters' increase over the window. */
  counts: Record<string, number>;
}

function windowOf(before: CpuReading, after: CpuReading, seconds: number): CpuWindow {
  const cpuSeconds: Record<string, number> = {};
  const cores: Record<string, number> = {};
  let total = 0;
  for (const [part, value] of Object.entries(after.parts)) {
    const spent = Math.max(0, value - (before.parts[part] ?? 0));
    cpuSeconds[part] = spent;
    cores[part] = spent / seconds;
    total += spent;
  }
  const others = Math.max(0, after.busy - before.busy - total - (after.client - before.client));
  const counts: Record<string, number> = {};
  for (const [name, value] of Object.entries(after.counts ?? {})) counts[name] = value - (before.counts?.[name] ?? 0);
  return { seconds, cpuSeconds, cores, totalCores: total / seconds, othersCores: others / seconds, counts };
}

export interface ResendLeg {
  /** Request statuses of the measured re-send cycles. */
  statuses: Record<string, number>;
  requests: number;
  /** Seconds each measured cycle took to post (the rest of the interval is idle). */
  cycleSendSeconds: number[];
  latencyMs: { p50: number; p99: number; max: number };
  /** The stack idle (nothing sent) for one interval before the first send. */
  idle: CpuWindow;
  /** Over the measured re-send cycles: `cycles` × `intervalS`. */
  window: CpuWindow;
  /** Whether the first send's work was done (the target's `settle`) before the measured cycles began. */
  settled: boolean;
}

export interface ResendTarget {
  /** Where request n goes (the gateways in turn; Alertmanager alone). */
  urls: string[];
  probe: CpuProbe;
  /** Waits until the first send's work is done, at most `timeoutMs`; true if it was. */
  settle(timeoutMs: number): Promise<boolean>;
  /** Starts profiling the measured cycles (--profile-resend); what it returns stops and writes the profiles. */
  profile?: () => Promise<() => Promise<string[]>>;
}

/** Posts one cycle, one request after the other (as Prometheus's notifier): the statuses and each request's time. */
export async function postCycle(
  urls: string[],
  plan: ResendPlan,
  endsAt: string,
): Promise<{ statuses: Record<string, number>; latencies: number[]; seconds: number }> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const started = performance.now();
  for (let first = 0, request = 0; first < plan.alerts; first += plan.perRequest, request++) {
    const url = urls[request % urls.length] ?? '';
    const body = resendBody(first, Math.min(plan.perRequest, plan.alerts - first), endsAt);
    const sent = performance.now();
    let status = 'error';
    try {
      const response = await fetch(`${url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      status = String(response.status);
    } catch {
      // Counted as "error": the cycle goes on, as Prometheus's would.
    }
    latencies.push(performance.now() - sent);
    statuses[status] = (statuses[status] ?? 0) + 1;
  }
  return { statuses, latencies, seconds: (performance.now() - started) / 1000 };
}

/**
 * One leg: idle for an interval (measured), the first send (the alerts become active), a wait
 * until its work is done (at most two intervals, so that no lease of 4 intervals runs out), one
 * re-send not measured (warm-up), then `cycles` re-sends at a fixed cadence, the CPU read at the
 * start of the first and at the end of the last interval.
 */
export async function runResendLeg(name: string, target: ResendTarget, plan: ResendPlan): Promise<ResendLeg> {
  const intervalMs = plan.intervalS * 1000;
  const idleBefore = await target.probe.read();
  const idleStart = performance.now();
  await sleepUntil(idleStart + intervalMs);
  const idle = windowOf(idleBefore, await target.probe.read(), (performance.now() - idleStart) / 1000);

  const firstStart = performance.now();
  const first = await postCycle(target.urls, plan, new Date(Date.now() + plan.validForS * 1000).toISOString());
  const firstOk = (first.statuses['200'] ?? 0) + (first.statuses['202'] ?? 0);
  if (firstOk === 0) throw new Error(`resend: ${name} answered no request of the first send with 2xx: ${JSON.stringify(first.statuses)}`);
  const settled = await target.settle(Math.max(0, 2 * intervalMs - (performance.now() - firstStart)));
  // One re-send cycle before the measured ones, not measured: what the first send leaves behind
  // (a notifier collecting the garbage of the digests it made of new alerts) is not what
  // re-sending costs.
  await sleepUntil(firstStart + intervalMs);
  const warmUpStart = performance.now();
  await postCycle(target.urls, plan, new Date(Date.now() + plan.validForS * 1000).toISOString());
  await sleepUntil(warmUpStart + intervalMs);

  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  const cycleSendSeconds: number[] = [];
  const stopProfiles = await target.profile?.();
  const before = await target.probe.read();
  const windowStart = performance.now();
  for (let cycle = 0; cycle < plan.cycles; cycle++) {
    await sleepUntil(windowStart + cycle * intervalMs);
    const endsAt = new Date(Date.now() + plan.validForS * 1000).toISOString();
    const sent = await postCycle(target.urls, plan, endsAt);
    for (const [code, count] of Object.entries(sent.statuses)) statuses[code] = (statuses[code] ?? 0) + count;
    latencies.push(...sent.latencies);
    cycleSendSeconds.push(sent.seconds);
  }
  await sleepUntil(windowStart + plan.cycles * intervalMs);
  const window = windowOf(before, await target.probe.read(), (performance.now() - windowStart) / 1000);
  if (stopProfiles) console.log(`resend (${name}): profiles of the measured cycles in ${(await stopProfiles()).join(', ')}`);
  const sorted = Float64Array.from(latencies).sort();
  console.log(
    `resend (${name}): ${fmt(window.totalCores, 3)} cores over ${plan.cycles} re-sends of ${fmt(plan.alerts)} alerts every ${plan.intervalS} s (idle ${fmt(idle.totalCores, 3)})`,
  );
  return {
    statuses,
    requests: latencies.length,
    cycleSendSeconds,
    latencyMs: { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN },
    idle,
    window,
    settled,
  };
}

/** Resolves every alert of the scenario (endsAt now, as Prometheus sends a resolved alert), so that no lease of theirs runs out during the next scenarios. */
export async function resolveAll(urls: string[], plan: ResendPlan): Promise<Record<string, number>> {
  return (await postCycle(urls, plan, new Date().toISOString())).statuses;
}
