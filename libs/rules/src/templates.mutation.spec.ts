import { describe, expect, it } from 'vitest';
import { sampleWebhookSnapshots } from './webhook-body';
import {
  escapeJsonString,
  groupTemplateContext,
  MAX_MESSAGE_LENGTH,
  NO_FILE_SYSTEM,
  renderOrFallback,
  renderTemplate,
  templateContext,
  truncateMessage,
  usesGroupVariables,
} from './templates';

/** The template sandbox's empty file system, the context defaults, truncation at the limit, and the fallback message. */

const [sample] = sampleWebhookSnapshots();
if (!sample) throw new Error('no sample');

describe('NO_FILE_SYSTEM', () => {
  it('has no file, contains nothing and reads nothing, naming the file it refused', async () => {
    await expect(NO_FILE_SYSTEM.exists('/etc/passwd')).resolves.toBe(false);
    expect(NO_FILE_SYSTEM.existsSync('/etc/passwd')).toBe(false);
    await expect(NO_FILE_SYSTEM.readFile('/etc/passwd')).rejects.toThrow('templates cannot read files (/etc/passwd)');
    expect(() => NO_FILE_SYSTEM.readFileSync('/etc/passwd')).toThrow('templates cannot read files (/etc/passwd)');
    await expect(Promise.resolve(NO_FILE_SYSTEM.contains?.('/', '/etc/passwd'))).resolves.toBe(false);
    expect(NO_FILE_SYSTEM.containsSync?.('/', '/etc/passwd')).toBe(false);
    expect(NO_FILE_SYSTEM.dirname?.('/etc/passwd')).toBe('');
    expect(NO_FILE_SYSTEM.sep).toBe('/');
  });
});

describe('rendering', () => {
  it('renders an unknown variable as empty and never reads inherited properties', () => {
    expect(renderTemplate('[{{ nothing }}]', {})).toBe('[]');
    expect(renderTemplate('[{{ labels.constructor }}]', { labels: {} })).toBe('[]');
  });

  it('escapes a missing value as an empty JSON string', () => {
    expect(escapeJsonString(null)).toBe('');
    expect(escapeJsonString(undefined)).toBe('');
    expect(escapeJsonString('a"b')).toBe('a\\"b');
  });

  it('keeps a message of exactly the limit and truncates one character more', () => {
    const exact = 'x'.repeat(MAX_MESSAGE_LENGTH);
    expect(truncateMessage(exact)).toBe(exact);
    expect(truncateMessage(`${exact}y`)).toBe(`${'x'.repeat(MAX_MESSAGE_LENGTH - 14)}\n…(truncated)`);
  });
});

describe('context defaults', () => {
  it('describes the latest episode and says when there is no description', () => {
    const context = templateContext(sample.group, { ...sample.instance, annotations: {} });
    expect(context['latest_instance']).toEqual({
      id: sample.instance.id,
      status: 'firing',
      starts_at: sample.instance.startsAt,
      ends_at: null,
      annotations: {},
      generator_url: sample.instance.generatorURL,
      resolution_type: null,
    });
    expect(context).toMatchObject({ summary: sample.group.name, description: 'No description provided.' });
  });

  it('gives a group template the common summary, else the alert name, else the title, and a default description', () => {
    const group = { alerts: [], group_labels: {}, common_labels: { alertname: 'Disk' }, common_annotations: {}, firing_count: 0, resolved_count: 1 };
    expect(groupTemplateContext(group, 'T')).toMatchObject({ summary: 'Disk', description: 'No description provided.', status: 'resolved' });
    expect(groupTemplateContext({ ...group, common_labels: {} }, 'T').summary).toBe('T');
    expect(groupTemplateContext({ ...group, common_annotations: { summary: 'S', description: 'D' } }, 'T')).toMatchObject({ summary: 'S', description: 'D' });
  });

  it('tells a group template by the variables it reads, the same answer when asked again', () => {
    for (let round = 0; round < 2; round++) {
      expect(usesGroupVariables('{{ firing_count }} alerts')).toBe(true);
      expect(usesGroupVariables('{{ summary }}')).toBe(false);
      expect(usesGroupVariables('{% if %}')).toBe(false);
    }
  });
});

describe('renderOrFallback', () => {
  it('says which rule failed and what the alert is, escaped for Slack', () => {
    const context = templateContext(sample.group, sample.instance);
    const outcome = renderOrFallback('{{ summary | nosuchfilter }}', context, 'a <b> rule', 'slack');
    expect(outcome.failed).toBe(true);
    expect(outcome.text).toMatch(
      /^\[SentryHub\] The template of rule "a &lt;b&gt; rule" failed to render \(.*nosuchfilter.*\)\. Alert HighCPU is firing \(severity critical\): CPU above 90% for 5 minutes "quoted"$/,
    );
  });

  it('keeps the rule name as written for plain text, and names an unknown alert', () => {
    const outcome = renderOrFallback('{{ x | nosuchfilter }}', { status: 'resolved', summary: 's' }, 'a <b> rule');
    expect(outcome.text).toMatch(/^\[SentryHub\] The template of rule "a <b> rule" failed .* Alert unknown is resolved \(severity unknown\): s$/);
  });
});
