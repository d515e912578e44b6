// The trigger console: sign in, edit the trigger file with the engine's
// errors and the log's warnings marked as you type, backtest, push, compare
// and revert versions; see each trigger's outcomes over time and watch the
// streams live, with explain for any visitor. Plain modules around
// CodeMirror 6; validation is broker-core's own, compiled to wasm
// (./validator.js).
import { Api, savedToken, saveToken, forgetToken } from './api.js';
import { loadValidator, validate, lint } from './validator.js';
import { createEditor } from './editor.js';
import { BacktestPanel, shortId } from './backtest.js';
import { VersionsPanel, setupPush } from './versions.js';
import { OutcomesPanel } from './outcomes.js';
import { DebuggerPanel } from './debugger.js';
import { renderExplain } from './explain.js';
import { h, $, num, toast, whenExact } from './dom.js';

const EMPTY_FILE = '{\n  "version": 1,\n  "triggers": []\n}\n';

const app = {
  api: null,
  role: null,
  catalog: null,
  catalogText: '',
  catalogNote: '',
  activeText: null,
  activeVersion: null,
  editor: null,
  valid: false,
  problems: [],
  problemsShown: false,
  backtest: null,
  versions: null,
  openPush: null,
  view: 'workspace',
  outcomes: null,
  debugger: null,
};

const VIEWS = ['workspace', 'outcomes-view', 'debugger-view'];

/** The active file's triggers (for the Outcomes and debugger views), [] when none or unreadable. */
function fileTriggers() {
  try {
    const t = JSON.parse(app.activeText ?? 'null')?.triggers;
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
  app.activeText = file?.text ?? null;
  app.activeVersion = file?.version ?? null;

  $('role').textContent = role;
  $('role').className = `badge ${role}`;
  $('who').hidden = false;
  $('signin').hidden = true;
  $('views').hidden = false;

  const doc = app.activeText ?? EMPTY_FILE;
  if (app.editor) app.editor.load(doc);
  else {
    app.editor = createEditor({
      parent: $('editor'),
      doc,
      readOnly: !canEdit(),
      check,
      onProblems: renderProblems,
      onChange: onEdit,
      getCatalog: () => app.catalog,
    });
  }
  app.editor.setReadOnly(!canEdit());
  setupRole();
  showView(app.view);
  updateFileState();
  loadCatalog();
}

/** Shows one of the three views; the debugger reads the streams only while shown. */
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
  app.editor.relint();
}

/** The wasm validator's errors, then (for a valid file) the lint's warnings. */
function check(text) {
  const r = validate(text);
  app.valid = r.ok;
  $('summary').textContent = r.ok && r.summary ? r.summary.text : '';
  let warnings = [];
  if (r.ok) {
    try {
      warnings = lint(text, app.catalogText);
    } catch (e) {
      app.catalogNote = `The catalog could not be used: ${e.message}`;
      warnings = lint(text, '');
    }
  }
  updateFileState();
  return { errors: r.errors, warnings };
}

function onEdit(text) {
  updateFileState();
  app.backtest?.fileChanged(text);
}

/** True when the editor holds changes that are not the active file. */
function isEdited() {
  return !!app.editor && app.editor.text() !== (app.activeText ?? EMPTY_FILE);
}

function updateFileState() {
  if (!app.editor) return;
  const pill = $('file-state');
  const edited = isEdited();
  if (!app.valid) {
    pill.textContent = 'Has errors';
    pill.className = 'pill invalid';
  } else if (app.activeVersion === null) {
    pill.textContent = app.activeText === null ? 'No active file yet' : 'Active';
    pill.className = edited ? 'pill edited' : 'pill';
  } else if (edited) {
    pill.textContent = `Edited · based on version ${app.activeVersion}`;
    pill.className = 'pill edited';
  } else {
    pill.textContent = `Version ${app.activeVersion} · active`;
    pill.className = 'pill';
  }
  const push = $('push');
  push.disabled = !canEdit() || !app.valid || !edited;
  push.title = !canEdit() ? 'Viewers cannot push' : !app.valid ? 'Fix the errors first' : !edited ? 'No changes to push' : 'Push this file as a new version';
  $('backtest').disabled = !app.valid || !!app.backtest?.running;
  $('backtest').title = app.valid ? 'What this file would have done over the retained log' : 'Fix the errors first';
}

function renderProblems(problems) {
  // User Timing for tests/console/figures.mjs: the file shown and checked.
  if (!app.problemsShown) {
    app.problemsShown = true;
    performance.mark('console:validated');
  }
  app.problems = problems;
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.length - errors;
  const count = $('problem-count');
  count.textContent = problems.length ? String(problems.length) : '';
  count.className = errors ? 'count has-errors' : 'count';

  const bar = $('statusbar');
  const parts = [];
  if (errors) parts.push(h('span', { class: 'e' }, `${errors} error${errors === 1 ? '' : 's'}`));
  if (warnings) parts.push(h('span', { class: 'w' }, `${warnings} warning${warnings === 1 ? '' : 's'}`));
  if (!problems.length) parts.push(h('span', { class: 'ok' }, 'Valid'));
  parts.push(h('span', {}, errors ? 'The relay would refuse this file.' : 'Checked by the engine as you type.'));
  if (!canEdit()) parts.push(h('span', {}, 'Read only: your role can validate and backtest.'));
  bar.replaceChildren(...parts);

  const tab = $('tab-problems');
  const sorted = [...problems].sort((a, b) => a.from - b.from || (a.severity === 'error' ? -1 : 1));
  const items = sorted.map((p) =>
    h(
      'li',
      { class: `problem is-${p.severity}`, dataset: { line: p.line, path: p.path }, onclick: () => app.editor.reveal(p.from, p.to), title: 'Show in the editor' },
      h('span', { class: 'icon', 'aria-label': p.severity }),
      h('span', { class: 'where' }, `Line ${p.line} · ${p.path}`),
      h('span', { class: 'msg' }, p.message),
    ),
  );
  tab.replaceChildren(items.length ? h('ul', { class: 'problems' }, items) : h('div', { class: 'all-good' }, '✓ No errors or warnings.'));
  if (app.catalogNote) tab.append(h('p', { class: 'note' }, app.catalogNote));
}

function selectTab(name) {
  for (const b of document.querySelectorAll('.tabs button')) b.setAttribute('aria-selected', String(b.dataset.tab === name));
  for (const t of ['problems', 'backtest', 'versions']) $(`tab-${t}`).hidden = t !== name;
  // The list is fetched afresh each time: another editor may have pushed.
  if (name === 'versions') app.versions.load();
}

async function runBacktest() {
  selectTab('backtest');
  $('backtest').disabled = true;
  try {
    await app.backtest.run(app.api, app.editor.text(), $('since').value);
  } catch (e) {
    toast(e.message, { error: true });
  } finally {
    updateFileState();
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

/** After a push or a revert: the relay's active file is what the editor should compare with. */
async function afterActivation(answer) {
  const file = await app.api.activeFile();
  app.activeText = file?.text ?? null;
  app.activeVersion = file?.version ?? answer.version;
  if (app.activeText !== null && app.activeText !== app.editor.text()) app.editor.load(app.activeText);
  updateFileState();
  if (app.versions.data) await app.versions.load();
}

function setupRole() {
  const edit = canEdit();
  app.backtest ??= new BacktestPanel($('tab-backtest'), { onVisitor: showVisitor });
  app.versions = new VersionsPanel($('tab-versions'), {
    api: app.api,
    canEdit: edit,
    onOpen: (n, text) => {
      if (isEdited() && !confirm(`Replace your edits (not pushed) with version ${n}?`)) return;
      app.editor.load(text);
      toast(n === app.activeVersion ? `Version ${n} (active) loaded.` : `Version ${n} loaded into the editor. Push it, or Revert from the list, to make it active.`);
    },
    onChanged: afterActivation,
  });
  app.outcomes = new OutcomesPanel($('outcomes-view'), { api: app.api, triggers: fileTriggers });
  app.debugger?.hide();
  app.debugger = new DebuggerPanel($('debugger-view'), { api: app.api, triggers: fileTriggers, onExplain: showExplain });
  app.openPush = setupPush({
    api: app.api,
    getText: () => app.editor.text(),
    canEdit,
    onPushed: afterActivation,
    onInvalid: () => app.editor.relint(),
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
  $('push').onclick = () => app.openPush();
  $('versions-button').onclick = () => selectTab('versions');
  for (const b of document.querySelectorAll('.tabs button')) b.onclick = () => selectTab(b.dataset.tab);
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
