// Auto-capture: page views (on load and SPA navigation), clicks and form
// submits, pushed through the client like the page's own calls (but never
// throwing into the page).
import { CLICK, SUBMIT } from './generated.js';

const CLICKABLE = 'a,button,[data-track],[role=button],input[type=submit],input[type=button]';

/**
 * Starts what `c.o.autocapture` asks for (all of it by default). `on(target,
 * type, fn, capture)` adds a listener that destroy() removes; the history
 * API's wrapped methods are kept in `c.history` for destroy() to restore.
 */
export function autoCapture(c, on) {
  const o = c.o;
  const auto = o.autocapture === false ? {} : { pageviews: true, clicks: true, forms: true, ...o.autocapture };
  if (auto.clicks) on(document, 'click', (e) => click(c, e), true);
  if (auto.forms) on(document, 'submit', (e) => submitted(c, e), true);
  if (auto.pageviews) {
    c.lastUrl = location.href;
    const nav = () => {
      if (location.href != c.lastUrl) {
        const from = c.lastUrl;
        c.lastUrl = location.href;
        c.page(undefined, { referrer: from });
      }
    };
    // SPA navigation: wrap the history API (restored by destroy()).
    const h = history;
    c.history = [h.pushState, h.replaceState];
    const wrap = (orig) => function () {
      const r = orig.apply(this, arguments);
      try { nav(); } catch { /* never break the page's navigation */ }
      return r;
    };
    h.pushState = wrap(c.history[0]);
    h.replaceState = wrap(c.history[1]);
    on(window, 'popstate', nav);
    on(window, 'hashchange', nav);
    c.page();
  }
}

function click(c, e) {
  const el = e.target && e.target.closest && e.target.closest(CLICKABLE);
  if (!el) return;
  const p = { selector: selector(el), tag: el.localName, text: label(el) };
  const href = el.getAttribute('href');
  if (href != null) p.href = el.href || href;
  const t = el.getAttribute('data-track');
  if (t) p.track = t;
  c.push(CLICK, '', p, false);
}

function submitted(c, e) {
  const f = e.target;
  if (!f || f.localName != 'form') return;
  let fields = 0;
  for (const el of f.elements) if (/^(input|select|textarea)$/.test(el.localName) && !/^(submit|button|reset|image|hidden)$/.test(el.type)) fields++;
  const p = { form_id: f.id, fields, selector: selector(f) };
  if (f.name) p.form_name = f.name;
  c.push(SUBMIT, '', p, false);
}

/** A short, stable CSS selector: id, data-track, or a tag path with nth-of-type. */
function selector(el) {
  const parts = [];
  for (let e = el, depth = 0; e && e.nodeType == 1 && depth < 5; e = e.parentElement, depth++) {
    const tag = e.localName;
    if (e.id) { parts.unshift(tag + '#' + CSS.escape(e.id)); break; }
    const t = e.getAttribute('data-track');
    if (t) { parts.unshift(tag + '[data-track="' + t.replace(/["\\]/g, '\\$&') + '"]'); break; }
    const p = e.parentElement;
    let part = tag;
    if (p) {
      const same = Array.prototype.filter.call(p.children, (c) => c.localName == tag);
      if (same.length > 1) part += ':nth-of-type(' + (same.indexOf(e) + 1) + ')';
    }
    parts.unshift(part);
    if (tag == 'body') break;
  }
  return parts.join('>');
}

/** The visible label of a clickable element, never an input's value. */
function label(el) {
  const text = el.localName == 'input' ? '' : (el.innerText || el.textContent || '');
  return (el.getAttribute('aria-label') || text.replace(/\s+/g, ' ').trim()).slice(0, 100);
}
