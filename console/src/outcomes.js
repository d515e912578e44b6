// The Outcomes view: per trigger, what it did over a time range (firings,
// held out, suppressions by reason, conversions: the relay's counters,
// GET /v1/admin/stats, merged across partitions) and whether it worked: the
// conversion rate of delivered and held-out firings, the lift with its 95%
// interval (./lift.js) and a verdict in plain words.
import { h, num, pct, when } from './dom.js';
import { barChart, intervalStrip } from './chart.js';
import { verdict, points } from './lift.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
// Each range: the relay's bucket for the charts, the bars drawn (buckets
// summed), and the bucket the list of every trigger is read in. A day of
// minutes is read for the chosen trigger only: for every trigger it could
// be 1,440 rows each.
export const RANGES = {
  '1h': { ms: HOUR, bucket: 'minute', bar: MIN, list: 'minute', words: 'the last hour, per minute' },
  '24h': { ms: 24 * HOUR, bucket: 'minute', bar: 15 * MIN, list: 'hour', words: 'the last 24 hours, per 15 minutes' },
  '7d': { ms: 7 * 24 * HOUR, bucket: 'hour', bar: HOUR, list: 'hour', words: 'the last 7 days, per hour' },
  '30d': { ms: 30 * 24 * HOUR, bucket: 'hour', bar: 6 * HOUR, list: 'hour', words: 'the last 30 days, per 6 hours' },
};

export const REASONS = [
  ['audience', 'audience', '#7a5cc2'],
  ['cooldown', 'cooldown', '#c08a00'],
  ['max_per_user', 'max per user', '#d0632a'],
  ['global_cap', 'global cap', '#c0392b'],
  ['cancelled', 'cancelled by unless', '#8a939d'],
];
const FIRINGS = [
  { key: 'fired', label: 'Delivered', color: '#2455c3' },
  { key: 'held_out', label: 'Held out', color: '#a9b8dc' },
];
const CONVERSIONS = [
  { key: 'conversions', label: 'Delivered, converted', color: '#1e7a4a' },
  { key: 'held_out_conversions', label: 'Held out, converted', color: '#9fd0b3' },
];
const SUPPRESSED = REASONS.map(([key, label, color]) => ({ key, label, color }));

/** Adds a stats row's figures into `into` (suppressions flattened by reason). */
function add(into, r) {
  into.fired = (into.fired ?? 0) + r.fired;
  into.held_out = (into.held_out ?? 0) + r.held_out;
  into.conversions = (into.conversions ?? 0) + r.conversions;
  into.held_out_conversions = (into.held_out_conversions ?? 0) + r.held_out_conversions;
  for (const [k] of REASONS) into[k] = (into[k] ?? 0) + (r.suppressed?.[k] ?? 0);
  return into;
}

const suppressedOf = (t) => REASONS.reduce((a, [k]) => a + (t[k] ?? 0), 0);

export class OutcomesPanel {
  /** `triggers()`: the active file's triggers ([{id, goal, holdout, enabled}]). */
  constructor(el, { api, triggers }) {
    this.el = el;
    this.api = api;
    this.triggers = triggers;
    this.range = '24h';
    this.selected = null;
    this.loading = 0;
    this.build();
  }

  build() {
    this.rangeButtons = Object.keys(RANGES).map((k) =>
      h('button', { type: 'button', class: 'seg', dataset: { range: k }, 'aria-pressed': String(k === this.range), onclick: () => this.setRange(k) }, k),
    );
    this.list = h('div', { class: 'trigger-list', id: 'outcome-triggers' });
    this.detail = h('div', { class: 'outcome-detail', id: 'outcome-detail' });
    this.facts = h('span', { class: 'muted' });
    this.el.replaceChildren(
      h(
        'div',
        { class: 'view-head' },
        h('div', {}, h('h2', {}, 'Outcomes'), this.facts),
        h('div', { class: 'actions' }, h('div', { class: 'segmented', role: 'group', 'aria-label': 'Range' }, this.rangeButtons), h('button', { type: 'button', id: 'outcomes-refresh', onclick: () => this.load() }, 'Refresh')),
      ),
      h('div', { class: 'view-body' }, this.list, this.detail),
      help(),
    );
  }

  setRange(k) {
    this.range = k;
    for (const b of this.rangeButtons) b.setAttribute('aria-pressed', String(b.dataset.range === k));
    this.load();
  }

  /** The range's bounds, whole bars ending after now. */
  bounds() {
    const r = RANGES[this.range];
    const to = Math.ceil(Date.now() / r.bar) * r.bar;
    return { ...r, from: to - r.ms, to };
  }

  /** Fetches the range for every trigger (the list) and draws the selected one. */
  async load() {
    const ticket = ++this.loading;
    const b = this.bounds();
    this.facts.textContent = `Loading ${b.words}…`;
    let answer;
    try {
      answer = await this.api.stats(b.from, b.to, b.list);
    } catch (e) {
      if (ticket !== this.loading) return;
      this.facts.textContent = '';
      this.detail.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
      return;
    }
    if (ticket !== this.loading) return; // a newer range was picked meanwhile
    this.data = { ...b, answer, rows: new Map() };
    this.facts.textContent = `${b.words[0].toUpperCase()}${b.words.slice(1)} · ${when(b.from)} to ${when(b.to)} · ${answer.partitions} partitions`;
    this.render();
  }

  render() {
    const { answer } = this.data;
    const known = this.triggers();
    const totals = new Map(known.map((t) => [t.id, {}]));
    for (const r of answer.rows) add(totals.get(r.trigger) ?? totals.set(r.trigger, {}).get(r.trigger), r);
    const ids = [...totals.keys()];
    if (!ids.includes(this.selected)) this.selected = ids.find((id) => known.find((t) => t.id === id)?.goal) ?? ids[0] ?? null;

    const rows = ids.map((id) => {
      const t = totals.get(id);
      const def = known.find((k) => k.id === id);
      const v = def?.goal && def.holdout ? verdict({ conversions: t.conversions ?? 0, firings: t.fired ?? 0 }, { conversions: t.held_out_conversions ?? 0, firings: t.held_out ?? 0 }) : null;
      const mark = !def ? h('span', { class: 'tag' }, 'not in the file') : def.enabled === false ? h('span', { class: 'tag' }, 'disabled') : v && v.kind !== 'unknown' ? h('span', { class: `tag ${v.kind}` }, `${points(v.ci.diff)} pts`) : null;
      return h(
        'tr',
        { class: id === this.selected ? 'selected' : '', dataset: { trigger: id }, onclick: () => this.select(id), tabindex: 0, onkeydown: (e) => e.key === 'Enter' && this.select(id) },
        h('td', {}, h('span', { class: 'mono' }, id), ' ', mark),
        h('td', {}, num(t.fired ?? 0)),
        h('td', { class: 'dim' }, num(t.held_out ?? 0)),
        h('td', {}, num(t.conversions ?? 0)),
      );
    });
    this.list.replaceChildren(
      rows.length
        ? h('table', { class: 'overview pick' }, h('thead', {}, h('tr', {}, h('th', {}, 'Trigger'), h('th', { title: 'Delivered firings' }, 'Fired'), h('th', { title: 'Held-out firings' }, 'Held'), h('th', { title: 'Conversions of delivered firings' }, 'Conv.'))), h('tbody', {}, rows))
        : h('p', { class: 'muted empty' }, 'No active trigger file, and no counters in this range.'),
    );
    if (answer.truncated) this.list.append(h('div', { class: 'banner warn' }, 'A partition had more counters than it reads for one request: the figures are partial. Pick a shorter range.'));
    this.totals = totals;
    this.drawDetail();
  }

  select(id) {
    this.selected = id;
    for (const tr of this.list.querySelectorAll('tr[data-trigger]')) tr.className = tr.dataset.trigger === id ? 'selected' : '';
    this.drawDetail();
  }

  /** The selected trigger's rows in the chart's bucket (read once per range and trigger). */
  async chartRows(id) {
    const d = this.data;
    if (d.bucket === d.list) return d.answer.rows;
    if (!d.rows.has(id)) d.rows.set(id, (await this.api.stats(d.from, d.to, d.bucket, id)).rows);
    return d.rows.get(id);
  }

  async drawDetail() {
    const id = this.selected;
    if (id === null) return this.detail.replaceChildren();
    const data = this.data;
    let rows;
    try {
      rows = await this.chartRows(id);
    } catch (e) {
      if (this.data === data && this.selected === id) this.detail.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
      return;
    }
    if (this.data !== data || this.selected !== id) return; // another choice meanwhile
    const { from, to, bar } = data;
    const def = this.triggers().find((t) => t.id === id);
    const t = this.totals.get(id) ?? {};
    const byBar = new Map();
    for (const r of rows) {
      if (r.trigger !== id) continue;
      const start = Math.floor(r.start / bar) * bar;
      byBar.set(start, add(byBar.get(start) ?? {}, r));
    }
    const count = Math.round((to - from) / bar);
    const chart = (title, series, note) =>
      h(
        'section',
        { class: 'chart-card', dataset: { chart: series[0].key } },
        h('header', {}, h('h3', {}, title), legend(series), note && h('span', { class: 'muted' }, note)),
        barChart({ from, bucketMs: bar, count, values: byBar, series, label: `${title} of ${id}` }),
      );
    const desc = def?.description ? h('p', { class: 'muted' }, def.description) : null;
    const setup = def ? [def.goal ? `goal: ${def.goal.event} within ${def.goal.within}` : 'no goal', def.holdout ? `holdout ${def.holdout}%` : 'no holdout'].join(' · ') : 'no longer in the active file';
    this.detail.replaceChildren(
      h('div', { class: 'detail-head' }, h('h3', { class: 'mono' }, id), h('span', { class: 'muted' }, setup), desc),
      this.liftCard(def, t),
      h(
        'div',
        { class: 'figures' },
        figure('Delivered', t.fired ?? 0),
        figure('Held out', t.held_out ?? 0),
        figure('Suppressed', suppressedOf(t)),
        figure('Conversions', t.conversions ?? 0, `+ ${num(t.held_out_conversions ?? 0)} held out`),
      ),
      chart('Firings', FIRINGS),
      chart('Conversions', CONVERSIONS, def && !def.goal ? 'this trigger has no goal' : null),
      chart('Suppressed', SUPPRESSED, 'qualified but not fired, by reason'),
    );
  }

  /** The rates, the lift with its interval and the verdict. */
  liftCard(def, t) {
    const card = (cls, ...body) => h('section', { class: `lift-card ${cls}`, id: 'lift' }, ...body);
    if (def && !def.goal) return card('none', h('p', { class: 'verdict' }, 'No goal: this trigger does not measure conversions.'), h('p', { class: 'muted' }, 'Add a "goal" (an event and a window) to the trigger to see whether it changes what visitors do.'));
    if (def && !def.holdout) {
      return card(
        'none',
        h('p', { class: 'verdict' }, 'No holdout: there is no control group to compare with.'),
        h('p', { class: 'muted' }, `${num(t.conversions ?? 0)} of ${num(t.fired ?? 0)} delivered firings converted. Add a "holdout" (a percentage of visitors who are not shown the action) to measure the lift.`),
      );
    }
    const treated = { conversions: t.conversions ?? 0, firings: t.fired ?? 0 };
    const held = { conversions: t.held_out_conversions ?? 0, firings: t.held_out ?? 0 };
    const v = verdict(treated, held);
    const rate = (label, x, w) =>
      h('div', { class: 'rate' }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, w ? pct(w.p) : '–'), h('span', { class: 'muted' }, `${num(x.conversions)} of ${num(x.firings)} firings${w ? ` · 95% CI ${pct(w.lo)} to ${pct(w.hi)}` : ''}`));
    return card(
      v.kind,
      h('p', { class: 'verdict', id: 'verdict' }, v.text),
      h(
        'div',
        { class: 'rates' },
        rate('Delivered: converted', treated, v.ci?.treated),
        rate('Held out: converted', held, v.ci?.held),
        h('div', { class: 'rate' }, h('span', { class: 'label' }, 'Lift'), h('span', { class: 'value' }, v.ci ? `${points(v.ci.diff)} pts` : '–'), v.ci ? intervalStrip(v.ci) : h('span', { class: 'muted' }, 'needs both groups')),
      ),
    );
  }
}

function figure(label, n, sub) {
  return h('div', { class: 'figure', dataset: { figure: label.toLowerCase().replace(/ /g, '-') } }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, num(n)), sub && h('span', { class: 'muted' }, sub));
}

function legend(series) {
  return h(
    'span',
    { class: 'legend' },
    series.map((x) => h('span', {}, h('i', { style: `background:${x.color}` }), x.label)),
  );
}

function help() {
  return h(
    'details',
    { class: 'help' },
    h('summary', {}, 'How to read this'),
    h('p', {}, 'The relay’s counters, by the time of the events that caused them. Held out: a trigger’s "holdout" share of visitors (a fixed hash) is never shown its action, as a control group. Suppressed: qualified but stopped by the audience, cooldown, max per user, the file’s cap, or its "unless" step. A conversion (the goal event within the goal’s window after a firing) counts at the goal event’s time.'),
    h('p', {}, 'Conversion rate: converted firings out of firings, delivered and held out, each with its Wilson score 95% interval. Lift: the difference of the two rates in points, with Newcombe’s hybrid score 95% interval (the two Wilson intervals combined). The verdict says lifts or lowers only when that interval excludes zero.'),
  );
}
