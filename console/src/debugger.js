// The live debugger: every partition's events and firing streams read from
// their newest record on, once a second, newest first, filtered by visitor,
// event name and trigger; a row opens to its JSON, a visitor opens the
// explain trace (./explain.js). Memory is bounded: the newest MAX_ROWS rows
// are kept, older ones dropped.
import { h, num, whenExact } from './dom.js';
import { shortId } from './backtest.js';

/** Rows kept in memory (older ones are dropped). */
export const MAX_ROWS = 1000;
/** Rows drawn at once (the newest that pass the filters). */
const MAX_SHOWN = 300;
/** Records read per partition and stream on each poll. */
const READ_LIMIT = 200;
const POLL_MS = 1000;
const STREAMS = ['events', 'firings'];

/** What a record is, in words: [kind class, label]. */
export function kindOf(stream, r) {
  if (stream === 'events') return ['event', 'Event'];
  if (r.type === 'held_out') return ['held', 'Held out'];
  if (r.type === 'conversion') return ['conversion', r.held_out ? 'Conversion (held out)' : 'Conversion'];
  return ['firing', 'Delivered firing'];
}

/** An event's name as triggers name it ($page, $identify, or the track name). */
export const eventName = (r) => (r.kind === 'track' ? r.name : `$${r.kind}`);

export class DebuggerPanel {
  /** `triggers()`: the active file's triggers; `onExplain(visitor, trigger)`. */
  constructor(el, { api, triggers, onExplain }) {
    this.el = el;
    this.api = api;
    this.triggers = triggers;
    this.onExplain = onExplain;
    this.rows = [];
    this.offsets = null; // "partition:stream" -> next offset
    this.expanded = new Set();
    this.paused = false;
    this.visible = false;
    this.timer = 0;
    this.seen = { events: 0, firings: 0 };
    this.names = new Set();
    this.error = '';
    this.build();
  }

  build() {
    this.pauseButton = h('button', { type: 'button', id: 'debug-pause', onclick: () => this.togglePause() }, 'Pause');
    this.state = h('span', { class: 'live-state', id: 'debug-state' });
    this.visitorInput = h('input', { id: 'filter-visitor', placeholder: 'Visitor id (or part of it)', spellcheck: 'false', autocomplete: 'off', oninput: () => this.draw() });
    this.eventInput = h('input', { id: 'filter-event', placeholder: 'Event name', list: 'seen-events', spellcheck: 'false', autocomplete: 'off', oninput: () => this.draw() });
    this.eventList = h('datalist', { id: 'seen-events' });
    this.triggerSelect = h('select', { id: 'filter-trigger', onchange: () => this.draw() });
    this.facts = h('p', { class: 'muted facts' });
    this.banner = h('div');
    this.body = h('tbody');
    this.el.replaceChildren(
      h(
        'div',
        { class: 'view-head' },
        h('div', {}, h('h2', {}, 'Live debugger'), this.facts),
        h('div', { class: 'actions' }, this.state, this.pauseButton, h('button', { type: 'button', onclick: () => this.clear() }, 'Clear')),
      ),
      h(
        'div',
        { class: 'filters' },
        h('label', {}, 'Visitor', this.visitorInput),
        h('label', {}, 'Event', this.eventInput, this.eventList),
        h('label', {}, 'Trigger', this.triggerSelect),
      ),
      this.banner,
      h('div', { class: 'stream-wrap' }, h('table', { class: 'stream', id: 'debug-rows' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'What'), h('th', {}, 'Visitor'), h('th', {}, 'Detail'), h('th', {}, 'Partition'))), this.body)),
      h(
        'details',
        { class: 'help' },
        h('summary', {}, 'How to read this'),
        h('p', {}, `Every partition’s new events and firing-stream records, newest first, read each second while shown and not paused (the newest ${num(MAX_ROWS)} kept): delivered firings reach the page, held-out ones are recorded for the control group only, a conversion is a firing followed by its goal.`),
        h('p', {}, 'Suppressed qualifications are counted, not written to the stream, so they never show here: see their counts by reason in Outcomes, and each one in a visitor’s explain. An event filter shows events only, a trigger filter firings only (set both for both). Click a row for its JSON, a visitor for explain.'),
      ),
    );
    this.fillTriggers();
    this.draw();
  }

  /** The trigger filter's options from the active file (kept when still there). */
  fillTriggers() {
    const current = this.triggerSelect.value;
    const ids = this.triggers().map((t) => t.id);
    this.triggerSelect.replaceChildren(h('option', { value: '' }, 'Any trigger'), ...ids.map((id) => h('option', { value: id }, id)));
    this.triggerSelect.value = ids.includes(current) ? current : '';
  }

  /** The view is shown: start reading (unless paused). */
  show() {
    this.visible = true;
    this.fillTriggers();
    this.schedule(0);
  }

  /** The view is hidden: stop reading. */
  hide() {
    this.visible = false;
    clearTimeout(this.timer);
  }

  togglePause() {
    this.paused = !this.paused;
    this.pauseButton.textContent = this.paused ? 'Resume' : 'Pause';
    if (this.paused) clearTimeout(this.timer);
    else this.schedule(0);
    this.drawState();
  }

  clear() {
    this.rows = [];
    this.expanded.clear();
    this.draw();
  }

  schedule(ms) {
    clearTimeout(this.timer);
    if (this.visible && !this.paused) this.timer = setTimeout(() => this.poll(), ms);
  }

  /** Each partition's current end, the first time: the debugger shows what comes next. */
  async start() {
    const n = await this.api.partitions();
    const offsets = new Map();
    await Promise.all(
      [...Array(n).keys()].flatMap((p) =>
        STREAMS.map(async (stream) => {
          offsets.set(`${p}:${stream}`, (await this.api.read(p, stream, 'latest', 0)).end);
        }),
      ),
    );
    this.offsets = offsets;
    this.since = Date.now();
  }

  async poll() {
    try {
      if (!this.offsets) await this.start();
      const batch = [];
      await Promise.all(
        [...this.offsets.entries()].map(async ([key, from]) => {
          const [p, stream] = key.split(':');
          let r;
          try {
            r = await this.api.read(p, stream, from, READ_LIMIT);
          } catch (e) {
            // Retention took the offset: go on from the newest record.
            if (e.code !== 'offset_out_of_range') throw e;
            this.offsets.set(key, (await this.api.read(p, stream, 'latest', 0)).end);
            return;
          }
          this.offsets.set(key, r.next_offset);
          for (const rec of r.records) batch.push({ stream, rec, key: `${stream}:${p}:${rec.offset}` });
        }),
      );
      this.error = '';
      if (batch.length) this.take(batch);
    } catch (e) {
      this.error = e.message;
    }
    this.drawState();
    this.schedule(POLL_MS);
  }

  take(batch) {
    // Within one poll, newest first by the record's time (partitions interleave).
    batch.sort((a, b) => b.rec.time - a.rec.time || b.rec.offset - a.rec.offset);
    for (const b of batch) {
      this.seen[b.stream] += 1;
      if (b.stream === 'events') {
        const name = eventName(b.rec);
        if (!this.names.has(name) && this.names.size < 500) {
          this.names.add(name);
          this.eventList.append(h('option', { value: name }));
        }
      }
    }
    this.rows = batch.concat(this.rows);
    if (this.rows.length > MAX_ROWS) {
      for (const r of this.rows.splice(MAX_ROWS)) this.expanded.delete(r.key);
    }
    this.draw();
  }

  drawState() {
    this.state.textContent = this.paused ? 'Paused' : this.error ? 'Not reading' : 'Live';
    this.state.className = `live-state ${this.paused ? 'paused' : this.error ? 'err' : 'live'}`;
    this.banner.replaceChildren(...(this.error ? [h('div', { class: 'banner err', role: 'alert' }, `${this.error} Retrying every second.`)] : []));
    const n = this.offsets ? this.offsets.size / STREAMS.length : null;
    this.facts.textContent = n === null ? 'Connecting…' : `${n} partition${n === 1 ? '' : 's'} since ${whenExact(this.since)} · ${num(this.seen.events)} events and ${num(this.seen.firings)} firing-stream records seen · ${num(this.rows.length)} kept (at most ${num(MAX_ROWS)})`;
  }

  matches(row) {
    const visitor = this.visitorInput.value.trim();
    const event = this.eventInput.value.trim();
    const trigger = this.triggerSelect.value;
    if (visitor && !row.rec.visitor?.includes(visitor)) return false;
    if (row.stream === 'events') return event ? eventName(row.rec) === event : !trigger;
    return trigger ? row.rec.trigger === trigger : !event;
  }

  draw() {
    const shown = [];
    for (const r of this.rows) {
      if (shown.length >= MAX_SHOWN) break;
      if (this.matches(r)) shown.push(r);
    }
    const trs = [];
    for (const r of shown) {
      trs.push(this.row(r));
      if (this.expanded.has(r.key)) trs.push(h('tr', { class: 'json' }, h('td', { colspan: 5 }, h('pre', {}, JSON.stringify(r.rec, null, 2)))));
    }
    if (!trs.length) {
      const waiting = this.rows.length ? 'No record matches the filters.' : this.paused ? 'Paused.' : 'Waiting for new events and firings…';
      trs.push(h('tr', { class: 'placeholder' }, h('td', { colspan: 5, class: 'muted' }, waiting)));
    }
    this.body.replaceChildren(...trs);
    this.drawState();
  }

  row(r) {
    const [kind, label] = kindOf(r.stream, r.rec);
    const rec = r.rec;
    let detail;
    if (r.stream === 'events') {
      const props = JSON.stringify(rec.properties ?? {});
      detail = [h('strong', {}, eventName(rec)), ' ', h('span', { class: 'mono dim' }, props.length > 90 ? `${props.slice(0, 89)}…` : props)];
    } else if (rec.type === 'conversion') {
      detail = [h('span', { class: 'mono' }, rec.trigger), h('span', { class: 'dim' }, ` · firing ${rec.firing_id} converted`)];
    } else {
      detail = [h('span', { class: 'mono' }, rec.trigger), h('span', { class: 'dim' }, ` · ${rec.action?.type ?? ''} ${JSON.stringify(rec.action?.payload ?? {})}`)];
    }
    const open = this.expanded.has(r.key);
    const toggle = () => {
      if (open) this.expanded.delete(r.key);
      else this.expanded.add(r.key);
      this.draw();
    };
    return h(
      'tr',
      { class: `rec ${kind}${open ? ' open' : ''}`, dataset: { kind, key: r.key }, onclick: toggle, title: open ? 'Hide the JSON' : 'Show the JSON' },
      h('td', { class: 'time' }, whenExact(rec.time)),
      h('td', {}, h('span', { class: `kind ${kind}` }, label)),
      h('td', {}, h('button', { type: 'button', class: 'link visitor-link mono', title: `${rec.visitor}: why did a trigger fire or not?`, onclick: (e) => (e.stopPropagation(), this.onExplain(rec.visitor, rec.trigger ?? this.triggerSelect.value)) }, shortId(rec.visitor ?? ''))),
      h('td', { class: 'detail' }, detail),
      h('td', { class: 'dim' }, String(rec.partition ?? r.key.split(':')[1])),
    );
  }
}
