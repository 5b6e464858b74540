// The prerequisites list (prerequisites.json) and what the doctor does with it that needs no
// network: validation, selection by command, the fix command of a failure, the printed report.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export const PURPOSES = ['start', 'test', 'faults', 'bench'] as const;
export type Purpose = (typeof PURPOSES)[number];

/** The npm command each purpose stands for, as the report names it. */
export const COMMANDS: Record<Purpose, string> = {
  start: 'npm start',
  test: 'npm test',
  faults: 'npm run test:faults',
  bench: 'npm run bench',
};

const dirs = z.array(z.string().startsWith('/')).optional();
const checkSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('node'), major: z.number().int().positive() }),
  z.object({ kind: z.literal('amqp'), target: z.enum(['services', 'tests']) }),
  z.object({ kind: z.literal('postgres'), target: z.enum(['services', 'tests']) }),
  z.object({ kind: z.literal('rabbitmq-management') }),
  z.object({ kind: z.literal('command'), command: z.array(z.string().min(1)).min(1), dirs }),
  z.object({ kind: z.literal('binary'), name: z.string().min(1), dirs }),
  z.object({ kind: z.literal('file'), path: z.string().startsWith('/'), env: z.string().optional() }),
]);
export type Check = z.infer<typeof checkSchema>;

const prerequisiteSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_-]*$/),
    name: z.string().min(1),
    why: z.string().min(1),
    for: z.array(z.enum(PURPOSES)).min(1),
    check: checkSchema,
    fix: z.string().min(1).optional(),
    fixes: z.record(z.string(), z.string().min(1)).optional(),
    debian: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/))
      .min(1)
      .optional(),
    auto: z.boolean().optional(),
    settleSeconds: z.number().positive().optional(),
    readme: z.string().startsWith('#'),
  })
  .refine((entry) => entry.fix !== undefined || entry.debian !== undefined, { message: 'needs a fix or Debian packages' });
export type Prerequisite = z.infer<typeof prerequisiteSchema>;

const fileSchema = z.object({ prerequisites: z.array(prerequisiteSchema).min(1) });

export const PREREQUISITES_FILE = new URL('./prerequisites.json', import.meta.url);

/** Reads and validates prerequisites.json; a malformed entry is an error naming its path. */
export function loadPrerequisites(file: URL | string = PREREQUISITES_FILE): Prerequisite[] {
  const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${String(file)}: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  const ids = parsed.data.prerequisites.map((entry) => entry.id);
  const duplicate = ids.find((id, index) => ids.indexOf(id) !== index);
  if (duplicate) throw new Error(`${String(file)}: prerequisite id "${duplicate}" appears twice`);
  return parsed.data.prerequisites;
}

/** Splits `--for test,faults` values into purposes; an unknown one is an error listing the valid ones. */
export function parsePurposes(values: string[]): Purpose[] {
  const names = values
    .flatMap((value) => value.split(','))
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(PURPOSES as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`--for ${unknown.join(',')}: unknown; choose from ${PURPOSES.join(', ')}`);
  return [...new Set(names)] as Purpose[];
}

/** The prerequisites of some purposes (all of them when none is given), optionally only some ids. */
export function selectPrerequisites(all: Prerequisite[], purposes: Purpose[], only: string[] = []): Prerequisite[] {
  const unknown = only.filter((id) => !all.some((entry) => entry.id === id));
  if (unknown.length) throw new Error(`--only ${unknown.join(',')}: unknown; choose from ${all.map((entry) => entry.id).join(', ')}`);
  return all.filter(
    (entry) => (purposes.length === 0 || entry.for.some((purpose) => purposes.includes(purpose))) && (only.length === 0 || only.includes(entry.id)),
  );
}

export type Outcome =
  | { ok: true; detail: string }
  /** `reason` picks a fix from `fixes`; `values` fill its `<placeholders>`. */
  | { ok: false; detail: string; reason?: string; values?: Record<string, string> };

/**
 * The commands (or instructions) that fix a failure, best first: the reason's own fix, else the
 * general one; after a `configured` fix (an address from the environment) also the general one.
 */
export function fixesFor(entry: Prerequisite, outcome: Outcome): string[] {
  const reason = outcome.ok ? undefined : outcome.reason;
  const general = entry.fix ?? `sudo apt-get install -y ${(entry.debian ?? []).join(' ')}`;
  const specific = reason === undefined ? undefined : entry.fixes?.[reason];
  const values = outcome.ok ? {} : (outcome.values ?? {});
  const fill = (fix: string) => fix.replace(/<([a-z]+)>/g, (placeholder, name: string) => values[name] ?? placeholder);
  if (specific === undefined) return [fill(general)];
  return reason === 'configured' ? [fill(specific), fill(general)] : [fill(specific)];
}

/** Every fix command the list can print (for the README's cross-check). */
export function allFixes(entry: Prerequisite): string[] {
  return [entry.fix ?? `sudo apt-get install -y ${(entry.debian ?? []).join(' ')}`, ...Object.values(entry.fixes ?? {})];
}

export interface Result {
  entry: Prerequisite;
  outcome: Outcome;
}

/** The report: one line per prerequisite, then the fix, reason and README section of each missing one. */
export function formatReport(results: Result[], purposes: Purpose[], seconds: number, color = false): string {
  const paint = (code: number, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const width = Math.max(...results.map(({ entry }) => entry.name.length));
  const scope = purposes.length ? purposes.map((purpose) => COMMANDS[purpose]).join(', ') : 'every command';
  const lines = [`doctor: prerequisites of ${scope}`];
  for (const { entry, outcome } of results) {
    const status = outcome.ok ? paint(32, 'ok     ') : paint(31, 'missing');
    lines.push(`  ${status}  ${entry.name.padEnd(width)}  ${outcome.detail}`);
    if (!outcome.ok) {
      fixesFor(entry, outcome).forEach((fix, index) => lines.push(`           ${index ? ' or' : 'fix'}: ${paint(1, fix)}`));
      lines.push(`           why: ${entry.why}`);
      lines.push(`           see: README.md${entry.readme}`);
    }
  }
  const missing = results.filter(({ outcome }) => !outcome.ok);
  const took = `${seconds.toFixed(1)} s`;
  lines.push(
    missing.length === 0
      ? `doctor: all ${results.length} prerequisites ok (${took})`
      : `doctor: ${missing.length} of ${results.length} prerequisites missing: ${missing.map(({ entry }) => entry.name).join(', ')}. ` +
          `Run the fixes above (README.md#prerequisites), then ${purposes.length ? purposes.map((purpose) => COMMANDS[purpose]).join(' or ') : 'npm run doctor'} again (${took}).`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * What `--fix` runs, as root and in this order, for the failures it may fix (`auto`): one apt-get
 * for every missing Debian package, then the other fixes without their `sudo`. An address chosen
 * by the environment (`configured`) is the caller's to correct, not something to install.
 */
export function rootFixCommands(results: Result[]): { fixable: Result[]; commands: string[] } {
  const fixable = results.filter(({ entry, outcome }) => !outcome.ok && entry.auto && outcome.reason !== 'configured');
  const packages = [...new Set(fixable.flatMap(({ entry }) => entry.debian ?? []))];
  const commands = packages.length ? ['apt-get update -qq', `apt-get install -y -qq --no-install-recommends ${packages.join(' ')}`] : [];
  for (const { entry, outcome } of fixable.filter(({ entry }) => !entry.debian)) {
    commands.push((fixesFor(entry, outcome)[0] ?? '').replace(/^sudo /, '').replaceAll('&& sudo ', '&& '));
  }
  return { fixable, commands };
}
