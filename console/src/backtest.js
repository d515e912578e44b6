// The Backtest tab: runs the candidate file over the retained log on the
// relay (every partition in parallel, streamed NDJSON progress), then shows
// per trigger the candidate's figures beside the active file's for the same
// events, and a sample of firings with a link to each visitor's events.
import { h, num, pct, whenExact, when } from './dom.js';

const SUPPRESSIONS = [
  ['audience', 'audience'],
  ['cooldown', 'cooldown'],
  ['max_per_user', 'max per user'],
  ['global_cap', 'global cap'],
  ['cancelled', 'cancelled by unless'],
];

const SINCE_WORDS = { '24h': 'the last 24 hours', '7d': 'the last 7 days', all: 'all retained events' };

export class BacktestPanel {
  constructor(el, { onVisitor }) {
    this.el = el;
    this.onVisitor = onVisitor;
    this.running = false;
    this.ranOn = null;
  }

  /** Runs a backtest of `file`; `api.backtest` streams the lines. */
  async run(api, file, since) {
    if (this.running) return;
    this.running = true;
    this.ranOn = file;
    const rows = new Map();
    const progress = h('div', { class: 'progress', 'aria-live': 'polite' });
    this.el.replaceChildren(
      h('div', { class: 'run-head' }, h('h3', {}, 'Backtest running…'), h('p', { class: 'facts' }, `Replaying ${SINCE_WORDS[since] ?? since} on every partition with this file. Nothing is pushed or stored.`)),
      progress,
    );
    const onLine = (line) => {
      if (line.type !== 'progress') return;
      let row = rows.get(line.partition);
      if (!row) {
        row = {
          bar: h('div', { class: 'bar running' }, h('span')),
          count: h('span', { class: 'muted' }),
        };
        rows.set(line.partition, row);
        progress.append(h('div', { class: 'progress-row', dataset: { partition: line.partition } }, h('span', {}, `Partition ${line.partition}`), row.bar, row.count));
      }
      row.count.textContent = `${num(line.events)} events`;
      row.bar.className = line.done ? 'bar done' : 'bar running';
    };
    performance.mark('console:backtest-start');
    try {
      const result = await api.backtest(file, since, onLine);
      this.render(result, since, progress);
      // From the click to the table, for tests/console/figures.mjs.
      performance.measure('console:backtest', 'console:backtest-start');
    } catch (e) {
      this.el.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
      throw e;
    } finally {
      this.running = false;
    }
  }

  /** Says so when the editor no longer holds the file that was backtested. */
  fileChanged(text) {
    const stale = this.el.querySelector('.banner.stale');
    if (this.ranOn === null || this.running) return;
    if (text !== this.ranOn && !stale) {
      this.el.prepend(h('div', { class: 'banner stale' }, 'The file changed since this backtest: run it again to see the new figures.'));
    } else if (text === this.ranOn && stale) {
      stale.remove();
    }
  }

  render(r, since, progress) {
    const stopped = r.partitions.filter((p) => p.stopped);
    const head = h(
      'div',
      { class: 'run-head' },
      h('h3', {}, `${num(r.triggers.length)} trigger${r.triggers.length === 1 ? '' : 's'} over ${num(r.events)} events`),
      h('p', { class: 'facts' }, `${num(r.visitors)} visitors since ${when(r.since)} (${SINCE_WORDS[since] ?? since}) · ${r.partitions.length} partitions`),
    );
    const parts = [head];
    if (r.stopped_early || stopped.length) {
      const which = stopped.map((p) => `partition ${p.partition} at its ${p.stopped === 'time' ? 'time' : 'event'} bound`).join(', ');
      parts.push(h('div', { class: 'banner warn', role: 'status' }, `Stopped early: ${which || 'a partition hit its bound'}. The figures cover only the events read before that.`));
    }
    progress.classList.add('done');
    parts.push(h('details', { class: 'progress-details' }, h('summary', {}, 'Partitions'), progress));
    if (!r.triggers.length) parts.push(h('p', { class: 'muted empty' }, 'The file has no triggers.'));
    else parts.push(this.overview(r.triggers));
    for (const t of r.triggers) parts.push(this.card(t, r.visitors));
    this.el.replaceChildren(...parts);
  }

  /** One line per trigger: firings here and in the active file, reach. */
  overview(triggers) {
    const rows = triggers.map((t) =>
      h(
        'tr',
        { dataset: { trigger: t.id } },
        h('td', {}, h('button', { type: 'button', class: 'link mono', onclick: () => this.el.querySelector(`.trigger-card[data-trigger="${t.id}"]`)?.scrollIntoView({ behavior: 'smooth' }) }, t.id)),
        h('td', { class: 'firings' }, num(t.candidate.firings)),
        h('td', { class: 'dim' }, t.active ? num(t.active.firings) : '–'),
        h('td', {}, num(t.candidate.visitors)),
        h('td', {}, pct(t.candidate.share)),
      ),
    );
    return h(
      'table',
      { class: 'overview' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Trigger'), h('th', {}, 'Firings'), h('th', {}, 'Active'), h('th', {}, 'Visitors'), h('th', {}, 'Share'))),
      h('tbody', {}, rows),
    );
  }

  card(t, visitors) {
    const c = t.candidate;
    const a = t.active;
    let delta;
    if (!a) delta = h('span', { class: 'delta new' }, 'not in the active file');
    else if (c.firings === a.firings) delta = h('span', { class: 'delta muted' }, 'same firings as active');
    else {
      const d = c.firings - a.firings;
      delta = h('span', { class: `delta ${d > 0 ? 'up' : 'down'}` }, `${d > 0 ? '+' : '−'}${num(Math.abs(d))} firings vs active`);
    }
    const row = (label, fc, fa, cls) => h('tr', { class: cls }, h('td', {}, label), h('td', {}, fc(c)), h('td', { class: 'dim' }, a ? fa(a) : '–'));
    const same = (f) => [f, f];
    const pv = (x) => `${num(x.per_visitor.median)} / ${num(x.per_visitor.p90)} / ${num(x.per_visitor.max)}`;
    const reasons = SUPPRESSIONS.filter(([k]) => (c.suppressed?.[k] ?? 0) > 0 || (a?.suppressed?.[k] ?? 0) > 0);
    // Outcomes (goal, holdout) when the relay reports them.
    const outcomes = [];
    if ('held_out' in c) outcomes.push(row('Held out (no action shown)', ...same((x) => num(x.held_out ?? 0))));
    if ('conversions' in c) {
      // `conversions` counts delivered firings' conversions only (broker-core backtest::TriggerReport).
      const conv = (x) => `${num(x.conversions ?? 0)} / ${num(x.held_out_conversions ?? 0)}`;
      outcomes.push(row('Conversions: delivered / held out', ...same(conv)));
    }
    const body = [
      row('Firings', ...same((x) => num(x.firings))),
      row(`Visitors reached (of ${num(visitors)})`, ...same((x) => `${num(x.visitors)} · ${pct(x.share)}`)),
      row('Per visitor: median / p90 / max', ...same(pv)),
      ...outcomes,
      reasons.length
        ? h('tr', {}, h('td', { colspan: 3, class: 'dim' }, 'Suppressed'))
        : h('tr', {}, h('td', { class: 'dim' }, 'Suppressed'), h('td', {}, 'none'), h('td', { class: 'dim' }, a ? 'none' : '–')),
      ...reasons.map(([k, label]) => row(label, ...same((x) => num(x.suppressed?.[k] ?? 0)), 'sub')),
    ];
    const table = h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, ''), h('th', {}, 'This file'), h('th', {}, 'Active'))), h('tbody', {}, body));
    const card = h('section', { class: 'trigger-card', dataset: { trigger: t.id, firings: c.firings, active: a ? a.firings : '' } }, h('header', {}, h('span', { class: 'id' }, t.id), delta), table);
    if (t.sample?.length) {
      const rows = t.sample.map((s) =>
        h(
          'tr',
          {},
          h('td', {}, whenExact(s.time)),
          h('td', {}, h('button', { type: 'button', class: 'link visitor-link', title: "Show this visitor's events", onclick: () => this.onVisitor(s.visitor) }, shortId(s.visitor))),
          h('td', { class: 'action', title: JSON.stringify(s.action) }, `${s.action.type} ${JSON.stringify(s.action.payload ?? {})}`),
        ),
      );
      card.append(
        h(
          'details',
          {},
          h('summary', {}, `Sample of ${num(t.sample.length)} firing${t.sample.length === 1 ? '' : 's'}`),
          h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Visitor'), h('th', {}, 'Action'))), h('tbody', {}, rows)),
        ),
      );
    }
    return card;
  }
}

export function shortId(id) {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
