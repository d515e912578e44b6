// Where the console marks each mistake: the shipped wasm validator
// (console/dist/validator_bg.wasm, broker-core's own rules) on broken files,
// and every error's JSON path mapped to its text by console/src/jsonpath.js
// through CodeMirror's Lezer JSON tree, in Node (no browser needed: the
// editor state and the parser are plain JS).
// Needs console/build.sh (relay/build.sh runs it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EditorState } from '@codemirror/state';
import { json } from '@codemirror/lang-json';
import { ROOT } from '../support/relay.mjs';
import { initSync, validate as validateJson, lint as lintJson } from '../../console/build/pkg/validator.js';
import { locate, locateSyntaxError, parsePath } from '../../console/src/jsonpath.js';

initSync({ module: readFileSync(join(ROOT, 'console', 'dist', 'validator_bg.wasm')) });
// The wasm answers JSON text; console/src/validator.js parses it the same way.
const validate = (text) => JSON.parse(validateJson(text));
const lint = (text, catalog) => JSON.parse(lintJson(text, catalog));

// A copy of examples/triggers.json kept with the tests, so the lines stay put.
const EXAMPLES = readFileSync(join(ROOT, 'tests', 'console', 'triggers.json'), 'utf8');
/** The 1-based line of EXAMPLES holding `needle`. */
const lineOf = (needle) => EXAMPLES.slice(0, EXAMPLES.indexOf(needle)).split('\n').length;

/** Each error of `text` as {path, kind, line, marked: the text under the mark}. */
function marks(text) {
  const state = EditorState.create({ doc: text, extensions: [json()] });
  const r = validate(text);
  return r.errors.map((e) => {
    const { from, to } = e.kind === 'not_json' ? locateSyntaxError(state, e.message) : locate(state, e.path, e.kind);
    return { path: e.path, kind: e.kind, line: state.doc.lineAt(from).number, marked: state.doc.sliceString(from, to) };
  });
}

/** `examples/triggers.json` with `from` replaced by `to` (once; `from` must be there). */
function broken(from, to) {
  assert.ok(EXAMPLES.includes(from), from);
  return EXAMPLES.replace(from, to);
}

test('paths parse into keys and indexes', () => {
  assert.deepEqual(parsePath('triggers[2].when.where[0].op'), [{ key: 'triggers' }, { index: 2 }, { key: 'when' }, { key: 'where' }, { index: 0 }, { key: 'op' }]);
  assert.deepEqual(parsePath('$'), []);
  assert.deepEqual(parsePath('version'), [{ key: 'version' }]);
  // A key that is not a plain name comes as a JSON string (the plan's event names).
  assert.deepEqual(parsePath('events["Product Viewed"].properties.price.type'), [{ key: 'events' }, { key: 'Product Viewed' }, { key: 'properties' }, { key: 'price' }, { key: 'type' }]);
  assert.deepEqual(parsePath('events["say \\"hi\\"]"]'), [{ key: 'events' }, { key: 'say "hi"]' }]);
  assert.deepEqual(parsePath('["a b"][1]'), [{ key: 'a b' }, { index: 1 }]);
});

test('the example file is valid and the validator says how many triggers', () => {
  const r = validate(EXAMPLES);
  assert.equal(r.ok, true);
  assert.equal(r.summary.total, JSON.parse(EXAMPLES).triggers.length);
});

test('an unknown key is marked on the key, at its line', () => {
  assert.deepEqual(marks(broken('"when": { "event": "Product Added"', '"wehn": { "event": "Product Added"')).find((m) => m.kind === 'unknown_key'), {
    path: 'triggers[0].wehn',
    kind: 'unknown_key',
    line: lineOf('"when": { "event": "Product Added"'),
    marked: '"wehn"',
  });
});

test('a bad value is marked on the value', () => {
  const [m] = marks(broken('"op": "gte", "value": 50', '"op": "gte ", "value": 50'));
  assert.deepEqual(m, { path: 'triggers[0].when.where[0].op', kind: 'unknown_operator', line: lineOf('"op": "gte", "value": 50'), marked: '"gte "' });
  const [d] = marks(broken('"within": "30m"', '"within": "30 min"'));
  assert.deepEqual(d, { path: 'triggers[0].count.within', kind: 'bad_duration', line: lineOf('"within": "30m"'), marked: '"30 min"' });
});

test('a mistake deep in a sequence step is marked there', () => {
  const [m] = marks(broken('{ "event": "Product Viewed", "where": [{ "prop": "category", "op": "eq"', '{ "event": "Product Viewed", "where": [{ "prop": "category", "op": "equals"'));
  assert.equal(m.path, 'triggers[1].sequence[1].where[0].op');
  assert.equal(m.line, lineOf('{ "event": "Product Viewed", "where": [{ "prop": "category"'));
  assert.equal(m.marked, '"equals"');
});

test('a missing key marks the object that lacks it, naming which', () => {
  const text = broken('"id": "shoe-searcher",', '"id": "shoe-searcher", "sequence2": [],').replace(/"sequence": \[\s*\{ "event": "Products Searched"[\s\S]*?\],\s*"within": "5m",/, '');
  const m = marks(text).find((e) => e.kind === 'no_rule' || e.kind === 'missing_key');
  assert.ok(m, JSON.stringify(marks(text)));
  assert.match(m.marked, /^\{\s+"id": "shoe-searcher"/);
  const action = marks(broken('"action": { "type": "chat", "payload": { "text": "Need help choosing? Our team is online." } }', '"actions": {}'));
  const missing = action.find((e) => e.kind === 'missing_key');
  assert.equal(missing.path, 'triggers[2].action');
  assert.match(missing.marked, /^\{\s+"id": "undecided-browser"/);
});

test('text that is not JSON is marked where the parser stopped', () => {
  const [m] = marks(broken('"cooldown": "24h",\n', '"cooldown": "24h"\n'));
  assert.equal(m.kind, 'not_json');
  assert.equal(m.line, lineOf('"cooldown": "24h",') + 1, 'the key after the missing comma');
});

test('lint warnings map onto the values they are about', () => {
  const text = broken('"Product Added", "where"', '"Prodcut Added", "where"');
  const catalog = JSON.stringify({ events: [{ name: 'Product Added', count: 3, properties: ['price'] }], context: [], scanned: 3, complete: true });
  const state = EditorState.create({ doc: text, extensions: [json()] });
  const w = lint(text, catalog).find((x) => x.path === 'triggers[0].when.event');
  assert.equal(w.message, '"Prodcut Added" was never seen; did you mean "Product Added"?');
  const { from, to } = locate(state, w.path, 'warning');
  assert.equal(state.doc.sliceString(from, to), '"Prodcut Added"');
  assert.throws(() => lint(EXAMPLES, '[1]'), /the catalog is not valid/);
});

test("a plan's path through an event name that is not a plain name marks that event's value", () => {
  // The relay's paths for examples/plan.json (the plan is checked by the relay, not the wasm).
  const plan = readFileSync(join(ROOT, 'examples', 'plan.json'), 'utf8');
  const state = EditorState.create({ doc: plan, extensions: [json()] });
  const at = (path, kind) => {
    const { from, to } = locate(state, path, kind);
    return { line: state.doc.lineAt(from).number, marked: state.doc.sliceString(from, to) };
  };
  const price = '"price": { "type": "number", "required": true, "minimum": 0, "maximum": 100000 }';
  const line = plan.slice(0, plan.indexOf(price)).split('\n').length;
  assert.deepEqual(at('events["Product Viewed"].properties.price.type', 'unknown_type'), { line, marked: '"number"' });
  assert.deepEqual(at('events.$page.on_violation', 'bad_value'), { line: plan.slice(0, plan.indexOf('"on_violation": "flag"')).split('\n').length, marked: '"flag"' });
});
