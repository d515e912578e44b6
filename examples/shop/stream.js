// Subscribes to every partition's events and firings through the relay's
// back-office WebSocket API (replays the last few records, then live).
const config = await (await fetch('/config.json')).json();
const rows = document.getElementById('rows');
let open = 0;
for (let p = 0; p < (config.partitions ?? 1); p++) {
  for (const stream of ['events', 'firings']) {
    const url = `${config.endpoint.replace(/^http/, 'ws')}/v1/partitions/${p}/stream?stream=${stream}&from=earliest&token=${encodeURIComponent(config.subscriberToken)}`;
    const ws = new WebSocket(url);
    ws.onopen = () => { document.getElementById('status').textContent = `subscribed to ${++open} streams`; };
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.type !== 'record') return;
      const r = msg.record;
      const tr = document.createElement('tr');
      if (stream === 'firings') tr.className = 'firing';
      const what = stream === 'events' ? `${r.kind} ${r.name}` : `${r.trigger} → ${r.action.type}`;
      const details = JSON.stringify(stream === 'events' ? r.properties : r.action.payload);
      // The event's context: the visit's campaign and session, where the page came from.
      const c = r.context ?? {};
      const campaign = c.campaign ? Object.entries(c.campaign).map(([k, v]) => `${k}=${v}`).join(' ') : '';
      const context = stream === 'events' ? [campaign, c.session_id ? `session ${c.session_id}` : '', c.referrer ? `from ${c.referrer}` : ''].filter(Boolean).join(' · ') : '';
      for (const text of [stream, r.partition, r.offset, r.visitor.slice(0, 8), what, details.slice(0, 140), context.slice(0, 140)]) {
        const td = document.createElement('td');
        td.textContent = String(text);
        tr.append(td);
      }
      rows.prepend(tr);
      while (rows.children.length > 300) rows.lastChild.remove();
    };
  }
}
