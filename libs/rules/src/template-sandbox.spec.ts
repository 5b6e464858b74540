import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { Liquid } from 'liquidjs';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeMessage } from './slack-message';
import {
  NO_FILE_SYSTEM,
  REFUSED_TAGS,
  refusedTagMessage,
  renderOrFallback,
  renderTemplate,
  TEMPLATE_ENGINE_OPTIONS,
  templateContext,
  templateError,
} from './templates';

const group: GroupSnapshot = {
  id: 7,
  fingerprint: 'd2aeefc389ca7746',
  name: 'HighCPU',
  labels: { alertname: 'HighCPU', severity: 'critical', instance: 'host-1', partial: 'secret.env' },
  severity: 'critical',
  instance: 'host-1',
  source: 'webhook',
  status: 'firing',
  firingCount: 3,
  silenced: false,
  silencedUntil: null,
  acknowledged: false,
};
const instance: InstanceSnapshot = {
  id: 11,
  status: 'firing',
  startsAt: '2026-11-26T08:00:00Z',
  endsAt: null,
  annotations: { summary: 'CPU above 90%' },
  generatorURL: null,
  resolutionType: null,
};
const context = templateContext(group, instance);

const SECRET = `SENTRYHUB_TEMPLATE_SECRET_${process.pid}_${Date.now()}`;
let dir = '';
let previousCwd = '';

beforeAll(() => {
  // A working directory holding files a template might try to read, as the repository's .env
  // files are under `npm start`.
  previousCwd = process.cwd();
  dir = mkdtempSync(join(tmpdir(), 'sentryhub-template-'));
  writeFileSync(join(dir, 'secret.env'), SECRET);
  writeFileSync(join(dir, 'secret.liquid'), SECRET);
  mkdirSync(join(dir, 'docker'));
  writeFileSync(join(dir, 'docker', '.env'), SECRET);
  mkdirSync(join(dir, 'sub'));
  process.chdir(dir);
});

afterAll(() => {
  process.chdir(previousCwd);
  rmSync(dir, { recursive: true, force: true });
});

/** Every way of naming a file we can think of, for a tag that loads one. */
function loadingTemplates(): { template: string; tag: string }[] {
  const absolute = join(dir, 'secret.env');
  const fromRepo = relative(previousCwd, absolute);
  const names = [
    '"secret.env"',
    "'secret.env'",
    'secret',
    '"secret"',
    '"docker/.env"',
    '"./secret.env"',
    '"sub/../secret.env"',
    '"../secret.env"',
    `"${absolute}"`,
    `"${fromRepo}"`,
    '"/etc/passwd"',
    '"file:///etc/passwd"',
    '"http://127.0.0.1:1/x"',
  ];
  // Dynamic partial names: a variable (here a label holding the file name) and an interpolation.
  const dynamic = ['labels.partial', '{{ labels.partial }}', 'alert_group.labels["partial"]'];
  return REFUSED_TAGS.flatMap((tag) => [
    ...[...names, ...dynamic].map((name) => ({ template: `before {% ${tag} ${name} %} after`, tag })),
    { template: `{%- ${tag} "secret.env" -%}`, tag },
    { template: `{% if status %}{% for i in (1..2) %}{% ${tag} "secret.env" %}{% endfor %}{% endif %}`, tag },
    { template: `{% liquid\n  assign x = 1\n  ${tag} "secret.env"\n%}`, tag },
    { template: `{% ${tag} "secret.env" with labels as l %}`, tag },
    { template: `{% ${tag} "secret.env", a: 1 %}`, tag },
  ]);
}

describe('templates cannot reach files (include, render, layout are refused)', () => {
  it('the test setup is real: liquidjs with its default file system reads the file from the working directory', () => {
    expect(new Liquid().parseAndRenderSync('{% include "secret.env" %}')).toBe(SECRET);
    expect(new Liquid().parseAndRenderSync('{% render "docker/.env" %}')).toBe(SECRET);
  });

  it('refuses every loading tag when a template is validated (saved or previewed), naming the tag', () => {
    const cases = loadingTemplates();
    expect(cases.length).toBeGreaterThan(50);
    for (const { template, tag } of cases) {
      const error = templateError(template);
      expect(error, template).not.toBeNull();
      expect(error, template).toContain(refusedTagMessage(tag));
    }
  });

  it('never reads anything at render time: the render fails, the safe default says why, no file content', () => {
    for (const { template, tag } of loadingTemplates()) {
      expect(() => renderTemplate(template, context), template).toThrow(`"${tag}" tag is not allowed`);
      expect(() => renderTemplate(template, context, 'slack'), template).toThrow(`"${tag}" tag is not allowed`);
      const outcome = renderOrFallback(template, context, 'evil-rule');
      expect(outcome.failed).toBe(true);
      expect(outcome.text).not.toContain(SECRET);
      expect(outcome.text).toContain('template of rule "evil-rule" failed to render');
      // The Slack path (notifier, admin preview and test send) as a whole.
      const message = composeMessage(
        { name: 'evil-rule', slackChannel: '#x', messageTemplate: template, resolvedMessageTemplate: null, replaceIpAddresses: false },
        { group, instance },
        '#d',
      );
      expect(message.templateError).toContain(refusedTagMessage(tag));
      expect(message.text).not.toContain(SECRET);
    }
  });

  it('the engine options alone have no file system: with the tags left in, a file still cannot be read', () => {
    // Defence in depth behind the refused tags: TEMPLATE_ENGINE_OPTIONS carries a file system
    // without files and no template roots; each layer holds on its own.
    const rootsAlone = Object.fromEntries(Object.entries(TEMPLATE_ENGINE_OPTIONS).filter(([key]) => key !== 'fs'));
    const engines = { options: new Liquid(TEMPLATE_ENGINE_OPTIONS), fsAlone: new Liquid({ fs: NO_FILE_SYSTEM }), rootsAlone: new Liquid(rootsAlone) };
    for (const [name, engine] of Object.entries(engines)) {
      for (const template of [
        '{% include "secret.env" %}',
        '{% render "secret.liquid" %}',
        '{% layout "docker/.env" %}x',
        `{% include "${join(dir, 'secret.env')}" %}`,
        '{% include "../secret.env" %}',
        '{% include "sub/../secret.env" %}',
      ]) {
        let output = '';
        try {
          output = engine.parseAndRenderSync(template);
        } catch (error) {
          expect(String(error)).not.toContain(SECRET);
        }
        expect(output, `${name}: ${template}`).not.toContain(SECRET);
      }
      expect(() => engine.renderFileSync('secret.env'), name).toThrow();
    }
  });

  it('leaves harmless look-alikes alone: text in raw or comment, block, and ordinary tags', () => {
    expect(templateError('{% raw %}{% include "secret.env" %}{% endraw %}')).toBeNull();
    expect(renderTemplate('{% raw %}{% include "secret.env" %}{% endraw %}', context)).toBe('{% include "secret.env" %}');
    expect(templateError('{% comment %}{% include "x" %}{% endcomment %}ok')).toBeNull();
    expect(renderTemplate('{% assign n = alert_group.name %}{% capture c %}{{ n }}!{% endcapture %}{{ c }} include render layout', context)).toBe(
      'HighCPU! include render layout',
    );
    expect(renderTemplate('{{ "include" | upcase }}', context)).toBe('INCLUDE');
  });
});
