// The explain trace (GET /v1/admin/explain) in words: the verdict first,
// then event by event which of the trigger's steps the event matched, each
// condition with the value the event had, how far the count or sequence
// got, and what the trigger did. The trace's shape is in docs/triggers.md
// ("Counters and explain"); the relay's engine is the only judge, this only
// reads.
import { h, num, whenExact } from './dom.js';

const OUTCOME = {
  fired: ['ok', 'Fired'],
  held_out: ['held', 'Held out'],
  suppressed: ['warn', 'Suppressed'],
  cancelled: ['warn', 'Cancelled'],
  converted: ['ok', 'Converted'],
  'no qualification': ['plain', 'Matched, not yet qualified'],
  'conditions not met': ['plain', 'Conditions not met'],
};

const show = (v) => (v === undefined || v === null ? 'missing' : JSON.stringify(v));
const sentence = (s) => (s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : '');

/** One result of an event (or of the end of the replay) in words. */
function result(r) {
  switch (r.what) {
    case 'fired':
      return `Fired: delivered (firing ${r.firing_id})`;
    case 'held_out':
      return `Fired for the holdout: recorded, not shown (firing ${r.firing_id})`;
    case 'suppressed':
      return `Qualified but suppressed: ${r.reason.replace(/_/g, ' ')}`;
    case 'cancelled':
      return 'Cancelled by the "unless" step';
    case 'converted':
      return `Converted firing ${r.record?.firing_id ?? ''}${r.record?.held_out ? ' (held out)' : ''}`;
    default:
      return r.what;
  }
}

/** The stored progress after an event, as short phrases. */
function progress(p = {}) {
  const out = [];
  if (p.count) out.push(`count ${num(p.count.matches)} of ${num(p.count.at_least)} in the window`);
  if (p.sequence) out.push(`sequence ${num(p.sequence.steps_done)} of ${num(p.sequence.steps)} steps`);
  if (p.pending?.length) out.push(`due to fire at ${p.pending.map(whenExact).join(', ')} unless cancelled`);
  if (p.cooldown_until) out.push(`cooling down until ${whenExact(p.cooldown_until)}`);
  if (p.fired) out.push(`fired ${num(p.fired.count)} of at most ${num(p.fired.max_per_user)}`);
  return out;
}

function step(s) {
  const conds = (s.conditions ?? []).map((c) => {
    const subject = c.context !== undefined ? `context ${c.context}` : `${c.prop}`;
    return h('li', { class: c.held ? 'held' : 'failed' }, h('span', { class: 'mark' }, c.held ? '✓' : '✗'), h('code', {}, `${subject} ${c.op} ${show(c.value)}`), h('span', { class: 'dim' }, ` · the event had ${show(c.actual)}`));
  });
  return h(
    'div',
    { class: `step ${s.matched ? 'matched' : 'unmatched'}` },
    h('span', { class: 'step-name' }, `${s.matched ? '✓' : '✗'} ${s.step.replace(/^sequence\[(\d+)\]$/, (_, i) => `sequence step ${+i + 1}`)}`),
    conds.length ? h('ul', { class: 'conds' }, conds) : h('span', { class: 'dim' }, ' no conditions'),
  );
}

/** The trace as elements. */
export function renderExplain(t) {
  const s = t.summary ?? {};
  const facts = [
    `${num(t.events?.length ?? 0)} event${t.events?.length === 1 ? '' : 's'} named by the trigger`,
    `${num(t.other_events ?? 0)} other${t.other_events === 1 ? '' : 's'} not named`,
    `fired ${num(s.fired ?? 0)}`,
    `held out ${num(s.held_out ?? 0)}`,
    `conversions ${num(s.conversions ?? 0)}`,
  ];
  const notes = [];
  if (t.enabled === false) notes.push(h('div', { class: 'banner warn' }, 'This trigger is disabled in the active file.'));
  if (t.held_out) notes.push(h('div', { class: 'banner stale' }, 'This visitor is in the trigger’s holdout: its firings are recorded for the control group and never shown.'));
  if (t.truncated) notes.push(h('div', { class: 'banner warn' }, 'The partition holds more events than explain reads: the oldest were left out, so state from them is not seen.'));
  const items = (t.events ?? []).map((e) => {
    const [cls, label] = OUTCOME[e.outcome] ?? ['plain', String(e.outcome)];
    const prog = progress(e.progress);
    return h(
      'li',
      { class: `trace-event is-${cls}`, dataset: { outcome: e.outcome } },
      h('div', { class: 'trace-head' }, h('span', { class: 'time' }, whenExact(e.time)), h('strong', {}, e.event), h('span', { class: `outcome ${cls}` }, label)),
      (e.steps ?? []).map(step),
      prog.length ? h('div', { class: 'progress-line dim' }, `After it: ${prog.join(' · ')}`) : null,
      (e.results ?? []).map((r) => h('div', { class: 'result' }, result(r))),
    );
  });
  const end = t.at_end ?? {};
  const endBits = [...(end.results ?? []).map(result), ...progress(end.progress)];
  return [
    h('p', { class: 'trace-verdict', id: 'explain-verdict' }, sentence(t.verdict)),
    h('p', { class: 'muted' }, facts.join(' · ') + (s.suppressed && Object.keys(s.suppressed).length ? ` · suppressed ${Object.entries(s.suppressed).map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`).join(', ')}` : '')),
    ...notes,
    items.length ? h('ol', { class: 'trace' }, items) : h('p', { class: 'muted empty' }, 'None of this visitor’s retained events is named by the trigger’s steps.'),
    endBits.length ? h('p', { class: 'dim at-end' }, `At ${whenExact(end.now)}: ${endBits.join(' · ')}`) : null,
  ].filter(Boolean);
}
