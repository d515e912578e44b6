// Small DOM helpers: elements are built with h(), text always set as text
// (never as HTML), so nothing from the relay or the file is ever parsed as
// markup.

/** h('td', {class: 'x', onclick}, 'text', child, ...) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

const numberFmt = new Intl.NumberFormat('en');
export const num = (n) => (n === null || n === undefined ? '–' : numberFmt.format(n));

export function pct(share) {
  if (share === null || share === undefined) return '–';
  const p = share * 100;
  return `${p < 10 && p !== 0 ? p.toFixed(2) : p.toFixed(1)}%`;
}

const timeFmt = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
const secondsFmt = new Intl.DateTimeFormat('en-GB', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
export const when = (ms) => (ms ? timeFmt.format(new Date(ms)) : '–');
export const whenExact = (ms) => (ms ? secondsFmt.format(new Date(ms)) : '–');

let toastTimer = 0;
/** A short message at the bottom of the page; errors stay longer. */
export function toast(message, { error = false } = {}) {
  const el = $('toast');
  el.textContent = message;
  el.className = error ? 'toast err' : 'toast';
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), error ? 9000 : 3500);
}
