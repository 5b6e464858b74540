import type { GroupSnapshot, InstanceSnapshot } from '@sentryhub/contracts';
import { describe, expect, it } from 'vitest';
import { groupAttributes } from './group-attributes';
import { composeMessage, pickChannel, type SlackMessageRule } from './slack-message';

/*
 * What a group is called and where and how its Slack message goes, field by field: the
 * mutation run (docs/testing.md) showed these had no unit test of their own.
 */

describe('groupAttributes', () => {
  it('takes name, severity, instance and source from the labels', () => {
    expect(groupAttributes({ alertname: 'DiskFull', severity: 'critical', instance: 'db-1', source: 'prometheus-eu' }, 'webhook')).toEqual({
      name: 'DiskFull',
      severity: 'critical',
      instance: 'db-1',
      source: 'prometheus-eu',
    });
    expect(groupAttributes({ alertname: 'Info', severity: 'info' }, 'api').severity).toBe('info');
    expect(groupAttributes({ alertname: 'Warn', severity: 'warning' }, 'api').severity).toBe('warning');
  });

  it('falls back: "Unknown Alert" without (or with an empty) alertname, warning for a missing or unknown severity, no instance, the intake as source', () => {
    expect(groupAttributes({}, 'external')).toEqual({ name: 'Unknown Alert', severity: 'warning', instance: null, source: 'external' });
    expect(groupAttributes({ alertname: '', severity: 'page', source: '' }, 'api')).toEqual({
      name: 'Unknown Alert',
      severity: 'warning',
      instance: null,
      source: 'api',
    });
    expect(groupAttributes({ alertname: 'X', severity: 'Critical' }, 'api').severity).toBe('warning');
    expect(groupAttributes({ alertname: 'X', instance: '' }, 'api').instance).toBe('');
  });
});

const group = (labels: Record<string, string> = {}, fields: Partial<GroupSnapshot> = {}): GroupSnapshot => ({
  id: 3,
  fingerprint: 'd2aeefc389ca7746',
  name: 'DiskFull',
  labels: { alertname: 'DiskFull', ...labels },
  severity: 'critical',
  instance: 'db-1',
  source: 'webhook',
  status: 'firing',
  firingCount: 1,
  silenced: false,
  silencedUntil: null,
  acknowledged: false,
  ...fields,
});
const instance = (status: 'firing' | 'resolved', annotations: Record<string, string> = { summary: 'disk 97% full on 10.1.2.3' }): InstanceSnapshot => ({
  id: 9,
  status,
  startsAt: '2026-11-26T08:00:00.000Z',
  endsAt: status === 'resolved' ? '2026-11-26T09:00:00.000Z' : null,
  annotations,
  generatorURL: null,
  resolutionType: status === 'resolved' ? 'normal' : null,
});
const rule = (fields: Partial<SlackMessageRule> = {}): SlackMessageRule => ({
  name: 'disk',
  slackChannel: null,
  messageTemplate: 'FIRING {{ summary }}',
  resolvedMessageTemplate: 'RESOLVED {{ summary }}',
  replaceIpAddresses: false,
  ...fields,
});

describe('pickChannel', () => {
  it('the rule channel, else the `channel` label, else the default; blank ones do not count and are trimmed', () => {
    expect(pickChannel({ slackChannel: ' #rule ' }, { group: group({ channel: '#label' }) }, '#default')).toBe('#rule');
    expect(pickChannel({ slackChannel: null }, { group: group({ channel: ' #label ' }) }, '#default')).toBe('#label');
    expect(pickChannel({ slackChannel: '   ' }, { group: group({ channel: '#label' }) }, '#default')).toBe('#label');
    expect(pickChannel({ slackChannel: '' }, { group: group({ channel: '  ' }) }, '#default')).toBe('#default');
    expect(pickChannel({ slackChannel: null }, { group: group() }, '#default')).toBe('#default');
  });
});

describe('composeMessage', () => {
  it('uses the firing template for a firing change and the resolved one for a resolved change, else the firing one', () => {
    expect(composeMessage(rule(), { group: group(), instance: instance('firing') }, '#d')).toEqual({
      channel: '#d',
      text: 'FIRING disk 97% full on 10.1.2.3',
      templateError: null,
    });
    expect(composeMessage(rule(), { group: group(), instance: instance('resolved') }, '#d').text).toBe('RESOLVED disk 97% full on 10.1.2.3');
    expect(composeMessage(rule({ resolvedMessageTemplate: null }), { group: group(), instance: instance('resolved') }, '#d').text).toBe(
      'FIRING disk 97% full on 10.1.2.3',
    );
  });

  it('replaces IP addresses only for a rule that asks for it', () => {
    expect(composeMessage(rule({ replaceIpAddresses: true }), { group: group(), instance: instance('firing') }, '#d').text).toBe('FIRING disk 97% full on IP');
    expect(composeMessage(rule({ replaceIpAddresses: false }), { group: group(), instance: instance('firing') }, '#d').text).toContain('10.1.2.3');
  });

  it('an empty or blank rendering gives the safe default text, escaped, naming rule, alert, status and severity', () => {
    const composed = composeMessage(
      rule({ name: 'r<1>', messageTemplate: '  {{ nothing }}  ' }),
      { group: group({}, { name: 'Disk&Full', severity: 'warning' }), instance: instance('firing') },
      '#d',
    );
    expect(composed).toEqual({
      channel: '#d',
      text: '[SentryHub] The template of rule "r&lt;1&gt;" rendered an empty message. Alert Disk&amp;Full is firing (severity warning).',
      templateError: 'the template rendered an empty message',
    });
  });

  it('a template that fails gives the fallback text with the error, and the IP replacement applies to it too', () => {
    const failing = rule({ messageTemplate: '{{ summary | nosuchfilter }}' });
    const plain = composeMessage(failing, { group: group(), instance: instance('firing') }, '#d');
    expect(plain.templateError).toMatch(/undefined filter: nosuchfilter/);
    expect(plain.text).toMatch(
      /^\[SentryHub\] The template of rule "disk" failed to render .*Alert DiskFull is firing \(severity critical\): disk 97% full on 10\.1\.2\.3$/,
    );
    const replaced = composeMessage({ ...failing, replaceIpAddresses: true }, { group: group(), instance: instance('firing') }, '#d');
    expect(replaced.text).toBe(plain.text.replace('10.1.2.3', 'IP'));
    expect(replaced.templateError).toBe(plain.templateError);
  });
});
