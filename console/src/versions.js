// The Versions tab (every push is an immutable version: list, where each is
// active, the diff between any two, revert) and the Push dialog (a new
// version, each partition's activation, Retry when one failed), for either
// versioned document, `triggers` or `plan`: the relay's routes are the same.
import { h, $, num, when, toast } from './dom.js';

/** "0, 1, 2, 3" from [0, 1, 2, 3]. */
const list = (ps) => ps.join(', ');

/** The partitions' outcome of a push, revert or retry, with Retry when one failed. */
export function activationReport(answer, { canEdit, onRetry }) {
  const failed = answer.partitions.filter((p) => !p.ok);
  const items = answer.partitions.map((p) =>
    h('li', { dataset: { partition: p.partition } }, h('span', { class: p.ok ? 'ok' : 'fail' }, p.ok ? '✓' : '✗'), `Partition ${p.partition}: ${p.ok ? 'active' : `not activated (${p.error ?? 'no answer'})`}`),
  );
  const parts = [
    h('div', { class: `banner ${answer.complete ? 'ok' : 'warn'}`, role: 'status' }, answer.complete ? `Version ${answer.version} is active on every partition.` : `Version ${answer.version} is stored but ${failed.length} partition${failed.length === 1 ? ' has' : 's have'} not taken it yet.`),
    h('ul', { class: 'partitions' }, items),
  ];
  if (!answer.complete) {
    parts.push(h('button', { type: 'button', class: 'retry', disabled: !canEdit, onclick: (e) => onRetry(answer.version, e.currentTarget) }, `Retry partition${failed.length === 1 ? '' : 's'} ${list(failed.map((p) => p.partition))}`));
  }
  return h('div', { class: 'activation' }, parts);
}

export class VersionsPanel {
  /** `doc`: `triggers` or `plan`; `prefix`: of the ids made here (the trigger file's are bare). */
  constructor(el, { api, doc, prefix, canEdit, onOpen, onChanged }) {
    this.el = el;
    this.api = api;
    this.doc = doc;
    this.prefix = prefix;
    this.canEdit = canEdit;
    this.onOpen = onOpen;
    this.onChanged = onChanged;
    this.picked = [];
    this.data = null;
  }

  async load() {
    this.el.replaceChildren(h('p', { class: 'muted' }, 'Loading versions…'));
    try {
      this.data = await this.api.versions(this.doc);
    } catch (e) {
      this.el.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message));
      return;
    }
    this.picked = this.picked.filter((n) => this.data.versions.some((v) => v.version === n));
    this.render();
  }

  render() {
    const { versions, active } = this.data;
    const compare = h('button', { type: 'button', class: 'small', id: `${this.prefix}compare`, disabled: this.picked.length !== 2, onclick: () => this.showDiff() }, 'Compare selected');
    const head = h('div', { class: 'versions-head' }, h('span', { class: 'muted' }, versions.length ? `${num(versions.length)} version${versions.length === 1 ? '' : 's'} · pick two to compare` : 'No versions yet: push to make the first.'), compare);
    this.diffBox = h('div', { id: `${this.prefix}diff` });
    const items = versions.map((v) => this.item(v, active));
    this.el.replaceChildren(head, this.diffBox, ...items);
  }

  item(v, active) {
    const isActive = v.version === active;
    const activeOn = v.partitions?.active_on ?? [];
    const pending = v.partitions?.pending ?? [];
    const pick = h('input', {
      type: 'checkbox',
      'aria-label': `Select version ${v.version} to compare`,
      checked: this.picked.includes(v.version),
      onchange: (e) => {
        if (e.target.checked) this.picked = [...this.picked, v.version].slice(-2);
        else this.picked = this.picked.filter((n) => n !== v.version);
        this.render();
      },
    });
    const where = [];
    if (activeOn.length) where.push(h('span', { class: 'badge' }, `active on partition${activeOn.length === 1 ? '' : 's'} ${list(activeOn)}`));
    if (pending.length) {
      where.push(' ', h('span', { class: 'badge viewer' }, `pending on ${list(pending)}`), ' ');
      where.push(h('button', { type: 'button', class: 'link', disabled: !this.canEdit, onclick: (e) => this.retry(v.version, e.currentTarget) }, 'Retry'));
    }
    const revert = h('button', {
      type: 'button',
      class: 'small revert',
      disabled: !this.canEdit || isActive,
      title: !this.canEdit ? 'Viewers cannot revert' : isActive ? 'This is the active version' : `Make a new version with version ${v.version}'s content`,
      onclick: (e) => this.revert(v.version, e.currentTarget),
    }, 'Revert');
    const open = h('button', { type: 'button', class: 'small', title: 'Load this version into the editor', onclick: () => this.open(v.version) }, 'Open');
    return h(
      'div',
      { class: `version${isActive ? ' active' : ''}`, dataset: { version: v.version } },
      pick,
      h('span', { class: 'title' }, `Version ${v.version}`, isActive ? h('span', { class: 'muted' }, ' · active') : null),
      h('div', { class: 'buttons' }, open, revert),
      h('span', { class: 'meta' }, `${when(v.time)} · ${v.author ?? 'unknown'}${v.role ? ` (${v.role})` : ''} · ${num(v.bytes)} bytes`),
      v.comment ? h('span', { class: 'comment' }, v.comment) : h('span', { class: 'comment muted' }, 'No comment'),
      where.length ? h('div', { class: 'where' }, where) : null,
    );
  }

  async open(n) {
    try {
      this.onOpen(n, await this.api.versionText(this.doc, n));
    } catch (e) {
      toast(e.message, { error: true });
    }
  }

  async showDiff() {
    const [a, b] = [...this.picked].sort((x, y) => x - y);
    try {
      const d = await this.api.diff(this.doc, a, b);
      const lines = d.diff.split('\n').map((l) => {
        const cls = l.startsWith('@@') ? 'hunk' : l.startsWith('+++') || l.startsWith('---') ? 'meta' : l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '';
        return h('div', { class: cls }, l || ' ');
      });
      this.diffBox.replaceChildren(
        h('div', { class: 'versions-head' }, h('strong', {}, `Changes from version ${a} to ${b}`), h('button', { type: 'button', class: 'link', onclick: () => this.diffBox.replaceChildren() }, 'Hide')),
        d.diff.trim() ? h('div', { class: 'diff' }, lines) : h('p', { class: 'muted' }, 'The two versions have the same content.'),
      );
    } catch (e) {
      toast(e.message, { error: true });
    }
  }

  async revert(n, button) {
    // A second click confirms: a revert is a push, and pushes go live.
    if (!button.dataset.armed) {
      button.dataset.armed = '1';
      button.textContent = `Revert to ${n}?`;
      button.classList.add('primary');
      setTimeout(() => {
        if (!button.isConnected) return;
        delete button.dataset.armed;
        button.textContent = 'Revert';
        button.classList.remove('primary');
      }, 5000);
      return;
    }
    button.disabled = true;
    try {
      const answer = await this.api.revert(this.doc, n, `Revert to version ${n}`, localStorage.getItem('eventstream-console-author') || null);
      toast(answer.complete ? `Reverted: version ${answer.version} has version ${n}'s content and is active.` : `Version ${answer.version} stored; some partitions have not taken it yet (see Versions).`);
      await this.onChanged(answer);
      await this.load();
    } catch (e) {
      toast(e.message, { error: true });
      button.disabled = false;
    }
  }

  async retry(n, button) {
    button.disabled = true;
    try {
      const answer = await this.api.activate(this.doc, n);
      toast(answer.complete ? `Version ${n} is now active on every partition.` : `Version ${n} is still pending on some partitions.`, { error: !answer.complete });
      await this.load();
    } catch (e) {
      toast(e.message, { error: true });
      button.disabled = false;
    }
  }
}

/**
 * The Push dialog (one for both documents): comment, author, then each
 * partition's activation. Returns the function that opens it for `doc`;
 * a refusal lists every mistake with its path and `onInvalid` marks them.
 */
export function setupPush({ api, doc, getText, canEdit, onPushed, onInvalid }) {
  const dialog = $('push-dialog');
  const confirm = $('push-confirm');
  const result = $('push-result');
  const author = $('push-author');
  const fail = (e) => {
    const errors = e.body?.errors ?? [];
    result.replaceChildren(h('div', { class: 'banner err', role: 'alert' }, e.message, errors.length ? h('ul', { class: 'refused' }, errors.map((x) => h('li', {}, h('code', {}, x.path), ` ${x.message}`))) : null));
  };
  const retry = async (n, button) => {
    button.disabled = true;
    try {
      const answer = await api.activate(doc, n);
      show(answer);
      await onPushed(answer);
    } catch (e) {
      fail(e);
    }
  };
  const show = (answer) => {
    result.replaceChildren(activationReport(answer, { canEdit: canEdit(), onRetry: retry }));
    confirm.hidden = true;
    $('push-cancel').textContent = 'Close';
  };
  const push = async () => {
    confirm.disabled = true;
    localStorage.setItem('eventstream-console-author', author.value.trim());
    try {
      const answer = await api.push(doc, getText(), $('push-comment').value.trim(), author.value.trim());
      show(answer);
      await onPushed(answer);
    } catch (e) {
      if (e.body?.errors) onInvalid();
      fail(e);
    } finally {
      confirm.disabled = false;
    }
  };
  return () => {
    author.value = localStorage.getItem('eventstream-console-author') ?? '';
    $('push-cancel').onclick = () => dialog.close();
    confirm.onclick = push;
    result.replaceChildren();
    confirm.hidden = false;
    $('push-cancel').textContent = 'Cancel';
    $('push-comment').value = '';
    dialog.showModal();
    $('push-comment').focus();
  };
}
