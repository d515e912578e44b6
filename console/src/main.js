// The trigger console: sign in, edit the trigger file with the engine's
// errors and the log's warnings marked as you type, backtest, push, compare
// and revert versions; see each trigger's outcomes over time and watch the
// streams live, with explain for any visitor; edit the tracking plan the
// same way and see its violations and the quarantine (Data quality). Plain
// modules around CodeMirror 6; the trigger file's validation is
// broker-core's own, compiled to wasm (./validator.js), the plan's is the
// relay's.
import { Api, savedToken, saveToken, forgetToken } from './api.js';
import { loadValidator, validate, lint } from './validator.js';
import { Workspace } from './workspace.js';
import { BacktestPanel, shortId } from './backtest.js';
import { OutcomesPanel } from './outcomes.js';
import { QualityPanel } from './quality.js';
import { DebuggerPanel } from './debugger.js';
import { renderExplain } from './explain.js';
import { h, $, num, toast, whenExact } from './dom.js';

const EMPTY_FILE = '{\n  "version": 1,\n  "triggers": []\n}\n';
/**
 * How long typing must pause before the plan goes to the relay's validate
 * route: each call also reads the log's catalog on every partition (the
 * newest 100,000 events each; about 180 ms with 107,280 events on 4
 * partitions in local workerd), so it waits longer than the wasm's 250 ms.
 */
const PLAN_CHECK_DELAY_MS = 600;
const EMPTY_PLAN = '{\n  "version": 1,\n  "on_unplanned": "allow",\n  "on_violation": "flag",\n  "events": {}\n}\n';

const app = {
  api: null,
  role: null,
  catalog: null,
  catalogText: '',
  catalogNote: '',
  /** The trigger file's Workspace (the plan's is `quality.plan`). */
  triggers: null,
  backtest: null,
  view: 'workspace',
  outcomes: null,
  debugger: null,
  quality: null,
};

const VIEWS = ['workspace', 'outcomes-view', 'debugger-view', 'quality-view'];

/** The active file's triggers (for the Outcomes and debugger views), [] when none or unreadable. */
function fileTriggers() {
  try {
    const t = JSON.parse(app.triggers?.activeText ?? 'null')?.triggers;
    return Array.isArray(t) ? t.filter((x) => typeof x?.id === 'string') : [];
  } catch {
    return [];
  }
}

const canEdit = () => app.role !== null && app.role !== 'viewer';

function showSignIn(message = '') {
  for (const v of VIEWS) $(v).hidden = true;
  $('views').hidden = true;
  app.debugger?.hide();
  $('who').hidden = true;
  $('signin').hidden = false;
  $('signin-error').textContent = message;
  $('token').focus();
}

async function onSignIn(e) {
  e.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  $('signin-button').disabled = true;
  $('signin-error').textContent = '';
  try {
    await enter(token);
    saveToken(token);
    $('token').value = '';
  } catch (err) {
    $('signin-error').textContent = err.code === 'unauthorized' ? 'The relay did not accept this token. Check it and try again.' : err.message;
  } finally {
    $('signin-button').disabled = false;
  }
}

function signOut() {
  if (canEdit() && isEdited() && !confirm('Sign out and lose your edits (not pushed)?')) return;
  forgetToken();
  app.role = null; // no second question from beforeunload
  // A fresh page: nothing of the signed-in session stays in memory.
  location.reload();
}

/** Checks the token, then loads the validator, the active file and the catalog. */
async function enter(token) {
  const api = new Api(token);
  const { role } = await api.whoami();
  app.api = api;
  app.role = role;
  const [file] = await Promise.all([api.activeFile(), loadValidator()]);

  $('role').textContent = role;
  $('role').className = `badge ${role}`;
  $('who').hidden = false;
  $('signin').hidden = true;
  $('views').hidden = false;

  setupRole();
  app.triggers.load(file);
  showView(app.view);
  loadCatalog();
}

/** Shows one of the views; the debugger reads the streams only while shown. */
function showView(name) {
  app.view = name;
  for (const v of VIEWS) $(v).hidden = v !== name;
  for (const b of document.querySelectorAll('#views button')) {
    if (b.dataset.view === name) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
  }
  if (name === 'outcomes-view') app.outcomes.load();
  if (name === 'debugger-view') app.debugger.show();
  else app.debugger?.hide();
  if (name === 'quality-view') app.quality.show();
}

/** The explain dialog for `visitor`, on `trigger` (or the first trigger of the file). */
async function showExplain(visitor, trigger) {
  const ids = fileTriggers().map((t) => t.id);
  const select = $('explain-trigger');
  select.replaceChildren(...ids.map((id) => h('option', { value: id }, id)));
  select.value = ids.includes(trigger) ? trigger : (ids[0] ?? '');
  $('explain-visitor').textContent = `Visitor ${visitor}`;
  select.onchange = () => loadExplain(visitor, select.value);
  if (!$('explain-dialog').open) $('explain-dialog').showModal();
  await loadExplain(visitor, select.value);
}

async function loadExplain(visitor, trigger) {
  const body = $('explain-body');
  if (!trigger) return body.replaceChildren(h('p', { class: 'muted' }, 'The active file has no trigger to explain.'));
  body.replaceChildren(h('p', { class: 'muted' }, 'Replaying this visitor’s events…'));
  try {
    const trace = await app.api.explain(visitor, trigger);
    // A newer choice may have been made while this one loaded.
    if ($('explain-trigger').value === trigger) body.replaceChildren(...renderExplain(trace));
  } catch (e) {
    body.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
  }
}

async function loadCatalog() {
  try {
    const { text, value } = await app.api.catalog();
    app.catalog = value;
    app.catalogText = text;
    const scope = value.complete ? '' : ' (a partial scan)';
    app.catalogNote = value.events.length
      ? `Names and paths are checked against ${num(value.scanned)} events the log holds${scope}: ${num(value.events.length)} event names.`
      : 'The log holds no events yet, so event names and property paths cannot be checked against it.';
  } catch (e) {
    app.catalog = null;
    app.catalogText = '';
    app.catalogNote = `Warnings from the log are unavailable: ${e.message}`;
  }
  app.triggers.editor.relint();
}

/** The wasm validator's errors, then (for a valid file) the lint's warnings. */
function checkTriggers(text) {
  const r = validate(text);
  let warnings = [];
  if (r.ok) {
    try {
      warnings = lint(text, app.catalogText);
    } catch (e) {
      app.catalogNote = `The catalog could not be used: ${e.message}`;
      warnings = lint(text, '');
    }
  }
  return { ok: r.ok, errors: r.errors, warnings, summary: r.summary?.text };
}

/** The relay's verdict on a plan: its summary and warnings, or every mistake with its path. */
async function checkPlan(text) {
  try {
    const r = await app.api.validate('plan', text);
    return { ok: true, errors: [], warnings: r.warnings, summary: r.summary };
  } catch (e) {
    const errors = e.code === 'invalid_plan' ? e.body.errors : [{ path: '$', message: `Not checked: ${e.message}`, kind: 'unchecked' }];
    return { ok: false, errors, warnings: [] };
  }
}

/** True when the trigger file or the plan holds changes not pushed. */
const isEdited = () => !!(app.triggers?.isEdited() || app.quality?.plan.isEdited());

async function runBacktest() {
  app.triggers.selectTab('backtest');
  $('backtest').disabled = true;
  try {
    await app.backtest.run(app.api, app.triggers.editor.text(), $('since').value);
  } catch (e) {
    toast(e.message, { error: true });
  } finally {
    app.triggers.updateFileState();
  }
}

async function showVisitor(id) {
  const dialog = $('visitor-dialog');
  $('visitor-title').textContent = `Visitor ${shortId(id)}`;
  $('visitor-title').title = id;
  const body = $('visitor-body');
  body.replaceChildren(h('p', { class: 'muted' }, 'Loading events…'));
  dialog.showModal();
  try {
    const { records } = await app.api.visitorEvents(id);
    const rows = records.map((r) =>
      h('tr', {}, h('td', {}, whenExact(r.time)), h('td', {}, r.kind === 'track' ? r.name : `$${r.kind}${r.name ? ` ${r.name}` : ''}`), h('td', { class: 'props' }, JSON.stringify(r.properties ?? {}))),
    );
    body.replaceChildren(
      h('p', { class: 'muted' }, `${num(records.length)} event${records.length === 1 ? '' : 's'} in the retained log (at most 200 shown).`),
      h('table', { class: 'events' }, h('thead', {}, h('tr', {}, h('th', {}, 'Time'), h('th', {}, 'Event'), h('th', {}, 'Properties'))), h('tbody', {}, rows)),
    );
  } catch (e) {
    body.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
  }
}

function setupRole() {
  app.backtest ??= new BacktestPanel($('tab-backtest'), { onVisitor: showVisitor });
  app.triggers = new Workspace({
    doc: 'triggers',
    prefix: '',
    api: app.api,
    canEdit,
    check: checkTriggers,
    words: { noun: 'file', empty: EMPTY_FILE, checkedBy: 'the engine', readOnly: 'validate and backtest' },
    getCatalog: () => app.catalog,
    note: () => app.catalogNote,
    onEdit: (text) => app.backtest.fileChanged(text),
    onState: () => {
      const valid = app.triggers?.valid;
      $('backtest').disabled = !valid || app.backtest.running;
      $('backtest').title = valid ? 'What this file would have done over the retained log' : 'Fix the errors first';
    },
  });
  app.outcomes = new OutcomesPanel($('outcomes-view'), { api: app.api, triggers: fileTriggers });
  app.debugger?.hide();
  app.debugger = new DebuggerPanel($('debugger-view'), { api: app.api, triggers: fileTriggers, onExplain: showExplain });
  app.quality = new QualityPanel({
    api: app.api,
    canEdit,
    plan: new Workspace({
      doc: 'plan',
      prefix: 'plan-',
      api: app.api,
      canEdit,
      check: checkPlan,
      words: { noun: 'plan', empty: EMPTY_PLAN, checkedBy: 'the relay', readOnly: 'validate' },
      delay: PLAN_CHECK_DELAY_MS,
    }),
  });
}

function boot() {
  // Fetch and compile the wasm while the token is checked.
  loadValidator().catch(() => {});
  $('signin-form').addEventListener('submit', onSignIn);
  $('signout').onclick = signOut;
  $('visitor-close').onclick = () => $('visitor-dialog').close();
  $('explain-close').onclick = () => $('explain-dialog').close();
  for (const b of document.querySelectorAll('#views button')) b.onclick = () => showView(b.dataset.view);
  $('backtest').onclick = runBacktest;
  // Edits live only in this tab until pushed: ask before they are lost.
  addEventListener('beforeunload', (e) => {
    if (canEdit() && isEdited()) e.preventDefault();
  });
  const token = savedToken();
  if (!token) return showSignIn();
  enter(token).catch((e) => {
    if (e.code === 'unauthorized') forgetToken();
    showSignIn(e.message);
  });
}

boot();
