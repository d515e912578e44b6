// Stacked bar charts over time, hand-written SVG (no chart library: the page
// weight is bounded, console/README.md). One bar per bucket of a fixed
// range, every bucket drawn (an empty one is a gap), a y axis rounded to a
// readable maximum, a tooltip per bar (an SVG <title>) with its figures.

const NS = 'http://www.w3.org/2000/svg';
const W = 760;
const H = 150;
const PAD = { left: 40, right: 8, top: 10, bottom: 22 };

/** An SVG element; attributes set as attributes, children appended (text as text). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** The smallest of 1, 2, 5 x 10^k at least `v` (at least 1: counts are whole). */
export function niceMax(v) {
  if (!(v > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const hm = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const day = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });
const full = new Intl.DateTimeFormat('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/**
 * A stacked bar chart. `from`, `bucketMs`, `count`: the buckets drawn;
 * `values`: Map of bucket start -> {key: n}; `series`: [{key, label,
 * color}] bottom up. Returns the <svg>.
 */
export function barChart({ from, bucketMs, count, values, series, label }) {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  let top = 0;
  for (const v of values.values()) top = Math.max(top, series.reduce((a, x) => a + (v[x.key] ?? 0), 0));
  const max = niceMax(top);
  const y = (n) => PAD.top + plotH - (n / max) * plotH;
  const step = plotW / count;
  const gap = step > 4 ? Math.min(2, step * 0.2) : 0;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });

  // Grid and y labels: 0, half, max.
  for (const n of [0, max / 2, max]) {
    if (n !== Math.round(n)) continue;
    svg.append(
      s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(n), y2: y(n), class: n === 0 ? 'axis' : 'grid' }),
      s('text', { x: PAD.left - 6, y: y(n) + 4, class: 'tick', 'text-anchor': 'end' }, compact(n)),
    );
  }
  // X labels: about six, at bucket edges.
  const days = bucketMs * count > 36 * 3600_000;
  const every = Math.max(1, Math.round(count / 6));
  for (let i = 0; i <= count; i += every) {
    const t = from + i * bucketMs;
    const x = PAD.left + i * step;
    svg.append(s('line', { x1: x, x2: x, y1: PAD.top + plotH, y2: PAD.top + plotH + 4, class: 'axis' }));
    svg.append(s('text', { x, y: H - 6, class: 'tick', 'text-anchor': i === 0 ? 'start' : i + every > count ? 'end' : 'middle' }, (days ? day : hm).format(new Date(t))));
  }
  // Bars: one group per bucket with any activity, stacked bottom up.
  for (let i = 0; i < count; i++) {
    const t = from + i * bucketMs;
    const v = values.get(t);
    if (!v) continue;
    const total = series.reduce((a, x) => a + (v[x.key] ?? 0), 0);
    if (!total) continue;
    const g = s('g', { class: 'bar', 'data-start': t });
    const tip = [`${full.format(new Date(t))}`, ...series.filter((x) => v[x.key]).map((x) => `${x.label}: ${v[x.key]}`)].join('\n');
    g.append(s('title', {}, tip));
    let base = 0;
    for (const x of series) {
      const n = v[x.key] ?? 0;
      if (!n) continue;
      g.append(s('rect', { x: PAD.left + i * step + gap / 2, y: y(base + n), width: Math.max(1, step - gap), height: Math.max(1, y(base) - y(base + n)), fill: x.color }));
      base += n;
    }
    svg.append(g);
  }
  return svg;
}

/** 1200 -> 1.2k; whole numbers otherwise. */
function compact(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${+(n / 1e3).toFixed(0)}k`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/**
 * The lift's interval on a line from -R to +R points with zero marked:
 * the point estimate as a dot, the 95% interval as a bar.
 */
export function intervalStrip({ diff, lo, hi }) {
  const w = 360;
  const h = 44;
  const reach = niceMax(Math.max(Math.abs(lo), Math.abs(hi), 0.01) * 100) / 100;
  const x = (d) => 20 + ((d + reach) / (2 * reach)) * (w - 40);
  const cls = lo > 0 ? 'up' : hi < 0 ? 'down' : 'unsure';
  return s(
    'svg',
    { viewBox: `0 0 ${w} ${h}`, class: `strip ${cls}`, role: 'img', 'aria-label': 'The lift and its 95% interval' },
    s('line', { x1: 20, x2: w - 20, y1: 18, y2: 18, class: 'axis' }),
    s('rect', { x: x(lo), y: 13, width: Math.max(2, x(hi) - x(lo)), height: 10, rx: 3, class: 'ci' }),
    s('line', { x1: x(0), x2: x(0), y1: 6, y2: 30, class: 'zero' }),
    s('circle', { cx: x(diff), cy: 18, r: 4.5, class: 'est' }),
    s('text', { x: 20, y: 41, class: 'tick', 'text-anchor': 'start' }, `−${+(reach * 100).toFixed(0)}`),
    s('text', { x: x(0), y: 41, class: 'tick', 'text-anchor': 'middle' }, '0'),
    s('text', { x: w - 20, y: 41, class: 'tick', 'text-anchor': 'end' }, `+${+(reach * 100).toFixed(0)} points`),
  );
}
