#!/usr/bin/env bash
# Builds @eventstream/sdk into npm/dist: the Rust core to wasm (wasm-size
# profile: opt-level z, LTO, panic abort; no std, see sdk/Cargo.toml),
# wasm-opt -Oz (binaryen 132 from the root node_modules), then the minified
# ESM (npm/src: index.js, the API and its glue to the module, and socket.js,
# the trigger socket it loads on first use) with esbuild, the
# .d.ts, README, the repository's LICENSE and package.json.
# Usage: npm/build.sh        (prints the package's sizes at the end)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/node_modules/.bin"
OUT="$HERE/dist"

cd "$ROOT"
cargo build --profile wasm-size --quiet --target wasm32-unknown-unknown -p eventstream-sdk --no-default-features
# npm/pkg held the wasm-bindgen output of earlier builds.
rm -rf "$HERE/pkg" "$OUT"
mkdir -p "$OUT"
# No wasm-bindgen: the module's exports are plain functions (sdk/src/abi.rs)
# that npm/src/wasm.js calls; wasm-opt drops names, producers and features.
# --merge-similar-functions before -Oz (not after: -Oz has inlined by then)
# folds the near-identical monomorphised helpers: 124 bytes gzip.
"$BIN/wasm-opt" --merge-similar-functions -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers --strip-target-features \
  target/wasm32-unknown-unknown/wasm-size/eventstream_sdk.wasm -o "$OUT/eventstream.wasm"

# socket.js (the trigger socket) is a file of its own, which index.js
# imports on first use (see npm/src/trigger.js).
for f in index socket; do
  "$BIN/esbuild" "$HERE/src/$f.js" --bundle --format=esm --minify --target=es2020 \
    --legal-comments=none --log-level=warning --external:./socket.js --outfile="$OUT/$f.js"
done
cp "$HERE/src/index.d.ts" "$HERE/README.md" "$ROOT/LICENSE" "$OUT/"
cp "$HERE/package.json" "$OUT/package.json"
node "$ROOT/tests/sdk/size.mjs" "$OUT"
