import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ROOT } from '../deploy/app-contracts';

/**
 * README.md and every docs/*.md stay true to the repository: the README starts with the two
 * commands, links every document and lists every project in its layout; every link, file, npm
 * script, route and environment variable a document names exists. Routes are compared with
 * docs/contracts.md §3, which tools/workspace/contracts-doc.spec.ts compares with the built apps;
 * the environment tables live in docs/contracts.md §2 only (checked there against the schemas).
 * Each check fails naming the document and the stale item.
 */

/** Files of the work tree that git tracks or would track (new files of a change included). */
const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  .split('\n')
  .filter((path) => path !== '' && existsSync(join(ROOT, path)));
const directories = new Set(
  files.flatMap((path) =>
    path
      .split('/')
      .slice(0, -1)
      .map((_, index, parts) => parts.slice(0, index + 1).join('/')),
  ),
);
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const DOCUMENTS = ['README.md', ...files.filter((path) => /^docs\/[^/]+\.md$/.test(path)).sort()];
/** The README of each project: their links are checked too. */
const PROJECT_READMES = files.filter((path) => /^(apps|libs|tools)\/[^/]+\/README\.md$/.test(path)).sort();
const readme = read('README.md');

/** The text of a Markdown file without its fenced code blocks (links and headings in code are not links and headings). */
const prose = (markdown: string) => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');

/** The text under `## <title>` up to the next `## ` heading. */
function chapter(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`no "## ${title}" chapter`);
  const rest = markdown.slice(start + 1);
  const end = rest.indexOf('\n## ', 1);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The anchors GitHub gives the headings of a Markdown text (lower case, punctuation dropped, spaces to `-`, `-1`... for repeats). */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const match of prose(markdown).matchAll(/^#{1,6} (.+?)#*\s*$/gm)) {
    const text = (match[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    found.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return found;
}

describe('README.md', () => {
  it('starts with the two commands: npm start and npm test', () => {
    const beforeFirstChapter = readme.slice(0, readme.indexOf('\n## '));
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(beforeFirstChapter)?.[1] ?? '';
    expect(firstBlock, 'the first code block of README.md, before its first chapter').toMatch(/^npm ci && npm start\b/m);
    expect(firstBlock).toMatch(/^npm test\b/m);
  });

  it('links every document of docs/', () => {
    const linked = new Set([...prose(readme).matchAll(/\]\((docs\/[^)#\s]+\.md)(?:#[^)]*)?\)/g)].map((match) => match[1]));
    expect(DOCUMENTS.filter((path) => path.startsWith('docs/') && !linked.has(path)).map((path) => `README.md does not link ${path}`)).toEqual([]);
  });

  it('lists every app, lib and tool in its layout, each lib with its type tag, and nothing else', () => {
    const layout = /```\n([\s\S]*?)```/.exec(chapter(readme, 'Layout'))?.[1] ?? '';
    const listed = new Map<string, string>();
    let parent = '';
    for (const line of layout.split('\n')) {
      const top = /^([a-z.][\w.-]*)\/ /.exec(line);
      if (top) parent = top[1] ?? '';
      const child = /^ {2}([\w.-]+)\/\s+(\S+)?/.exec(line);
      if (child && ['apps', 'libs', 'tools'].includes(parent)) listed.set(`${parent}/${child[1]}`, child[2] ?? '');
    }
    const projects = [...directories].filter((path) => /^(apps|libs|tools)\/[^/]+$/.test(path)).sort();
    const problems = [
      ...projects.filter((path) => !listed.has(path)).map((path) => `README.md "Layout" does not list ${path}/`),
      ...[...listed.keys()].filter((path) => !projects.includes(path)).map((path) => `README.md "Layout" lists ${path}/, which does not exist`),
    ];
    for (const path of projects.filter((candidate) => candidate.startsWith('libs/'))) {
      const tags = z.object({ tags: z.array(z.string()) }).parse(JSON.parse(read(`${path}/project.json`))).tags;
      const type = tags.find((tag) => tag.startsWith('type:'));
      if (listed.has(path) && listed.get(path) !== type)
        problems.push(`README.md "Layout" gives ${path} the tag ${listed.get(path)}, its project.json ${type}`);
    }
    expect(problems).toEqual([]);
  });

  it('names in its "Libraries" table only packages of package.json, and every runtime dependency', () => {
    const manifest = z
      .object({ dependencies: z.record(z.string(), z.string()), devDependencies: z.record(z.string(), z.string()) })
      .parse(JSON.parse(read('package.json')));
    const packages = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.devDependencies)]);
    const table = chapter(readme, 'Libraries');
    const named = [...table.matchAll(/^\| ([^|]+) \|/gm)]
      .map((match) => (match[1] ?? '').trim())
      .filter((cell) => cell !== 'library' && !/^-+$/.test(cell))
      .flatMap((cell) => cell.split(/[,()]/).map((part) => part.trim()))
      .filter((part) => /^@?[a-z0-9][a-z0-9._-]*(\/[a-z0-9._-]+)?$/.test(part));
    expect(named.length).toBeGreaterThan(20);
    expect([
      ...named.filter((name) => !packages.has(name)).map((name) => `README.md "Libraries" names ${name}, which package.json does not have`),
      ...Object.keys(manifest.dependencies)
        .filter((name) => !named.includes(name))
        .map((name) => `README.md "Libraries" does not name the dependency ${name}`),
    ]).toEqual([]);
  });

  it('describes every prerequisite of tools/doctor/prerequisites.json where the doctor points to', () => {
    const Prerequisites = z.object({
      prerequisites: z.array(z.object({ id: z.string(), readme: z.string(), fix: z.string().optional(), debian: z.array(z.string()).optional() })),
    });
    const { prerequisites } = Prerequisites.parse(JSON.parse(read('tools/doctor/prerequisites.json')));
    expect(prerequisites.length).toBeGreaterThan(10);
    /** The text under the README heading of an anchor, to the next heading of the same or a higher level. */
    const sectionAt = (anchor: string): string | null => {
      const headings = [...prose(readme).matchAll(/^(#{1,6}) (.+)$/gm)];
      const index = headings.findIndex((heading) => anchors(heading[0]).has(anchor));
      const heading = headings[index];
      if (!heading) return null;
      const level = heading[1]?.length ?? 1;
      const next = headings.slice(index + 1).find((later) => (later[1]?.length ?? 1) <= level);
      const text = prose(readme);
      return text.slice(text.indexOf(heading[0]), next ? text.indexOf(next[0], text.indexOf(heading[0]) + 1) : undefined);
    };
    const problems: string[] = [];
    for (const prerequisite of prerequisites) {
      const section = sectionAt(prerequisite.readme.replace(/^#/, ''));
      if (section === null) {
        problems.push(`tools/doctor/prerequisites.json sends ${prerequisite.id} to README.md${prerequisite.readme}, which is no heading of it`);
        continue;
      }
      const fixes = prerequisite.fix !== undefined ? [prerequisite.fix] : (prerequisite.debian ?? []);
      for (const fix of fixes) if (!section.includes(fix)) problems.push(`README.md${prerequisite.readme} does not give ${prerequisite.id}'s fix: ${fix}`);
    }
    expect(problems).toEqual([]);
  });

  it('names in its "Tools and tests" table variables the tools and tests read, with their defaults', () => {
    const table = chapter(readme, 'Configuration').slice(chapter(readme, 'Configuration').indexOf('### Tools and tests'));
    const rows = [...table.matchAll(/^\| `([A-Z][A-Z0-9_]+)` +\| [^|]+ \| ([^|]+) \|$/gm)].map((match) => ({
      name: match[1] ?? '',
      fallback: (match[2] ?? '').trim(),
    }));
    expect(rows.length).toBeGreaterThan(5);
    const sources = files.filter((path) => /^(apps|libs|tools)\/.*\.(ts|mjs)$/.test(path)).map(read);
    const problems: string[] = [];
    for (const { name, fallback } of rows) {
      const readers = sources.filter((source) => new RegExp(`\\b${name}\\b`).test(source));
      if (readers.length === 0) problems.push(`README.md "Tools and tests" names ${name}, which no tool or test reads`);
      const literal = /^`([^`]+)`$/.exec(fallback)?.[1];
      if (literal !== undefined && readers.length > 0 && !readers.some((source) => source.includes(literal))) {
        problems.push(`README.md "Tools and tests" gives ${name} the default ${literal}, which no file that reads it has`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('README.md and docs/*.md', () => {
  it("link only files that exist, and headings that exist (the projects' READMEs too)", () => {
    const problems: string[] = [];
    for (const document of [...DOCUMENTS, ...PROJECT_READMES]) {
      for (const match of prose(read(document)).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z]+:/.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const file = path === '' ? document : normalize(join(dirname(document), path));
        if (file.startsWith('..') || !existsSync(join(ROOT, file))) {
          problems.push(`${document} links ${target}: ${file} does not exist`);
          continue;
        }
        if (anchor !== undefined && file.endsWith('.md') && !anchors(read(file)).has(anchor))
          problems.push(`${document} links ${target}: ${file} has no heading #${anchor}`);
      }
    }
    expect(problems).toEqual([]);
  });

  /** Files a document names that are not in the repository on purpose. */
  const NOT_IN_THE_REPOSITORY: Record<string, string> = {
    'api/v2/openapi.yaml': "Alertmanager's own OpenAPI file",
    'publish-alert.mjs': 'external-intake.md: the example the reader saves',
    'main.js': 'the bundle every app is built to',
    'rabbitmq.conf': "RabbitMQ's configuration file",
  };

  it('name only files and folders that exist (build output, ignored and example files aside)', () => {
    const basenames = new Set([...files, ...directories].map((path) => basename(path)));
    /** A file a document tells the reader to create may be ignored by the .gitignore of its folder. */
    const ignoreFiles = ['.', ...files.filter((path) => path.endsWith('/.gitignore')).map((path) => dirname(path))];
    const problems: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of read(document).matchAll(/`([\w.@-]+(?:\/[\w.@-]+)*(?:\.(?:ts|mjs|cjs|js|json|ya?ml|md|conf|sh|sql|html|css)|\/))`/g)) {
        const named = (match[1] ?? '').replace(/\/$/, '');
        if (named.startsWith('dist') || named.includes('..') || !/[./]/.test(match[1] ?? '') || named in NOT_IN_THE_REPOSITORY) continue;
        const exists = named.includes('/')
          ? files.includes(named) ||
            directories.has(named) ||
            files.some((path) => path.endsWith(`/${named}`)) ||
            [...directories].some((path) => path.endsWith(`/${named}`))
          : basenames.has(named);
        if (exists) continue;
        const ignored = ignoreFiles.some((folder) => {
          try {
            execFileSync('git', ['check-ignore', '-q', '--no-index', join(folder, named)], { cwd: ROOT });
            return true;
          } catch {
            return false;
          }
        });
        if (!ignored) problems.push(`${document} names ${named}, which is not in the repository`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('name only npm scripts of package.json', () => {
    const scripts = Object.keys(z.object({ scripts: z.record(z.string(), z.string()) }).parse(JSON.parse(read('package.json'))).scripts);
    const problems: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of read(document).matchAll(/\bnpm (?:run(?:-script)? (?:-s )?([\w:-]*[\w-])|(start|test)\b)/g)) {
        const script = match[1] ?? match[2] ?? '';
        if (!scripts.includes(script)) problems.push(`${document} names npm script ${script}, which package.json does not have`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('name only routes that docs/contracts.md §3 lists (and contracts-doc.spec.ts finds in the apps)', () => {
    const contracts = read('docs/contracts.md');
    const http = contracts.slice(contracts.indexOf('\n## 3. '), contracts.indexOf('\n## 4. '));
    const listed = [...http.matchAll(/^\| `([A-Z]+)` +\| ((?:`[^`]+`(?:, )?)+) +\|/gm)].flatMap((match) =>
      [...(match[2] ?? '').matchAll(/`([^`]+)`/g)].map((path) => ({ method: match[1] ?? '', path: path[1] ?? '' })),
    );
    expect(listed.length).toBeGreaterThan(60);
    const segments = (path: string) => path.replace(/\{(\w+)\}/g, ':$1').split('/');
    const same = (documented: string, route: string) => {
      const [a, b] = [segments(documented), segments(route)];
      return a.length === b.length && a.every((part, index) => part === b[index] || part.startsWith(':') || (b[index] ?? '').startsWith(':'));
    };
    const problems: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of read(document).matchAll(
        /\b(GET|POST|PUT|PATCH|DELETE) (\/(?:api|healthz|readyz|metrics|openapi\.json)(?:\{[\w,-]+\}|[^\s`)(,;])*)/g,
      )) {
        const method = match[1] ?? '';
        const written = (match[2] ?? '').replace(/\?.*$/, '').replace(/[:.]+$/, '');
        // `/api/v1/{slack,email}-rules` names one route per alternative.
        const alternatives = /\{([\w-]+(?:,[\w-]+)+)\}/.exec(written);
        const paths = alternatives ? (alternatives[1] ?? '').split(',').map((choice) => written.replace(alternatives[0], choice)) : [written];
        for (const path of paths) {
          if (!listed.some((route) => route.method === method && same(path, route.path)))
            problems.push(`${document} names ${method} ${path}, which docs/contracts.md §3 does not list`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  /** Every word of the repository's files but the documents (code, configuration, manifests, unit files). */
  const words = new Set(
    files
      .filter(
        (path) =>
          !path.endsWith('.md') && !path.startsWith('bench/results/') && !path.includes('stryker-incremental') && statSync(join(ROOT, path)).size < 2_000_000,
      )
      .flatMap((path) => read(path).match(/\b[A-Za-z_][A-Za-z0-9_]*\b/g) ?? []),
  );

  /** camelCase and PascalCase names a document gives that are other programs' words. */
  const OTHER_PROGRAMS_NAMES: Record<string, string> = {
    LoadBalancer: 'a Kubernetes Service type',
    RabbitmqCluster: "the RabbitMQ cluster operator's resource",
    NoCoverage: 'a StrykerJS mutant status',
  };

  it('name only functions, types and fields (camelCase, PascalCase) that the code has', () => {
    const problems: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of read(document).matchAll(/`([a-z]+[A-Z][A-Za-z0-9]*|[A-Z][a-z]+[A-Z][A-Za-z0-9]*)(?:\(\))?`/g)) {
        const name = match[1] ?? '';
        if (!words.has(name) && !(name in OTHER_PROGRAMS_NAMES)) problems.push(`${document} names ${name}, which no source file has`);
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });

  /** Variables a document names that nothing reads on purpose. */
  const EXAMPLE_VARIABLES: Record<string, string> = {
    MIGRATION_DATABASE_URL: 'deployment.md: a Secret key the reader may add for the migration Job',
  };

  it('name only environment variables and constants that the code, configuration or manifests have', () => {
    const problems: string[] = [];
    for (const document of DOCUMENTS) {
      for (const match of read(document).matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9])(?:=[^`]*)?`/g)) {
        const name = match[1] ?? '';
        if (!words.has(name) && !(name in EXAMPLE_VARIABLES)) problems.push(`${document} names ${name}, which no file of the repository has`);
      }
    }
    expect([...new Set(problems)]).toEqual([]);
  });
});
