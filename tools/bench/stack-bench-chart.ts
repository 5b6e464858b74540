/** A hand-written SVG of the stack benchmark's timeline: throughput above, latency below. */

export interface TimelineSample {
  /** Seconds since the stack started taking load. */
  t: number;
  scenario: string;
  acceptedPerSecond: number;
  storedPerSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  rssMiB: Record<string, number>;
}

const WIDTH = 960;
const PANEL = 220;
const LEFT = 70;
const RIGHT = 20;
const TOP = 40;
const GAP = 60;

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round upper bound for an axis. */
function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function polyline(points: [number, number][], color: string, dash = ''): string {
  if (points.length === 0) return '';
  const path = points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${color}" stroke-width="1.8"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${path}"/>`;
}

export function renderChart(samples: TimelineSample[], title: string): string {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const height = TOP + PANEL * 2 + GAP + 50;
  const tMax = Math.max(1, ...samples.map((sample) => sample.t));
  const x = (t: number) => LEFT + (t / tMax) * plotWidth;
  const rateMax = niceMax(Math.max(...samples.map((sample) => Math.max(sample.acceptedPerSecond, sample.storedPerSecond)), 1));
  const latencyMax = niceMax(Math.max(...samples.map((sample) => sample.p99Ms ?? 0), 1));
  const top2 = TOP + PANEL + GAP;
  const yRate = (value: number) => TOP + PANEL - (Math.max(0, value) / rateMax) * PANEL;
  const yLatency = (value: number) => top2 + PANEL - (Math.min(value, latencyMax) / latencyMax) * PANEL;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  // Scenario bands.
  let bandStart = 0;
  let current = samples[0]?.scenario ?? '';
  let shade = false;
  const band = (from: number, to: number, name: string) => {
    if (shade)
      parts.push(`<rect x="${x(from).toFixed(1)}" y="${TOP}" width="${Math.max(0, x(to) - x(from)).toFixed(1)}" height="${PANEL * 2 + GAP}" fill="#f2f2f2"/>`);
    parts.push(`<text x="${(x(from) + 3).toFixed(1)}" y="${TOP + 12}" fill="#555" font-size="11">${escape(name)}</text>`);
    shade = !shade;
  };
  for (const sample of samples) {
    if (sample.scenario !== current) {
      band(bandStart, sample.t, current);
      bandStart = sample.t;
      current = sample.scenario;
    }
  }
  band(bandStart, tMax, current);

  // Axes and grid.
  for (const [top, max, unit] of [
    [TOP, rateMax, 'alerts/s'],
    [top2, latencyMax, 'ms'],
  ] as const) {
    for (let i = 0; i <= 4; i++) {
      const y = top + PANEL - (i / 4) * PANEL;
      parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
      parts.push(`<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${((max * i) / 4).toLocaleString('en-US', { maximumFractionDigits: 0 })}</text>`);
    }
    parts.push(`<text x="14" y="${top + PANEL / 2}" transform="rotate(-90 14 ${top + PANEL / 2})" text-anchor="middle">${unit}</text>`);
    parts.push(`<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL}" fill="none" stroke="#888"/>`);
  }
  for (let i = 0; i <= 10; i++) {
    const t = (tMax * i) / 10;
    parts.push(`<text x="${x(t)}" y="${top2 + PANEL + 16}" text-anchor="middle">${t.toFixed(0)} s</text>`);
  }

  parts.push(
    polyline(
      samples.map((sample) => [x(sample.t), yRate(sample.acceptedPerSecond)]),
      '#1f77b4',
    ),
  );
  parts.push(
    polyline(
      samples.map((sample) => [x(sample.t), yRate(sample.storedPerSecond)]),
      '#2ca02c',
      '5 3',
    ),
  );
  const withLatency = samples.filter((sample) => sample.p50Ms !== null && sample.p99Ms !== null);
  parts.push(
    polyline(
      withLatency.map((sample) => [x(sample.t), yLatency(sample.p50Ms ?? 0)]),
      '#9467bd',
    ),
  );
  parts.push(
    polyline(
      withLatency.map((sample) => [x(sample.t), yLatency(sample.p99Ms ?? 0)]),
      '#d62728',
    ),
  );

  const legend = (lx: number, ly: number, color: string, text: string, dash = '') =>
    parts.push(
      `<line x1="${lx}" x2="${lx + 24}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/><text x="${lx + 30}" y="${ly + 4}">${escape(text)}</text>`,
    );
  legend(WIDTH - RIGHT - 330, TOP + 24, '#1f77b4', 'accepted by the gateway (confirmed), alerts/s');
  legend(WIDTH - RIGHT - 330, TOP + 40, '#2ca02c', 'stored by the processor (committed), alerts/s', '5 3');
  legend(WIDTH - RIGHT - 330, top2 + 20, '#9467bd', 'HTTP latency p50, per 500 ms');
  legend(WIDTH - RIGHT - 330, top2 + 36, '#d62728', 'HTTP latency p99, per 500 ms');
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
