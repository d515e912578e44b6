// The relay adds to each event's context what it knows of the request:
// place from the runtime's request properties, device from the user agent,
// a bot verdict; over HTTP and over the visitor socket alike.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, WRITE_KEY, encodeFrames, makeFrame, openSocket, visitorToken, wsUrl } from './helpers.mjs';

const CF = { country: 'DE', region: 'Berlin', city: 'Berlin', continent: 'EU', timezone: 'Europe/Berlin', asn: 3320 };
const SAFARI = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

let relay;
before(async () => {
  relay = await startRelay({ partitions: 1, cf: CF, origins: [ORIGIN] });
});
after(async () => {
  await relay?.stop();
});

async function post(visitor, ua) {
  const [frame] = encodeFrames([makeFrame({ visitor, events: [{ kind: 'page', name: 'Home' }] })]);
  const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: frame, headers: { 'user-agent': ua } });
  assert.equal(res.status, 200, await res.text());
}

test('an event sent over HTTP carries place, device and bot verdict in its context', async () => {
  await post('v-phone', SAFARI);
  await post('v-bot', GOOGLEBOT);
  const events = await relay.readAll('events');
  const phone = events.find((e) => e.visitor === 'v-phone');
  assert.deepEqual(phone.context.geo, { country: 'DE', region: 'Berlin', city: 'Berlin', continent: 'EU', timezone: 'Europe/Berlin', asn: 3320 });
  assert.deepEqual(phone.context.device, { type: 'mobile', browser: 'Safari', version: '17.5', os: 'iPhone' });
  assert.equal(phone.context.bot, false);
  const bot = events.find((e) => e.visitor === 'v-bot');
  assert.equal(bot.context.device.type, 'bot');
  assert.equal(bot.context.bot, true);
});

test('frames over the visitor socket carry the enrichment of the page\'s request', async () => {
  const visitor = 'v-socket';
  const { token } = await visitorToken(relay, visitor);
  const s = openSocket(wsUrl(relay, `/v1/visitors/${visitor}/ws?key=${WRITE_KEY}&token=${token}`), { headers: { 'user-agent': SAFARI } });
  await s.opened;
  const [frame] = encodeFrames([makeFrame({ visitor, events: [{ kind: 'track', name: 'Socket Event' }] })]);
  s.ws.send(frame);
  const ack = await s.next((m) => m.type === 'appended' || m.type === 'error');
  assert.equal(ack.type, 'appended', JSON.stringify(ack));
  s.ws.close();
  const e = (await relay.readAll('events')).find((r) => r.visitor === visitor);
  assert.equal(e.context.geo.country, 'DE');
  assert.equal(e.context.device.type, 'mobile');
});

test('a crawler\'s page view is stored and counted but fires only the triggers that opt in to bots', async () => {
  const triggers = {
    version: 1,
    triggers: [
      { id: 'welcome', when: { event: '$page' }, action: { type: 'banner', payload: {} } },
      { id: 'bots-too', include_bots: true, when: { event: '$page' }, action: { type: 'banner', payload: {} } },
    ],
  };
  const pushed = await relay.pushTriggers(triggers);
  assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  await post('v-crawler', GOOGLEBOT);
  await post('v-reader', SAFARI);
  const events = await relay.readAll('events');
  assert.ok(events.some((e) => e.visitor === 'v-crawler' && e.context.bot === true), 'the bot\'s event is stored');
  const firings = await relay.readAll('firings');
  const of = (v) => firings.filter((f) => f.visitor === v).map((f) => f.trigger).sort();
  assert.deepEqual(of('v-crawler'), ['bots-too']);
  assert.deepEqual(of('v-reader'), ['bots-too', 'welcome']);
});
