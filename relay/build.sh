#!/usr/bin/env bash
# Builds the relay worker into relay/build/ with worker-build (release),
# offline: wasm-bindgen, wasm-opt and esbuild come from this machine, never
# from a download. Usage: relay/build.sh
set -euo pipefail
RELAY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$RELAY/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$ROOT/node_modules/.bin/wasm-opt}"
export ESBUILD_BIN="${ESBUILD_BIN:-$ROOT/node_modules/.bin/esbuild}"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
for bin in "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$ESBUILD_BIN"; do
	[ -x "$bin" ] || { echo "relay/build.sh: $bin is missing (see scripts/lib.sh)" >&2; exit 1; }
done
command -v worker-build >/dev/null || { echo "relay/build.sh: worker-build is missing: cargo install worker-build --version 0.8.7 --locked" >&2; exit 1; }
# The worker embeds the trigger console's page (src/assets.rs).
"$ROOT/console/build.sh"
cd "$RELAY"
exec worker-build --release
