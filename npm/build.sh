#!/usr/bin/env bash
# Builds @eventstream/sdk into npm/dist: the Rust core to wasm (wasm-size
# profile: opt-level z, LTO, panic abort; no std, see sdk/Cargo.toml),
# wasm-opt -O3 (binaryen 132 from the root node_modules), then the minified
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
# --merge-similar-functions before -O3 (not after: -O3 has inlined by then)
# folds the near-identical monomorphised helpers: 124 bytes gzip.
# --low-memory-unused folds constant offsets into loads and stores (Rust's
# pointers never wrap around into the first KB); --remove-exports drops the
# linker's __data_end and __heap_base, which nothing reads;
# --reorder-functions (most called first) gzips 60 bytes smaller. -O3,
# not -Oz: 2% more raw bytes, but about 40 fewer gzipped (and brotli'd),
# which is what a page downloads, every time this was measured.
# --one-caller-inline-max-function-size=150: a function with one caller is
# inlined only when small (binaryen inlines any size by default); the large
# ones stay functions of their own, which gzip better inside the exports
# that call them: 200 more raw bytes, 50 fewer gzipped (any limit from 100
# to 200 measured within 10 bytes of that).
FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
  --enable-mutable-globals --enable-reference-types --enable-multivalue)
"$BIN/wasm-opt" --merge-similar-functions --one-caller-inline-max-function-size=150 -O3 --converge --reorder-functions --low-memory-unused "--remove-exports=__*" \
  "${FEATURES[@]}" --strip-debug --strip-producers --strip-target-features \
  target/wasm32-unknown-unknown/wasm-size/eventstream_sdk.wasm -o "$OUT/eventstream.wasm"
# The data only a trap reaches (panic messages and locations, core's digit
# table) becomes zeros: see npm/dead-data.mjs. About 420 bytes gzip.
node "$HERE/dead-data.mjs" "$OUT/eventstream.wasm" "$BIN/wasm-opt" "${FEATURES[@]}"

# socket.js (the trigger socket) is a file of its own, which index.js
# imports on first use (see npm/src/trigger.js). ES2021 keeps `a ||= b` as
# written (18 bytes); the SDK needs ES2022's Array.prototype.at anyway
# (queue.js).
#
# The minifier renames variables, never properties, unless told: PROPS are
# the SDK's own fields (of the client, its queues and frames) and the
# methods of wasm.js's Core, renamed in both files alike (one mangle cache,
# index.js first). Only names that nothing else reads may be listed: not an
# option (maxBytes), a key of an event's properties (url), of stats() or an
# error (producer, dropped, pending, status), a field the SDK reads from the
# relay's JSON (a firing's visitor is passed on as is, never read), a Web
# API's (keepalive, key, locks, open, log), socket.js's exports (open) or a
# wasm export (wasm.js: one-letter names) or the client's push (which
# bench/eventstream.mjs and tests/sdk/corpus.mjs call for clicks and
# submits); and only names index.js uses, so
# that each is named in its build, which avoids every other property it has
# (not wsTimer). A new field left out only costs its bytes. About 200 bytes
# of the gzipped package.
PROPS='^(interval|socketInterval|handlers|producers|idle|inflightKeepalive|wsAttempt|sent|seen|core|off|dead|soon|release|campaign|page0|page1|anon|userId|uidDirty|timer|noBundles|linger|lastUrl|history|reopened|ws|hex|dec|frames|busy|lo|hi|seq|bytes|attempt|dirty|cut|visitor|context|producerHex|say|base|lockManager|droppedCount|lost|queueBytes|wsOpen|aborter)$'
# A one-letter name gains nothing and may be a wasm export's.
if [[ "$PROPS" =~ [(|][a-z][|)] ]]; then echo "npm/build.sh: a one-letter name in PROPS" >&2; exit 1; fi
CACHE="$(mktemp)"
echo '{}' >"$CACHE"
for f in index socket; do
  "$BIN/esbuild" "$HERE/src/$f.js" --bundle --format=esm --minify --target=es2021 \
    --mangle-props="$PROPS" --mangle-cache="$CACHE" \
    --legal-comments=none --log-level=warning --external:./socket.js --outfile="$OUT/$f.js"
done
rm -f "$CACHE"
cp "$HERE/src/index.d.ts" "$HERE/README.md" "$ROOT/LICENSE" "$OUT/"
cp "$HERE/package.json" "$OUT/package.json"
node "$ROOT/tests/sdk/size.mjs" "$OUT"
