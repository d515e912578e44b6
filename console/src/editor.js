// The JSON editor: CodeMirror 6 with the engine's errors and the log's
// warnings marked inline (computed by the wasm validator, debounced), and
// completion of event names and property paths the log has seen.
import { EditorState, Compartment, StateEffect, RangeSetBuilder } from '@codemirror/state';
import { EditorView, Decoration, ViewPlugin, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from '@codemirror/view';
import {
  standardKeymap, history, historyKeymap, indentWithTab, moveLineUp, moveLineDown, copyLineUp, copyLineDown, simplifySelection,
  insertBlankLine, selectLine, selectParentSyntax, indentLess, indentMore, deleteLine, cursorMatchingBracket, toggleTabFocusMode,
} from '@codemirror/commands';
import { json } from '@codemirror/lang-json';
import { syntaxHighlighting, HighlightStyle, bracketMatching, indentOnInput, syntaxTree } from '@codemirror/language';
import { linter, lintGutter, forceLinting } from '@codemirror/lint';
import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { tags } from '@lezer/highlight';
import { locate, locateSyntaxError } from './jsonpath.js';

/** How long typing must pause before the file is validated again (the wasm validator: at once). */
export const LINT_DELAY_MS = 250;

const CAPTURED = ['$page', '$click', '$submit', '$identify'];

// CodeMirror's defaultKeymap without what JSON has no use for and what
// weighs most for it (comment toggling, syntax-wise cursor moves, extra
// cursors): the page weight's budget pays for the console's views instead
// (console/README.md). No fold gutter either, for the same reason.
const keys = [
  { key: 'Alt-ArrowUp', run: moveLineUp },
  { key: 'Shift-Alt-ArrowUp', run: copyLineUp },
  { key: 'Alt-ArrowDown', run: moveLineDown },
  { key: 'Shift-Alt-ArrowDown', run: copyLineDown },
  { key: 'Escape', run: simplifySelection },
  { key: 'Mod-Enter', run: insertBlankLine },
  { key: 'Alt-l', mac: 'Ctrl-l', run: selectLine },
  { key: 'Mod-i', run: selectParentSyntax, preventDefault: true },
  { key: 'Mod-[', run: indentLess },
  { key: 'Mod-]', run: indentMore },
  { key: 'Shift-Mod-k', run: deleteLine },
  { key: 'Shift-Mod-\\', run: cursorMatchingBracket },
  { key: 'Ctrl-m', mac: 'Shift-Alt-m', run: toggleTabFocusMode },
  ...standardKeymap,
];

/** Asks for validation now, text unchanged (the catalog arrived, the role changed). */
const relintEffect = StateEffect.define();
const needsRefresh = (u) => u.transactions.some((tr) => tr.effects.some((e) => e.is(relintEffect)));

const theme = EditorView.theme({
  '&': { height: '100%', fontSize: '13px', backgroundColor: 'var(--editor-bg)' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.55' },
  '.cm-gutters': { backgroundColor: 'var(--editor-gutter)', borderRight: '1px solid var(--line)', color: 'var(--muted)' },
  '.cm-activeLine': { backgroundColor: 'var(--editor-active)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--editor-active)' },
  '&.cm-focused': { outline: 'none' },
  '.cm-tooltip': { fontFamily: 'var(--sans)', fontSize: '13px', maxWidth: '560px' },
  '.cm-diagnostic': { padding: '4px 8px' },
  '.cm-completionIcon': { display: 'none' },
  '.cm-completionDetail': { marginLeft: '1em', color: 'var(--muted)' },
  '.cm-tooltip-autocomplete ul li[aria-selected] .cm-completionDetail': { color: 'inherit', opacity: '0.85' },
  '.cm-diagnosticSource': { fontFamily: 'var(--mono)', fontSize: '11px', opacity: '0.75' },
});

// Keys, strings, numbers and literals apart at a glance, in quiet colours.
const highlight = HighlightStyle.define([
  { tag: tags.propertyName, color: '#1f4f9e' },
  { tag: tags.string, color: '#1d6b45' },
  { tag: tags.number, color: '#9a4d00' },
  { tag: [tags.bool, tags.null], color: '#7a3e9d' },
  { tag: tags.invalid, color: '#c0392b' },
]);

// Wrapped lines continue under their own indentation (plus two), not at
// column 0, so a long condition still reads as part of its trigger.
const indents = new Map();
const indentDeco = (n) => {
  if (!indents.has(n)) indents.set(n, Decoration.line({ attributes: { style: `padding-left: calc(${n}ch + 6px); text-indent: -${n}ch` } }));
  return indents.get(n);
};
const hangingIndent = ViewPlugin.fromClass(
  class {
    constructor(view) {
      this.decorations = this.build(view);
    }
    update(u) {
      if (u.docChanged || u.viewportChanged) this.decorations = this.build(u.view);
    }
    build(view) {
      const b = new RangeSetBuilder();
      for (const { from, to } of view.visibleRanges) {
        for (let pos = from; pos <= to; ) {
          const line = view.state.doc.lineAt(pos);
          const indent = /^ */.exec(line.text)[0].length;
          if (indent) b.add(line.from, line.from, indentDeco(indent + 2));
          pos = line.to + 1;
        }
      }
      return b.finish();
    }
  },
  { decorations: (v) => v.decorations },
);

function keyText(state, node) {
  try {
    return JSON.parse(state.doc.sliceString(node.from, node.to));
  } catch {
    return null;
  }
}

/** The value of property `key` in object node `obj`, as JS, or null. */
function memberValue(state, obj, key) {
  for (let c = obj?.firstChild; c; c = c.nextSibling) {
    if (c.name === 'Property' && c.firstChild?.name === 'PropertyName' && keyText(state, c.firstChild) === key) {
      const v = c.lastChild;
      return v && v.name === 'String' ? keyText(state, v) : null;
    }
  }
  return null;
}

/** Completion inside `"event"`, `"prop"`, `"trait"` and `"context"` strings. */
function completionSource(getCatalog) {
  return (ctx) => {
    const catalog = getCatalog();
    const node = syntaxTree(ctx.state).resolveInner(ctx.pos, -1);
    if (node.name !== 'String' || ctx.pos <= node.from || ctx.pos >= node.to + 1) return null;
    const prop = node.parent;
    // The string must be the property's value, not its key (syntax nodes
    // are fresh objects on every lookup: compare positions).
    if (prop?.name !== 'Property' || prop.lastChild?.from !== node.from || prop.firstChild?.name !== 'PropertyName') return null;
    const key = keyText(ctx.state, prop.firstChild);
    const events = catalog?.events ?? [];
    let options;
    if (key === 'event') {
      const seen = events.map((e) => ({ label: e.name, detail: `${e.count.toLocaleString('en')} seen`, type: 'constant' }));
      const captured = CAPTURED.filter((n) => !events.some((e) => e.name === n)).map((n) => ({ label: n, detail: 'captured', type: 'keyword' }));
      options = [...seen, ...captured];
    } else if (key === 'prop') {
      // Condition -> where list -> "where" property -> the step object.
      const step = prop.parent?.parent?.parent?.parent;
      const name = step?.name === 'Object' ? memberValue(ctx.state, step, 'event') : null;
      const ev = events.find((e) => e.name === name);
      const paths = ev ? ev.properties : [...new Set(events.flatMap((e) => e.properties))].sort();
      options = paths.map((p) => ({ label: p, detail: ev ? `on ${ev.name}` : undefined, type: 'property' }));
    } else if (key === 'trait') {
      options = (events.find((e) => e.name === '$identify')?.properties ?? []).map((p) => ({ label: p, detail: 'trait', type: 'property' }));
    } else if (key === 'context') {
      options = (catalog?.context ?? []).map((p) => ({ label: p, detail: 'context', type: 'property' }));
    } else {
      return null;
    }
    if (!options.length) return null;
    const from = node.from + 1;
    const closed = node.to - node.from >= 2 && ctx.state.doc.sliceString(node.to - 1, node.to) === '"';
    return { from, to: closed ? node.to - 1 : ctx.pos, options, validFor: /^[^"\\]*$/ };
  };
}

/**
 * Makes the editor in `parent`. `check(text)` returns (or resolves to)
 * `{errors: [{path, message, kind}], warnings: [{path, message}]}`;
 * `onProblems(problems)` receives them located (`line`, `from`, `to`) after
 * every validation, for the problems list. `delay`: how long typing must
 * pause before a check.
 */
export function createEditor({ parent, doc, readOnly, check, onProblems, onChange, getCatalog, delay = LINT_DELAY_MS }) {
  const editable = new Compartment();
  const editability = (ro) => [EditorState.readOnly.of(ro), EditorView.editable.of(!ro)];
  let ro = readOnly;

  const source = async (view) => {
    const state = view.state;
    const { errors, warnings } = await check(state.doc.toString());
    // Typed on while a check ran (the plan's goes to the relay): CodeMirror drops the answer, and so do we.
    if (view.state.doc !== state.doc) return [];
    const problems = [];
    for (const e of errors) {
      const r = e.kind === 'not_json' ? locateSyntaxError(state, e.message) : locate(state, e.path, e.kind);
      problems.push({ ...r, severity: 'error', path: e.path, message: e.message, kind: e.kind });
    }
    for (const w of warnings) {
      const r = locate(state, w.path, 'warning');
      problems.push({ ...r, severity: 'warning', path: w.path, message: w.message, kind: 'warning' });
    }
    for (const p of problems) p.line = state.doc.lineAt(p.from).number;
    onProblems(problems);
    return problems.map((p) => ({ from: p.from, to: p.to, severity: p.severity, message: p.message, source: p.path }));
  };

  const extensions = () => [
    lineNumbers(),
    lintGutter(),
    highlightActiveLineGutter(),
    highlightActiveLine(),
    drawSelection(),
    history(),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    autocompletion({ override: [completionSource(getCatalog)], activateOnTyping: true }),
    keymap.of([...closeBracketsKeymap, ...keys, ...historyKeymap, ...completionKeymap, indentWithTab]),
    json(),
    syntaxHighlighting(highlight),
    linter(source, { delay, needsRefresh }),
    EditorView.lineWrapping,
    hangingIndent,
    editable.of(editability(ro)),
    theme,
    EditorView.updateListener.of((u) => {
      if (u.docChanged) onChange(u.state.doc.toString());
    }),
  ];

  const view = new EditorView({ parent, state: EditorState.create({ doc, extensions: extensions() }) });
  // The file as loaded is checked at once; the delay is for typing.
  forceLinting(view);

  return {
    view,
    text: () => view.state.doc.toString(),
    /** Replaces the whole text with a fresh history (a loaded version is not an edit to undo). */
    load(text) {
      view.setState(EditorState.create({ doc: text, extensions: extensions() }));
      // Validated at once, not after the typing delay: nothing is being typed.
      forceLinting(view);
    },
    setReadOnly(value) {
      ro = value;
      view.dispatch({ effects: editable.reconfigure(editability(ro)) });
    },
    /** Validate now (the catalog arrived, or the relay answered with errors). */
    relint() {
      view.dispatch({ effects: relintEffect.of(null) });
      forceLinting(view);
    },
    /** Puts the cursor on `from` and scrolls it into view. */
    reveal(from, to) {
      view.dispatch({ selection: { anchor: from, head: to ?? from }, scrollIntoView: true });
      view.focus();
    },
  };
}
