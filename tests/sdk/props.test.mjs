// npm/src/props.js: the layout the core reads (sdk/src/props.rs), with
// JSON.stringify's data model. Read back here by a reader of the layout and
// compared with JSON.parse(JSON.stringify(x)), which is what the core got
// when properties crossed as JSON text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeProps } from '../../npm/src/props.js';
import { NULL, FALSE, TRUE, NUMBER, STRING, LIST, MAP } from '../../npm/src/generated.js';

function read(bytes) {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const dec = new TextDecoder();
  let i = 0;
  const u32 = () => ((i += 4), v.getUint32(i - 4, true));
  const str = () => {
    const n = u32();
    i += n;
    return dec.decode(bytes.subarray(i - n, i));
  };
  const map = () => {
    const o = {};
    for (let n = u32(); n--; ) {
      const k = str();
      o[k] = value();
    }
    return o;
  };
  function value() {
    const tag = bytes[i++];
    if (tag == NULL) return null;
    if (tag == FALSE || tag == TRUE) return tag == TRUE;
    if (tag == NUMBER) {
      const x = v.getFloat64((i += 8) - 8, true);
      // What the core makes of them (props.rs `number`), as JSON text had
      // them: non-finite numbers null, -0 the integer 0 (-0 + 0 is 0).
      return Number.isFinite(x) ? x + 0 : null;
    }
    if (tag == STRING) return str();
    if (tag == LIST) return Array.from({ length: u32() }, value);
    if (tag == MAP) return map();
    throw new Error('bad tag ' + tag + ' at ' + (i - 1));
  }
  const out = bytes.length ? map() : {};
  assert.equal(i, bytes.length, 'trailing bytes');
  return out;
}

test('objects read back as JSON.parse(JSON.stringify(object))', () => {
  const date = new Date(Date.UTC(2026, 11, 6, 9, 30));
  const cases = [
    {},
    { product_id: 'p-1', price: 89.58, qty: 2, ok: true, no: false, none: null },
    { tags: ['a', 1, null, undefined, () => 1, Symbol('s'), [[]]], nested: { deep: { er: { x: 'é😀' } } } },
    { skip: undefined, f() {}, s: Symbol('x'), kept: 0 },
    { when: date, custom: { toJSON: (k) => 'key ' + k }, list: [{ toJSON: () => undefined }] },
    { nan: NaN, inf: -Infinity, neg0: -0, big: 2 ** 60, tiny: 5e-324 },
    { long: 'x'.repeat(2000), '': 'empty key', 'ключ': 'значение' },
  ];
  for (const c of cases) assert.deepEqual(read(encodeProps(c)), JSON.parse(JSON.stringify(c)), JSON.stringify(c).slice(0, 200));
  // A lone surrogate becomes U+FFFD, as the core's JSON parser made it.
  assert.deepEqual(read(encodeProps({ lone: 'a\ud800b' })), { lone: 'a\ufffdb' });
  assert.equal(encodeProps(undefined).length, 0);
  assert.equal(encodeProps(null).length, 0);
});

test('what JSON.stringify refuses is refused (BigInt, cycles), and the next call is unaffected', () => {
  assert.throws(() => encodeProps({ n: 1n }), TypeError);
  const cyclic = { a: {} };
  cyclic.a.back = cyclic;
  assert.throws(() => encodeProps(cyclic), RangeError);
  assert.deepEqual(read(encodeProps({ a: 1 })), { a: 1 });
});
