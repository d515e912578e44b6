// The demo shop: a small single-page app using the Eventstream SDK the way a
// front-end developer would. Page views (including SPA navigation), clicks and
// form submits are captured automatically; commerce events are tracked by hand.
import { init } from '@eventstream/sdk';

const categories = ['shoes', 'sunglasses', 'bags', 'hats', 'jackets'];
const singular = { shoes: 'shoe', sunglasses: 'sunglasses', bags: 'bag', hats: 'hat', jackets: 'jacket' };
const adjectives = ['Urban', 'Classic', 'Trail', 'Nordic', 'Studio', 'Coastal'];
const products = Array.from({ length: 30 }, (_, i) => {
  const category = categories[i % categories.length];
  const id = `p-${String(i + 1).padStart(4, '0')}`;
  return {
    product_id: id,
    sku: `SKU-${category.slice(0, 3).toUpperCase()}-${String(i + 1).padStart(5, '0')}`,
    name: `${adjectives[i % adjectives.length]} ${singular[category]} ${i + 1}`,
    category,
    price: Math.round((29 + ((i * 37) % 180) + 0.99) * 100) / 100,
    currency: 'EUR',
  };
});
// The gift card's page has a bug of the kind a tracking plan exists for: its
// view sends the price as the template renders it, a string ("25.00"), where
// every other product sends a number. examples/plan.json says price is a
// number and quarantines broken commerce events, so this view never reaches
// triggers or the archive: it waits in the relay's quarantine with its reason
// (README, "Data quality").
const giftCard = { product_id: 'p-0031', sku: 'SKU-GIF-00031', name: 'Gift card', category: 'gift-cards', price: 25, currency: 'EUR' };
const byId = Object.fromEntries([...products, giftCard].map((p) => [p.product_id, p]));
const cart = JSON.parse(sessionStorage.getItem('demo-cart') ?? '[]');
const $ = (id) => document.getElementById(id);
let es = null;

function saveCart() {
  sessionStorage.setItem('demo-cart', JSON.stringify(cart));
  $('cart-count').textContent = String(cart.reduce((n, l) => n + l.quantity, 0));
}

function card(p) {
  return `<a class="card" href="/product/${p.product_id}"><div>${p.name}</div><div class="price">€${p.price.toFixed(2)}</div><small>${p.category}</small></a>`;
}

const views = {
  home() {
    return `<h1>Welcome</h1><p>Browse a category, add things to your cart, and watch the relay react.</p>
      <div class="grid">${products.slice(0, 8).map(card).join('')}</div>
      <p>Looking for a present? <a href="/product/${giftCard.product_id}" id="gift-card-link">Gift cards</a> from €25.</p>`;
  },
  category(name) {
    const list = products.filter((p) => p.category === name);
    es?.track('Product List Viewed', { list_id: name, category: name, products: list.slice(0, 6).map((p) => ({ product_id: p.product_id, price: p.price })) });
    return `<h1>${name}</h1><div class="grid">${list.map(card).join('')}</div>`;
  },
  product(id) {
    const p = byId[id];
    if (!p) return '<h1>Not found</h1>';
    es?.track('Product Viewed', p === giftCard ? { ...p, price: p.price.toFixed(2) } : p);
    return `<h1>${p.name}</h1><p class="price">€${p.price.toFixed(2)}</p><p>Category: <a href="/category/${p.category}">${p.category}</a></p>
      <button id="add-to-cart" data-id="${p.product_id}">Add to cart</button>`;
  },
  cart() {
    const rows = cart.map((l) => `<tr><td>${byId[l.product_id].name}</td><td>${l.quantity}</td><td>€${(byId[l.product_id].price * l.quantity).toFixed(2)}</td></tr>`).join('');
    return `<h1>Your cart</h1>${cart.length ? `<table><tr><th>Item</th><th>Qty</th><th>Total</th></tr>${rows}</table><p><a href="/checkout"><button>Checkout</button></a></p>` : '<p>Empty.</p>'}`;
  },
  checkout() {
    const value = cart.reduce((s, l) => s + byId[l.product_id].price * l.quantity, 0);
    es?.track('Checkout Started', { value: Math.round(value * 100) / 100, currency: 'EUR', products: cart });
    return `<h1>Checkout</h1><form id="checkout-form"><label>Email <input name="email" type="email" required></label> <button>Place order</button></form>`;
  },
  done(orderId) {
    return `<h1>Thank you!</h1><p>Order ${orderId} is on its way.</p>`;
  },
};

function render() {
  const [, section, arg] = location.pathname.split('/');
  const view = { '': views.home, category: views.category, product: views.product, cart: views.cart, checkout: views.checkout, done: views.done }[section] ?? views.home;
  $('view').innerHTML = view(decodeURIComponent(arg ?? ''));
}

function navigate(path) {
  history.pushState({}, '', path); // the SDK captures this as a page view
  render();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href^="/"]');
  if (a && !a.target) {
    e.preventDefault();
    navigate(a.getAttribute('href'));
  }
  if (e.target.id === 'add-to-cart') {
    const p = byId[e.target.dataset.id];
    const line = cart.find((l) => l.product_id === p.product_id);
    line ? line.quantity++ : cart.push({ product_id: p.product_id, quantity: 1 });
    saveCart();
    es?.track('Product Added', { ...p, quantity: 1, cart_id: 'c-demo' });
  }
  if (e.target.id === 'sign-in') {
    es?.identify('u-demo', { plan: 'free', newsletter: false, country: 'DE' });
    e.target.textContent = 'Signed in';
  }
  if (e.target.id === 'banner-close') $('banner').hidden = true;
  if (e.target.id === 'toast-close') $('toast').hidden = true;
});

document.addEventListener('submit', (e) => {
  e.preventDefault();
  if (e.target.id === 'search') {
    const query = new FormData(e.target).get('q') ?? '';
    es?.track('Products Searched', { query });
    const hit = products.find((p) => p.name.toLowerCase().includes(String(query).toLowerCase()) || p.category.startsWith(String(query).toLowerCase()));
    navigate(hit ? `/category/${hit.category}` : '/');
  }
  if (e.target.id === 'checkout-form') {
    const orderId = `o-${Date.now().toString(36)}`;
    const total = cart.reduce((s, l) => s + byId[l.product_id].price * l.quantity, 0);
    es?.track('Order Completed', { order_id: orderId, total: Math.round(total * 100) / 100, currency: 'EUR', products: cart });
    cart.length = 0;
    saveCart();
    navigate(`/done/${orderId}`);
  }
});
window.addEventListener('popstate', render);

function showFiring(firing) {
  // User Timing for tests/e2e/figures.mjs: page view (init) to firing shown.
  performance.mark('eventstream:firing', { detail: firing.trigger });
  const li = document.createElement('li');
  li.textContent = `${new Date(firing.time).toLocaleTimeString()} ${firing.trigger} → ${firing.action.type}`;
  li.dataset.firingId = firing.firing_id;
  $('firings').append(li);
  $('firing-count').textContent = String($('firings').children.length);
}

async function main() {
  $('categories').innerHTML = categories.map((c) => `<a href="/category/${c}">${c}</a>`).join('');
  saveCart();
  const config = await (await fetch('/config.json')).json();
  try {
    const params = new URLSearchParams(location.search);
    es = await init({
      writeKey: config.writeKey,
      endpoint: config.endpoint,
      debug: params.has('debug'),
      // ?notriggers: deliver over HTTP only (no trigger socket), as the delivery tests need.
      triggers: !params.has('notriggers'),
      // ?flush=MS: another HTTP flush interval (the first-seconds tests use one no test waits for).
      ...(params.has('flush') ? { flushInterval: Number(params.get('flush')) } : {}),
    });
    // The landing page view was recorded in init.
    performance.mark('eventstream:init');
    window.es = es; // for the end-to-end tests and the curious
    es.onTrigger('banner', (f) => {
      $('banner-text').textContent = f.action.payload.text ?? 'A special offer for you';
      $('banner-code').textContent = f.action.payload.code ?? '';
      $('banner').hidden = false;
    });
    es.onTrigger('recommendation', (f) => {
      const list = products.filter((p) => (f.action.payload.list ?? '').startsWith(p.category)).slice(0, 4);
      $('recommendation-list').innerHTML = (list.length ? list : products.slice(0, 4)).map(card).join('');
      $('recommendations').hidden = false;
    });
    // Toasts, chat prompts and modal offers all render as a toast in this demo.
    for (const type of ['toast', 'chat', 'modal']) {
      es.onTrigger(type, (f) => {
        $('toast-kind').textContent = type === 'modal' ? 'Offer' : type === 'chat' ? 'Chat' : '';
        $('toast-text').textContent = f.action.payload.text ?? `Try ${f.action.payload.offer ?? 'our offer'}`;
        $('toast').hidden = false;
      });
    }
    es.onTrigger('*', showFiring);
    $('sdk-status').textContent = `Eventstream connected to ${config.endpoint}`;
  } catch (err) {
    $('sdk-status').textContent = `Eventstream failed to start: ${err.code ?? ''} ${err.message}`;
  }
  render();
}
main();
