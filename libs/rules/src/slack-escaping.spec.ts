import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { digestLine, foldDigest } from './digest';
import { composeMessage, type SlackMessageRule } from './slack-message';
import { escapeSlack, renderOrFallback, renderTemplate, templateContext, templateError } from './templates';

const hostile = '<!channel> & <http://evil.example|click> <@U123>';
const group: GroupSnapshot = {
  id: 1,
  fingerprint: 'd2aeefc389ca7746',
  name: `Disk ${hostile}`,
  labels: { alertname: `Disk ${hostile}`, host: hostile },
  severity: 'critical',
  instance: hostile,
  source: 'webhook',
  status: 'firing',
  firingCount: 1,
  silenced: false,
  silencedUntil: null,
  acknowledged: false,
};
const instance: InstanceSnapshot = {
  id: 2,
  status: 'firing',
  startsAt: '2026-11-26T08:00:00Z',
  endsAt: null,
  annotations: { summary: hostile },
  generatorURL: null,
  resolutionType: null,
};
const rule = (messageTemplate: string): SlackMessageRule => ({
  name: 'r <!here>',
  slackChannel: '#ops',
  messageTemplate,
  resolvedMessageTemplate: null,
  replaceIpAddresses: false,
});
const escaped = '&lt;!channel&gt; &amp; &lt;http://evil.example|click&gt; &lt;@U123&gt;';

/** Slack control sequences (mentions, links) in a text: what a label must never add. */
const controls = (text: string) => text.match(/<[^>]*>/g) ?? [];

describe('Slack escaping of interpolated values', () => {
  it('escapes &, < and > only', () => {
    expect(escapeSlack(hostile)).toBe(escaped);
    expect(escapeSlack('"quotes" and \'apostrophes\' stay')).toBe('"quotes" and \'apostrophes\' stay');
  });

  it('escapes every {{ output }} while keeping the rule author markup', () => {
    const { text, templateError: error } = composeMessage(
      rule('<!here> :fire: {{ labels.host }} <https://grafana/d|dashboard> {{ summary | upcase }}'),
      { group, instance },
      '#general',
    );
    expect(error).toBeNull();
    expect(text).toBe(`<!here> :fire: ${escaped} <https://grafana/d|dashboard> ${escapeSlack(hostile.toUpperCase())}`);
    expect(controls(text)).toEqual(['<!here>', '<https://grafana/d|dashboard>']);
  });

  it('lets an author opt out with | raw, and leaves plain (email) rendering unescaped', () => {
    const context = templateContext(group, instance);
    expect(renderTemplate('{{ labels.host | raw }}', context, 'slack')).toBe(hostile);
    expect(renderTemplate('{{ labels.host }}', context)).toBe(hostile);
  });

  it('escapes the safe default message and the empty-message fallback', () => {
    const failed = composeMessage(rule('{{ labels.host | nosuchfilter }}'), { group, instance }, '#general');
    expect(failed.templateError).not.toBeNull();
    expect(controls(failed.text)).toEqual([]);
    const empty = composeMessage(rule('{% if false %}x{% endif %}'), { group, instance }, '#general');
    expect(empty.templateError).toBe('the template rendered an empty message');
    expect(controls(empty.text)).toEqual([]);
  });

  it('a digest of composed messages stays escaped and never cuts inside an escape or markup', () => {
    const composed = composeMessage(rule('{{ labels.host }}'), { group, instance }, '#general').text;
    const digest = foldDigest([
      { text: composed, status: 'firing' },
      { text: composed, status: 'resolved' },
    ]);
    expect(controls(digest.text)).toEqual([]);
    for (let length = 5; length < 40; length += 1) {
      const line = digestLine(`x ${escaped}`, length);
      expect(line).not.toMatch(/&[a-z]{0,4}…$/);
      expect(digestLine(`see <https://grafana/d|dashboard of things>`, length)).not.toMatch(/<[^>]*…$/);
    }
  });
});

describe('bounded templates', () => {
  const context = templateContext(group, instance);
  const runaway = [
    '{% for i in (1..100000000) %}x{% endfor %}',
    '{% for i in (1..100000) %}{% for j in (1..100000) %}{{ i }}{% endfor %}{% endfor %}',
    '{% assign s = "xxxxxxxxxx" %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s | size }}',
  ];
  it.each(runaway)('a runaway template gives the safe default message, fast: %s', (source) => {
    const started = Date.now();
    const outcome = renderOrFallback(source, context, 'runaway', 'slack');
    expect(outcome.failed).toBe(true);
    expect(outcome.text).toContain('failed to render');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('refuses a template over the parse limit when it is saved', () => {
    expect(templateError('x'.repeat(200_000))).toMatch(/limit/);
    expect(templateError('{{ labels.host }}')).toBeNull();
  });
});
