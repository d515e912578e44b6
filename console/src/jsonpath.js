// From the engine's spec-style JSON paths (`triggers[2].when.where[0].op`)
// to the range of text they name, by walking CodeMirror's Lezer JSON syntax
// tree: the marks sit on the exact key or value the message is about.
import { ensureSyntaxTree, syntaxTree } from '@codemirror/language';

const VALUE = new Set(['Object', 'Array', 'String', 'Number', 'True', 'False', 'Null']);

/** `triggers[2].when` -> [{key: 'triggers'}, {index: 2}, {key: 'when'}]; `$` -> []. */
export function parsePath(path) {
  const segs = [];
  if (path === '$' || path === '') return segs;
  let i = 0;
  let key = '';
  const flush = () => {
    if (key !== '') segs.push({ key });
    key = '';
  };
  while (i < path.length) {
    const c = path[i];
    if (c === '.') {
      flush();
      i++;
    } else if (c === '[' && path[i + 1] === '"') {
      // A key that is not a plain name, as a JSON string: `events["Product Viewed"]`.
      let end = i + 2;
      while (end < path.length && path[end] !== '"') end += path[end] === '\\' ? 2 : 1;
      flush();
      try {
        segs.push({ key: JSON.parse(path.slice(i + 1, end + 1)) });
      } catch {
        segs.push({ key: path.slice(i + 2, end) });
      }
      i = end + 2; // past `"]`
    } else if (c === '[') {
      const end = path.indexOf(']', i);
      const n = end > i ? Number(path.slice(i + 1, end)) : NaN;
      if (!Number.isInteger(n)) {
        key += c;
        i++;
        continue;
      }
      flush();
      segs.push({ index: n });
      i = end + 1;
    } else {
      key += c;
      i++;
    }
  }
  flush();
  return segs;
}

function children(node) {
  const out = [];
  for (let c = node.firstChild; c; c = c.nextSibling) out.push(c);
  return out;
}

function valueOf(property) {
  return children(property).filter((c) => VALUE.has(c.name)).pop() ?? null;
}

function keyText(state, nameNode) {
  const raw = state.doc.sliceString(nameNode.from, nameNode.to);
  try {
    return JSON.parse(raw);
  } catch {
    return raw.replace(/^"|"$/g, '');
  }
}

/**
 * The property of `object` named by the segments from `i` on; a key may hold
 * dots itself (`{"a.b": 1}` is reached by the path `a.b`), so the longest
 * join that names a key wins. Returns {property, used} or null.
 */
function findProperty(state, object, segs, i) {
  const props = children(object).filter((c) => c.name === 'Property');
  for (let j = segs.length; j > i; j--) {
    const slice = segs.slice(i, j);
    if (slice.some((s) => s.key === undefined)) continue;
    const want = slice.map((s) => s.key).join('.');
    // serde_json keeps the last of duplicate keys: so do we.
    const hit = props.filter((p) => p.firstChild?.name === 'PropertyName' && keyText(state, p.firstChild) === want).pop();
    if (hit) return { property: hit, used: j - i };
  }
  return null;
}

function multiline(state, node) {
  return state.doc.lineAt(node.from).number !== state.doc.lineAt(node.to).number;
}

/**
 * The opening of a long node: `{` up to the end of its line, or through its
 * first member when the brace stands alone (`{\n  "id": "cart-rescue"`), so
 * the mark names which object it is.
 */
function head(state, node) {
  const line = state.doc.lineAt(node.from);
  const first = children(node).find((c) => c.name === 'Property' || VALUE.has(c.name));
  if (first && state.doc.sliceString(node.from + 1, line.to).trim() === '') {
    return { from: node.from, to: first.to };
  }
  return { from: node.from, to: Math.max(node.from + 1, Math.min(line.to, node.to)) };
}

/**
 * The range to mark for an error or warning at `path`. `kind` is the
 * validator's kind: `unknown_key` marks the key, `missing_key` the object
 * that lacks it (by its own key when it has one), the rest the value (by its
 * key when the value spans lines, so a mark never covers a whole trigger).
 */
export function locate(state, path, kind) {
  const tree = ensureSyntaxTree(state, state.doc.length, 500) ?? syntaxTree(state);
  const whole = { from: 0, to: Math.min(state.doc.length, Math.max(1, state.doc.line(1).to)) };
  let node = children(tree.topNode).find((c) => VALUE.has(c.name));
  if (!node) return whole;
  const segs = parsePath(path);
  let keyNode = null;
  let parentKey = null;
  let parent = null;
  for (let i = 0; i < segs.length; ) {
    const seg = segs[i];
    let next = null;
    let nextKey = null;
    let used = 1;
    if (seg.key !== undefined && node.name === 'Object') {
      const hit = findProperty(state, node, segs, i);
      if (hit) {
        next = valueOf(hit.property);
        nextKey = hit.property.firstChild;
        used = hit.used;
        if (!next) {
          // `"key":` with the value not typed yet.
          return { from: nextKey.from, to: nextKey.to };
        }
      }
    } else if (seg.index !== undefined && node.name === 'Array') {
      next = children(node).filter((c) => VALUE.has(c.name))[seg.index] ?? null;
    }
    if (!next) {
      // The path leads past what the text holds (a missing key): mark the
      // deepest thing that exists.
      return keyNode ? { from: keyNode.from, to: keyNode.to } : head(state, node);
    }
    parent = node;
    parentKey = keyNode;
    node = next;
    keyNode = nextKey;
    i += used;
  }
  if (kind === 'unknown_key' && keyNode) return { from: keyNode.from, to: keyNode.to };
  if (kind === 'missing_key') {
    // The path names the absent key itself, so we never get here unless the
    // key exists after all (the text changed since): mark it.
    return keyNode ? { from: keyNode.from, to: keyNode.to } : head(state, node);
  }
  if (multiline(state, node)) {
    if (keyNode) return { from: keyNode.from, to: keyNode.to };
    if (parent && parentKey && node.name !== 'Object') return { from: parentKey.from, to: parentKey.to };
    return head(state, node);
  }
  return { from: node.from, to: node.to };
}

/** serde_json's `... at line L column C` to a one-character range. */
export function locateSyntaxError(state, message) {
  const m = /line (\d+) column (\d+)/.exec(message);
  const doc = state.doc;
  if (!m) return { from: 0, to: Math.min(1, doc.length) };
  const lineNo = Math.min(Math.max(1, Number(m[1])), doc.lines);
  const line = doc.line(lineNo);
  let from = Math.min(line.from + Math.max(0, Number(m[2]) - 1), line.to);
  let to = Math.min(from + 1, doc.length);
  if (to <= from) {
    from = Math.max(0, doc.length - 1);
    to = doc.length;
  }
  return { from, to };
}
