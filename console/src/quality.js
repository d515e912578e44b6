// The Data quality view: the tracking plan in its workspace (./workspace.js,
// the trigger file's, on the plan's routes), the plan's violation counters
// (most first, with the last example), and the quarantine: the newest
// quarantined events of every partition with their reasons, and Replay
// (editor role), which judges them again with the active plan.
import { h, $, num, when, whenExact, toast } from './dom.js';
import { shortId } from './backtest.js';
import { eventName } from './debugger.js';

/** Quarantined events read per partition (the newest), and shown in all. */
export const QUARANTINE_SHOWN = 100;

const PARTS = ['plan-workspace', 'violations', 'quarantine'];

/** `wrong_type` -> `wrong type`. */
const words = (kind) => kind.replace(/_/g, ' ');
/** `1 event`, `2 events`. */
const count = (n, noun) => `${num(n)} ${noun}${n === 1 ? '' : 's'}`;

/** The head of a section: title, facts, buttons. */
const head = (title, facts, ...buttons) => h('div', { class: 'view-head' }, h('div', {}, h('h2', {}, title), h('p', { class: 'muted' }, facts)), h('div', { class: 'actions' }, buttons));

export class QualityPanel {
  /** `plan`: the plan's Workspace. */
  constructor({ api, canEdit, plan }) {
    Object.assign(this, { api, canEdit, plan, part: PARTS[0], loaded: false, result: null });
    for (const b of $('quality-nav').children) b.onclick = () => this.select(b.dataset.part);
  }

  /** The view is shown: the plan is read once (edits stay), the rest afresh. */
  async show() {
    if (!this.loaded) {
      this.loaded = true;
      try {
        this.plan.load(await this.api.activeFile('plan'));
      } catch (e) {
        this.loaded = false;
        toast(e.message, { error: true });
      }
    }
    this.select(this.part);
  }

  select(part) {
    this.part = part;
    for (const b of $('quality-nav').children) b.setAttribute('aria-selected', String(b.dataset.part === part));
    for (const p of PARTS) $(p).hidden = p !== part;
    if (part !== PARTS[0]) this.refresh();
  }

  /** Reads the counters and the quarantine again and draws both. */
  async refresh() {
    const v = $('violations');
    const q = $('quarantine');
    try {
      const [stats, events] = await Promise.all([this.api.planStats(), this.quarantined()]);
      this.drawViolations(v, stats);
      this.drawQuarantine(q, stats, events);
    } catch (e) {
      for (const el of [v, q]) el.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
    }
  }

  /** The newest quarantined events of every partition, newest first. */
  async quarantined() {
    const n = await this.api.partitions();
    const reads = await Promise.all(
      [...Array(n).keys()].map(async (p) => {
        const { end, earliest } = await this.api.read(p, 'quarantine', 'latest', 0);
        if (end <= earliest) return [];
        return (await this.api.read(p, 'quarantine', Math.max(earliest, end - QUARANTINE_SHOWN), QUARANTINE_SHOWN)).records;
      }),
    );
    return reads
      .flat()
      .sort((a, b) => b.time - a.time || b.offset - a.offset)
      .slice(0, QUARANTINE_SHOWN);
  }

  drawViolations(el, { since, totals, counters, quarantine }) {
    $('violations-count').textContent = counters.length ? num(counters.length) : '';
    const broke = totals.allowed + totals.flagged + totals.quarantined;
    const rows = counters.map((c) =>
      h(
        'tr',
        { dataset: { event: c.event ?? '', path: c.path ?? '' } },
        h('td', { class: 'mono' }, c.event ?? h('span', { class: 'dim', title: 'Counted together past the counters’ limit' }, 'other events')),
        h('td', {}, words(c.kind)),
        h('td', { class: 'mono' }, c.path ?? '–'),
        h('td', {}, num(c.flagged)),
        h('td', {}, num(c.quarantined)),
        h('td', {}, num(c.allowed)),
        h('td', {}, h('strong', {}, num(c.total))),
        h('td', { class: 'dim', title: `First seen ${when(c.first_seen)}` }, whenExact(c.last_seen)),
        h('td', { class: 'example' }, c.example),
      ),
    );
    el.replaceChildren(
      head(
        'Violations',
        since === null ? 'No plan is active: events are not checked.' : `Since ${when(since)}, when the active plan was activated: ${count(broke, 'violation')} (${num(totals.flagged)} on flagged events, ${num(totals.quarantined)} on quarantined ones, ${num(totals.allowed)} allowed). The quarantine holds ${count(quarantine.events, 'event')}.`,
        h('button', { type: 'button', onclick: () => this.refresh() }, 'Refresh'),
      ),
      rows.length
        ? h('div', { class: 'stream-wrap' }, h('table', { class: 'stream text', id: 'violation-rows' }, h('thead', {}, h('tr', {}, ['Event', 'Violation', 'Path', 'Flagged', 'Quarantined', 'Allowed', 'Total', 'Last seen', 'Last example'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, 'No violations counted.'),
    );
  }

  drawQuarantine(el, stats, events) {
    $('quarantine-count').textContent = stats.quarantine.events ? num(stats.quarantine.events) : '';
    const edit = this.canEdit();
    const replay = h(
      'button',
      { type: 'button', class: 'primary', id: 'replay', disabled: !edit || !stats.quarantine.events, title: edit ? 'Judge every quarantined event again with the active plan: those it accepts go to the event stream' : 'Viewers cannot replay', onclick: (e) => this.replay(e.currentTarget) },
      'Replay',
    );
    const r = this.result;
    const rows = events.map((e) =>
      h(
        'tr',
        { class: 'rec', dataset: { visitor: e.visitor } },
        h('td', { class: 'time' }, whenExact(e.time)),
        h('td', { class: 'mono', title: e.visitor }, shortId(e.visitor ?? '')),
        h('td', {}, h('strong', {}, eventName(e))),
        h('td', {}, h('ul', { class: 'reasons' }, (e.violations ?? []).map((v) => h('li', {}, h('code', {}, v.path), `: ${v.message}`)))),
        h('td', { class: 'props mono' }, JSON.stringify(e.properties ?? {})),
      ),
    );
    el.replaceChildren(
      head(
        'Quarantine',
        `Events that broke the plan where it says quarantine: kept apart, never seen by triggers, never lost. ${count(stats.quarantine.events, 'event')} held; the newest ${num(QUARANTINE_SHOWN)} are shown. After the plan is fixed, Replay releases those it now accepts to the event stream.`,
        h('button', { type: 'button', onclick: () => this.refresh() }, 'Refresh'),
        replay,
      ),
      // The last replay's outcome (h drops the null when there was none).
      h(
        'div',
        {},
        r &&
          h(
            'div',
            { class: `banner ${r.complete ? 'ok' : 'warn'}`, role: 'status', id: 'replay-result' },
            `Replayed with the active plan: ${num(r.released)} released to the event stream, ${num(r.kept)} kept in quarantine (they still break it).`,
            r.complete ? '' : ' Some partitions stopped early: press Replay again for the rest.',
          ),
      ),
      rows.length
        ? h('div', { class: 'stream-wrap' }, h('table', { class: 'stream text', id: 'quarantine-rows' }, h('thead', {}, h('tr', {}, ['Time', 'Visitor', 'Event', 'Why', 'Properties'].map((t) => h('th', {}, t)))), h('tbody', {}, rows)))
        : h('p', { class: 'muted' }, 'The quarantine is empty.'),
    );
  }

  async replay(button) {
    button.disabled = true;
    try {
      this.result = await this.api.replay();
    } catch (e) {
      toast(e.message, { error: true });
    }
    await this.refresh();
  }
}
