// Serves the demo shop on 127.0.0.1 (default port 8788), the way a user's
// site would serve its pages: static files, an SPA fallback to index.html,
// and /config.json telling the page where the relay is.
//
//   node examples/serve.mjs [--port 8788] [--relay http://127.0.0.1:8787]
//        [--write-key KEY] [--subscriber-token TOKEN]
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { extname, join, normalize, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, 'shop');
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith('--') ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
const port = Number(args.port ?? process.env.PORT ?? 8788);
const config = {
  endpoint: args.relay ?? 'http://127.0.0.1:8787',
  writeKey: args['write-key'] ?? 'dev-write-key',
  // The live stream view reads the back-office API; a real site never ships this token.
  subscriberToken: args['subscriber-token'] ?? 'dev-subscriber-token',
};

// The page's import map is an inline script: the CSP allows it by its hash
// rather than with 'unsafe-inline'.
const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(readFileSync(join(root, 'index.html'), 'utf8'))[1];
const importMapHash = createHash('sha256').update(importMap).digest('base64');

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
};

async function file(path) {
  try {
    const s = await stat(path);
    if (s.isFile()) return await readFile(path);
  } catch {}
  return null;
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (url.pathname === '/config.json') {
    // The partition count, for the live stream view, asked of the relay server-side.
    let partitions = null;
    try {
      partitions = (await (await fetch(`${config.endpoint}/health`, { signal: AbortSignal.timeout(2000) })).json()).partitions;
    } catch {}
    res.writeHead(200, { 'content-type': types['.json'], 'cache-control': 'no-store' });
    return res.end(JSON.stringify({ ...config, partitions }));
  }
  const path = normalize(join(root, decodeURIComponent(url.pathname)));
  if (!path.startsWith(root)) {
    res.writeHead(403);
    return res.end();
  }
  let body = await file(path);
  let type = types[extname(path)];
  if (!body && !extname(path)) {
    // SPA route: /product/p-0191, /cart ... all render index.html.
    body = await file(join(root, url.pathname.startsWith('/stream') ? 'stream.html' : 'index.html'));
    type = types['.html'];
  }
  if (!body) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found');
  }
  res.writeHead(200, {
    'content-type': type ?? 'application/octet-stream',
    'cache-control': 'no-store',
    // The SDK is WebAssembly: a CSP must allow 'wasm-unsafe-eval'.
    'content-security-policy': `default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-${importMapHash}'; connect-src 'self' ${config.endpoint} ${config.endpoint.replace(/^http/, 'ws')}; style-src 'self' 'unsafe-inline'; img-src 'self' data:`,
  });
  res.end(body);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`demo shop on http://127.0.0.1:${port}/ (relay ${config.endpoint})`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
