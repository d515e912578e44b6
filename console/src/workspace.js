// One versioned document's workspace, the trigger file's (Editor view) or
// the tracking plan's (Data quality view): the editor with its mistakes
// marked, the file's state, the Problems and Versions tabs, Push. The
// relay's routes are the same for both documents (`/v1/admin/triggers/...`,
// `/v1/admin/plan/...`); what differs is given: how a text is checked (the
// wasm validator for triggers, the relay's validate route for a plan), the
// element ids' prefix, the words.
import { createEditor } from './editor.js';
import { VersionsPanel, setupPush } from './versions.js';
import { h, $, toast } from './dom.js';

let validatedOnce = false;

export class Workspace {
  /**
   * `check(text)` (may be async) -> `{ok, errors: [{path, message, kind}],
   * warnings: [{path, message}], summary}`; `words`: {noun, empty,
   * checkedBy, readOnly}; `note()`: a line under the problems; `onEdit(text)`
   * and `onState()` for what the caller adds (the Backtest tab); `delay`:
   * how long typing must pause before a check (editor.js).
   */
  constructor({ doc, prefix, api, canEdit, check, words, delay, getCatalog = () => null, note = () => '', onEdit = () => {}, onState = () => {} }) {
    Object.assign(this, { doc, prefix, api, canEdit, checkText: check, words, delay, getCatalog, note, onEdit, onState });
    this.activeText = null;
    this.activeVersion = null;
    this.editor = null;
    this.valid = false;
    this.problems = [];
    this.root = this.$('workspace');
    this.versions = new VersionsPanel(this.$('tab-versions'), {
      api,
      doc,
      prefix,
      canEdit: canEdit(),
      onOpen: (n, text) => {
        if (this.isEdited() && !confirm(`Replace your edits (not pushed) with version ${n}?`)) return;
        this.editor.load(text);
        toast(n === this.activeVersion ? `Version ${n} (active) loaded.` : `Version ${n} loaded into the editor. Push it, or Revert from the list, to make it active.`);
      },
      onChanged: (answer) => this.afterActivation(answer),
    });
    this.openPush = setupPush({
      api,
      doc,
      getText: () => this.editor.text(),
      canEdit,
      onPushed: (answer) => this.afterActivation(answer),
      onInvalid: () => this.editor.relint(),
    });
    this.$('push').onclick = () => this.openPush();
    this.$('versions-button').onclick = () => this.selectTab('versions');
    for (const b of this.root.querySelectorAll('.tabs button')) b.onclick = () => this.selectTab(b.dataset.tab);
  }

  $(id) {
    return $(this.prefix + id);
  }

  /** Shows `file` ({text, version} or null: none yet) in the editor. */
  load(file) {
    this.activeText = file?.text ?? null;
    this.activeVersion = file?.version ?? null;
    const doc = this.activeText ?? this.words.empty;
    if (this.editor) this.editor.load(doc);
    else {
      this.editor = createEditor({
        parent: this.$('editor'),
        doc,
        readOnly: !this.canEdit(),
        check: (text) => this.check(text),
        onProblems: (p) => this.renderProblems(p),
        onChange: (text) => {
          this.updateFileState();
          this.onEdit(text);
        },
        getCatalog: this.getCatalog,
        delay: this.delay,
      });
    }
    this.updateFileState();
  }

  async check(text) {
    const r = await this.checkText(text);
    this.valid = r.ok;
    this.$('summary').textContent = r.ok ? (r.summary ?? '') : '';
    this.updateFileState();
    return r;
  }

  /** True when the editor holds changes that are not the active file. */
  isEdited() {
    return !!this.editor && this.editor.text() !== (this.activeText ?? this.words.empty);
  }

  updateFileState() {
    if (!this.editor) return;
    const pill = this.$('file-state');
    const edited = this.isEdited();
    const { noun } = this.words;
    let text = `Version ${this.activeVersion} · active`;
    if (!this.valid) text = 'Has errors';
    else if (this.activeVersion === null) text = this.activeText === null ? `No active ${noun} yet` : 'Active';
    else if (edited) text = `Edited · based on version ${this.activeVersion}`;
    pill.textContent = text;
    pill.className = !this.valid ? 'pill invalid' : edited ? 'pill edited' : 'pill';
    const push = this.$('push');
    push.disabled = !this.canEdit() || !this.valid || !edited;
    push.title = !this.canEdit() ? 'Viewers cannot push' : !this.valid ? 'Fix the errors first' : !edited ? 'No changes to push' : `Push this ${noun} as a new version`;
    this.onState();
  }

  renderProblems(problems) {
    // User Timing for tests/console/figures.mjs: the file shown and checked.
    if (!validatedOnce) {
      validatedOnce = true;
      performance.mark('console:validated');
    }
    this.problems = problems;
    const errors = problems.filter((p) => p.severity === 'error').length;
    const warnings = problems.length - errors;
    const count = this.$('problem-count');
    count.textContent = problems.length ? String(problems.length) : '';
    count.className = errors ? 'count has-errors' : 'count';

    const parts = [];
    if (errors) parts.push(h('span', { class: 'e' }, `${errors} error${errors === 1 ? '' : 's'}`));
    if (warnings) parts.push(h('span', { class: 'w' }, `${warnings} warning${warnings === 1 ? '' : 's'}`));
    if (!problems.length) parts.push(h('span', { class: 'ok' }, 'Valid'));
    parts.push(h('span', {}, errors ? `The relay would refuse this ${this.words.noun}.` : `Checked by ${this.words.checkedBy} as you type.`));
    if (!this.canEdit()) parts.push(h('span', {}, `Read only: your role can ${this.words.readOnly}.`));
    this.$('statusbar').replaceChildren(...parts);

    const sorted = [...problems].sort((a, b) => a.from - b.from || (a.severity === 'error' ? -1 : 1));
    const items = sorted.map((p) =>
      h(
        'li',
        { class: `problem is-${p.severity}`, dataset: { line: p.line, path: p.path }, onclick: () => this.editor.reveal(p.from, p.to), title: 'Show in the editor' },
        h('span', { class: 'icon', 'aria-label': p.severity }),
        h('span', { class: 'where' }, `Line ${p.line} · ${p.path}`),
        h('span', { class: 'msg' }, p.message),
      ),
    );
    const tab = this.$('tab-problems');
    tab.replaceChildren(items.length ? h('ul', { class: 'problems' }, items) : h('div', { class: 'all-good' }, '✓ No errors or warnings.'));
    const note = this.note();
    if (note) tab.append(h('p', { class: 'note' }, note));
  }

  selectTab(name) {
    for (const b of this.root.querySelectorAll('.tabs button')) {
      b.setAttribute('aria-selected', String(b.dataset.tab === name));
      this.$(`tab-${b.dataset.tab}`).hidden = b.dataset.tab !== name;
    }
    // The list is fetched afresh each time: another editor may have pushed.
    if (name === 'versions') this.versions.load();
  }

  /** After a push or a revert: the relay's active file is what the editor compares with. */
  async afterActivation(answer) {
    const file = await this.api.activeFile(this.doc);
    this.activeText = file?.text ?? null;
    this.activeVersion = file?.version ?? answer.version;
    if (this.activeText !== null && this.activeText !== this.editor.text()) this.editor.load(this.activeText);
    this.updateFileState();
    if (this.versions.data) await this.versions.load();
  }
}
