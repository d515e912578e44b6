# Shared set-up for scripts/dev and scripts/test: installs the pinned tools
# they need, idempotently, and says clearly what is missing when it cannot.
# Sourced, not run.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT

# Pinned versions. wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock.
WASM_BINDGEN_VERSION=0.2.130
WORKER_BUILD_VERSION=0.8.7

export WRANGLER_SEND_METRICS=false
export CLOUDFLARE_CF_FETCH_ENABLED=false
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }
die() {
	printf '\nerror: %s\n' "$*" >&2
	exit 1
}

need() { # need CMD "how to get it"
	command -v "$1" >/dev/null 2>&1 || die "\`$1\` is not installed. $2"
}

ensure_base() {
	need cargo "Install Rust with rustup (https://rustup.rs), then run this again."
	need rustup "Install Rust with rustup (https://rustup.rs), then run this again."
	need node "Install Node.js 20 or newer, then run this again."
	need npm "Install Node.js 20 or newer (it brings npm), then run this again."
	local node_major
	node_major=$(node -p 'process.versions.node.split(".")[0]')
	[ "$node_major" -ge 20 ] || die "Node.js 20 or newer is needed (found $(node --version))."
}

ensure_wasm_target() {
	if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
		step "Adding the wasm32-unknown-unknown Rust target"
		rustup target add wasm32-unknown-unknown ||
			die "could not add the wasm32-unknown-unknown target (rustup target add wasm32-unknown-unknown)."
	fi
}

# ensure_cargo_tool BIN VERSION CRATE [cargo install flags...]
ensure_cargo_tool() {
	local bin=$1 version=$2 crate=$3
	shift 3
	if command -v "$bin" >/dev/null 2>&1 && "$bin" --version 2>/dev/null | grep -q "$version"; then
		return 0
	fi
	step "Installing $crate $version (once per machine; a few minutes)"
	# --force: cargo's own record may say it is installed while the binary is
	# gone or another version, which is why we are here.
	cargo install --force "$crate" --version "$version" "$@" ||
		die "could not install $crate $version with cargo install."
}

ensure_npm_packages() {
	local stamp="$ROOT/node_modules/.package-lock.json"
	if [ ! -f "$stamp" ] || [ "$ROOT/package-lock.json" -nt "$stamp" ]; then
		step "Installing npm packages (wrangler, binaryen, playwright-core, ws, typescript)"
		(cd "$ROOT" && npm ci --no-audit --no-fund) || die "npm ci failed in $ROOT."
	fi
}

ensure_chromium() {
	if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
		return 0
	fi
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		step "Installing Chromium and ChromeDriver from Debian (apt-get)"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null ||
			die "apt-get could not install chromium and chromium-driver."
	else
		die "Chromium is missing: the browser tests need /usr/bin/chromium and /usr/bin/chromedriver.
  On Debian or Ubuntu: sudo apt-get install chromium chromium-driver
  (Playwright's own browser download is not used.)"
	fi
}

# DuckDB (PyPI, pinned) in a venv under .tools/: the archive test reads the
# relay's Parquet files back with it (pytz: DuckDB's Python results need it for
# TIMESTAMP WITH TIME ZONE columns). Exports DUCKDB_PYTHON.
DUCKDB_VERSION=2.0.0
PYTZ_VERSION=2026.6
ensure_duckdb() {
	local venv="$ROOT/.tools/duckdb-venv"
	export DUCKDB_PYTHON="$venv/bin/python"
	if "$DUCKDB_PYTHON" -c "import duckdb, pytz, sys; sys.exit(duckdb.__version__ != '$DUCKDB_VERSION')" 2>/dev/null; then
		return 0
	fi
	need python3 "Install Python 3 (with its venv module), then run this again."
	step "Installing DuckDB $DUCKDB_VERSION (Python) into .tools/duckdb-venv"
	python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "duckdb==$DUCKDB_VERSION" "pytz==$PYTZ_VERSION" ||
		die "could not install duckdb $DUCKDB_VERSION and pytz $PYTZ_VERSION with pip into $venv."
}

ensure_tools() {
	ensure_base
	ensure_wasm_target
	ensure_cargo_tool wasm-bindgen "$WASM_BINDGEN_VERSION" wasm-bindgen-cli
	ensure_cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
	ensure_npm_packages
	export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
	export WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt"
	export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
	export CHROMEDRIVER=/usr/bin/chromedriver
}
