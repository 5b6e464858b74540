// `npm run doctor [-- --for start|test|faults|bench[,...]] [--only id,...] [--timeout ms] [--fix]`:
// checks what the machine needs (tools/doctor/prerequisites.json), all checks at once, each
// within its timeout; prints one line per prerequisite and, for each missing one, the command
// that fixes it on Debian/Ubuntu. Exit 0 when everything is there, 1 when something is missing,
// 2 for bad arguments. `npm start`, `npm test`, `npm run test:faults` and `npm run bench` run it
// first with their own --for. `--fix` (as root; what .ci/run does) installs the missing Debian
// packages and runs the other fixes marked `auto`, then checks again.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { runCheck, type CheckContext } from './checks';
import { formatReport, loadPrerequisites, parsePurposes, rootFixCommands, selectPrerequisites, type Prerequisite, type Result } from './prerequisites';

const USAGE = `usage: npm run doctor -- [--for start,test,faults,bench] [--only <id>,...] [--timeout <ms>] [--fix]`;

function usage(message: string): never {
  process.stderr.write(`doctor: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let options;
try {
  options = parseArgs({
    options: {
      for: { type: 'string', multiple: true, default: [] },
      only: { type: 'string', multiple: true, default: [] },
      timeout: { type: 'string' },
      fix: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  }).values;
} catch (error) {
  usage((error as Error).message);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const timeoutText = options.timeout ?? process.env['DOCTOR_TIMEOUT_MS'] ?? '8000';
const timeoutMs = Number(timeoutText);
if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 120_000)
  usage(`timeout ${timeoutText}: must be a whole number of milliseconds from 100 to 120000`);

let selected: Prerequisite[];
let purposes;
try {
  purposes = parsePurposes(options.for);
  const only = options.only
    .flatMap((value) => value.split(','))
    .map((id) => id.trim())
    .filter(Boolean);
  selected = selectPrerequisites(loadPrerequisites(), purposes, only);
} catch (error) {
  usage((error as Error).message);
}
if (selected.length === 0) usage('nothing to check for that selection');

const context: CheckContext = { env: process.env, timeoutMs };
const started = performance.now();
const checkAll = (entries: Prerequisite[]) =>
  Promise.all(entries.map(async (entry): Promise<Result> => ({ entry, outcome: await runCheck(entry.check, context) })));

let results = await checkAll(selected);

if (options.fix) results = await fix(results);

const color = Boolean(process.stdout.isTTY) && !process.env['NO_COLOR'];
process.stdout.write(formatReport(results, purposes, (performance.now() - started) / 1000, color));
process.exit(results.every(({ outcome }) => outcome.ok) ? 0 : 1);

/** Installs or enables what is missing, as root, without prompts; then waits for each to pass. */
async function fix(before: Result[]): Promise<Result[]> {
  const { fixable, commands } = rootFixCommands(before);
  if (fixable.length === 0) return before;
  if (process.getuid?.() !== 0) usage('--fix runs the fixes as root (what .ci/run does); as another user, run the printed fix commands yourself');
  for (const command of commands) {
    process.stdout.write(`doctor: running: ${command}\n`);
    const result = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) process.stdout.write(`doctor: failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}): ${command}\n`);
  }

  // A plugin or service takes a while to come up: check again until it passes or its time is up.
  const after = await Promise.all(
    fixable.map(async ({ entry }): Promise<Result> => {
      const deadline = Date.now() + (entry.settleSeconds ?? 10) * 1000;
      for (;;) {
        const outcome = await runCheck(entry.check, context);
        if (outcome.ok || Date.now() >= deadline) return { entry, outcome };
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }),
  );
  return before.map((result) => after.find(({ entry }) => entry.id === result.entry.id) ?? result);
}
