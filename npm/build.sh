#!/usr/bin/env bash
# Builds @eventstream/sdk into npm/dist: the Rust core to wasm (release
# profile: opt-level z, LTO, panic abort; no std, see sdk/Cargo.toml),
# wasm-bindgen glue (--target web),
# wasm-opt -Oz (binaryen 132 from the root node_modules), then one minified
# ESM file with esbuild, the .d.ts, README and package.json.
# Usage: npm/build.sh        (prints the package's sizes at the end)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/node_modules/.bin"
WASM_BINDGEN="${WASM_BINDGEN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"
OUT="$HERE/dist"
PKG="$HERE/pkg" # intermediate: wasm-bindgen output (git-ignored)

cd "$ROOT"
cargo build --release --quiet --target wasm32-unknown-unknown -p eventstream-sdk --no-default-features
rm -rf "$PKG" "$OUT"
mkdir -p "$PKG" "$OUT"
"$WASM_BINDGEN" --target web --out-dir "$PKG" --out-name eventstream_sdk \
  --no-typescript --remove-name-section --remove-producers-section \
  target/wasm32-unknown-unknown/release/eventstream_sdk.wasm
"$BIN/wasm-opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  "$PKG/eventstream_sdk_bg.wasm" -o "$OUT/eventstream.wasm"

# The glue looks for its wasm next to itself under the wasm-bindgen name; the
# bundle lives in dist/ beside eventstream.wasm, so point it there. Bundlers
# (Vite, webpack 5) follow `new URL('./eventstream.wasm', import.meta.url)`.
sed -i "s|new URL('eventstream_sdk_bg.wasm', import.meta.url)|new URL('./eventstream.wasm', import.meta.url)|" "$PKG/eventstream_sdk.js"
grep -q "new URL('./eventstream.wasm', import.meta.url)" "$PKG/eventstream_sdk.js" \
  || { echo "npm/build.sh: wasm-bindgen glue changed: wasm URL not found" >&2; exit 1; }

"$BIN/esbuild" "$HERE/src/index.js" --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --log-level=warning --outfile="$OUT/index.js"
cp "$HERE/src/index.d.ts" "$HERE/README.md" "$OUT/"
cp "$HERE/package.json" "$OUT/package.json"
node "$ROOT/tests/sdk/size.mjs" "$OUT"
