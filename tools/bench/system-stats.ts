/**
 * Small helpers of the benchmarks: facts about the machine, CPU and memory of processes read
 * from /proc (Linux only), a free port, percentiles and a bounded wait.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg, totalmem } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`; 100 on every Linux we run on). */
export const CLOCK_TICKS = 100;

export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  totalMemoryMiB: number;
  node: string;
  postgres: string;
  rabbitmq: string;
  kernel: string;
  /** 1/5/15-minute load average when the run started: other work on the machine skews a run. */
  loadAverage: string;
  /** Busy share of all cores during the second before the run. */
  busyBeforeRun: number;
}

async function output(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(command, args, { timeout: 30_000 });
    return stdout.trim();
  } catch (error) {
    return `unknown (${command} failed: ${(error as Error).message.split('\n')[0]})`;
  }
}

export async function machineFacts(postgresUrl: string): Promise<MachineFacts> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const idleStart = systemCpu();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const busyBeforeRun = cpuUtilisation(idleStart, systemCpu());
  const [nproc, postgres, rabbitmq, kernel] = await Promise.all([
    output('nproc', []),
    output('psql', [postgresUrl, '-tAc', 'show server_version']),
    output('rabbitmqctl', ['-q', 'version']),
    output('uname', ['-sr']),
  ]);
  return {
    nproc: Number(nproc),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    totalMemoryMiB: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    postgres,
    rabbitmq,
    kernel,
    loadAverage: loadavg()
      .map((value) => value.toFixed(2))
      .join(' '),
    busyBeforeRun,
  };
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): index 0 is field 3 (state). */
function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process (fields 14 and 15), in clock ticks, or null once it is gone. */
export function processTicks(pid: number): number | null {
  try {
    const fields = statFields(pid);
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** cutime + cstime of this process (fields 16 and 17): the CPU of its children that ended and were waited for, in clock ticks. */
export function childrenTicks(): number {
  const fields = statFields('self');
  return Number(fields[13]) + Number(fields[14]);
}

/** A field of /proc/<pid>/status in KiB (VmHWM = peak RSS, VmRSS = current RSS), or null. */
export function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/** CPU ticks of every live process that `select` picks by its command name and command line, by pid. */
export function ticksWhere(select: (comm: string, cmdline: string) => boolean): Map<number, number> {
  const ticks = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (!select(comm, readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' '))) continue;
      const value = processTicks(Number(entry));
      if (value !== null) ticks.set(Number(entry), value);
    } catch {
      // The process ended while we looked.
    }
  }
  return ticks;
}

/** The RabbitMQ server (not the short-lived beam.smp of rabbitmqctl calls). */
export const isRabbitmqServer = (comm: string, cmdline: string) => comm === 'beam.smp' && cmdline.includes(' rabbit boot');

/**
 * PostgreSQL's server processes (postmaster, WAL writer, checkpointer...) and the backends of
 * one database: backends of other databases (other work on the machine) are left out.
 */
export function isPostgresFor(database: string): (comm: string, cmdline: string) => boolean {
  return (comm, cmdline) => {
    if (comm !== 'postgres') return false;
    if (!cmdline.startsWith('postgres: ')) return true; // the postmaster
    return (
      cmdline.includes(` ${database} `) ||
      /: (checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|stats collector)\s*$/.test(cmdline)
    );
  };
}

/**
 * CPU seconds spent by a set of processes between two snapshots. Processes started in
 * between count whole; processes that ended in between are missed (an undercount).
 */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ticks = 0;
  for (const [pid, value] of after) ticks += value - (before.get(pid) ?? 0);
  return ticks / CLOCK_TICKS;
}

export interface SystemCpu {
  busy: number;
  total: number;
}

/** Machine-wide CPU ticks from /proc/stat (busy = everything but idle and iowait). */
export function systemCpu(): SystemCpu {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy share of all cores between two /proc/stat snapshots (1 = every core saturated). */
export function cpuUtilisation(before: SystemCpu, after: SystemCpu): number {
  const total = after.total - before.total;
  return total > 0 ? (after.busy - before.busy) / total : 0;
}

/** A free TCP port on loopback (the e2e helper, one implementation for both). */
export { freePort } from '../e2e/services';

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Rejects after `ms` naming what it waited for; the timer never keeps the process alive. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms / 1000)} s waiting for ${what}`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Prometheus text format -> samples by metric name (labels kept as their raw text). */
export function parseMetrics(text: string): Map<string, { labels: string; value: number }[]> {
  const samples = new Map<string, { labels: string; value: number }[]>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match?.[1] || !match[3]) continue;
    const list = samples.get(match[1]) ?? [];
    list.push({ labels: match[2] ?? '', value: Number(match[3]) });
    samples.set(match[1], list);
  }
  return samples;
}

/** Steps that undo what a bench run set up, run in reverse order whatever happens (error, timeout, Ctrl-C). */
export const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | null = null;

export function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await withTimeout(step.run(), 60_000, step.what);
      } catch (error) {
        console.error(`clean-up: ${step.what} failed: ${(error as Error).message}`);
      }
    }
  })();
  return cleaning;
}
