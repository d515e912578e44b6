#!/usr/bin/env bash
# Builds the trigger console into console/dist, exactly these four files,
# which the relay embeds at its build and serves at /console and
# /console/assets/<name>:
#   index.html, console.js, console.css, validator_bg.wasm
# The validator is broker-core's trigger validation and lint compiled to wasm
# (console/validator, wasm-size profile), bound with wasm-bindgen --target web
# and shrunk with wasm-opt -Oz (binaryen 132 from the root node_modules, the
# flags npm/build.sh uses); the page's modules (console/src) and CodeMirror 6
# are bundled into one minified ESM file with esbuild.
# Usage: console/build.sh        (prints the page weight at the end)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BIN="$ROOT/node_modules/.bin"
OUT="$HERE/dist"
PKG="$HERE/build/pkg"
WASM_BINDGEN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"

for tool in "$BIN/esbuild" "$BIN/wasm-opt" "$WASM_BINDGEN"; do
  [ -x "$tool" ] || { echo "console/build.sh: $tool is missing (npm ci at the root; cargo install wasm-bindgen-cli --version 0.2.130)" >&2; exit 1; }
done

cd "$ROOT"
cargo build --profile wasm-size --quiet --target wasm32-unknown-unknown -p eventstream-console-validator
rm -rf "$PKG" "$OUT"
mkdir -p "$PKG" "$OUT"
"$WASM_BINDGEN" --target web --out-dir "$PKG" --out-name validator --no-typescript \
  --remove-name-section --remove-producers-section \
  target/wasm32-unknown-unknown/wasm-size/eventstream_console_validator.wasm
"$BIN/wasm-opt" -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers --strip-target-features \
  "$PKG/validator_bg.wasm" -o "$OUT/validator_bg.wasm"

"$BIN/esbuild" "$HERE/src/main.js" --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --log-level=warning --outfile="$OUT/console.js"
"$BIN/esbuild" "$HERE/src/console.css" --minify --log-level=warning --outfile="$OUT/console.css"
cp "$HERE/src/index.html" "$OUT/index.html"

node "$HERE/size.mjs" "$OUT"
