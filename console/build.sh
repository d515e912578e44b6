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
FILES=(index.html console.js console.css validator_bg.wasm)
WASM_BINDGEN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen || echo "$HOME/.cargo/bin/wasm-bindgen")}"

for tool in "$BIN/esbuild" "$BIN/wasm-opt" "$WASM_BINDGEN"; do
  [ -x "$tool" ] || { echo "console/build.sh: $tool is missing (npm ci at the root; cargo install wasm-bindgen-cli --version 0.2.130)" >&2; exit 1; }
done

cd "$ROOT"
cargo build --profile wasm-size --quiet --target wasm32-unknown-unknown -p eventstream-console-validator
# Everything is made in a private staging folder and renamed into place file
# by file: several builds may run at once in one working tree (relay/build.sh
# runs this one), and a compiler embedding dist/ must never see it half made.
mkdir -p "$HERE/build"
STAGE="$(mktemp -d "$HERE/build/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
"$WASM_BINDGEN" --target web --out-dir "$STAGE/pkg" --out-name validator --no-typescript \
  --remove-name-section --remove-producers-section \
  target/wasm32-unknown-unknown/wasm-size/eventstream_console_validator.wasm
"$BIN/wasm-opt" -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  --strip-debug --strip-producers --strip-target-features \
  "$STAGE/pkg/validator_bg.wasm" -o "$STAGE/validator_bg.wasm"
# src/validator.js imports the glue from build/pkg.
mkdir -p "$PKG"
for f in validator.js validator_bg.wasm; do mv -f "$STAGE/pkg/$f" "$PKG/$f"; done

"$BIN/esbuild" "$HERE/src/main.js" --bundle --format=esm --minify --target=es2020 \
  --legal-comments=none --log-level=warning --outfile="$STAGE/console.js"
"$BIN/esbuild" "$HERE/src/console.css" --minify --log-level=warning --outfile="$STAGE/console.css"
cp "$HERE/src/index.html" "$STAGE/index.html"

mkdir -p "$OUT"
for f in "${FILES[@]}"; do mv -f "$STAGE/$f" "$OUT/$f"; done
# Exactly these files: anything else an older build left goes.
for f in "$OUT"/*; do
  case " ${FILES[*]} " in *" $(basename "$f") "*) ;; *) rm -rf "$f" ;; esac
done

node "$HERE/size.mjs" "$OUT"
