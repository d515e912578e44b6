#!/bin/sh
# Runs the decode fuzz target for a bounded time on one core, without
# cargo-fuzz: builds it with nightly Rust and the instrumentation cargo-fuzz
# would use (libFuzzer's coverage counters and comparison tracing, address
# sanitizer, debug assertions, overflow checks), seeds the working corpus
# (seed.sh), then runs libFuzzer. Crash inputs land in fuzz/artifacts/.
# Usage, from broker-core/: fuzz/run.sh [seconds, default 60] [libFuzzer flags...]
# With cargo-fuzz installed, `cargo +nightly fuzz run decode` does the same.
set -eu
SECONDS_TO_RUN=${1:-60}
[ $# -gt 0 ] && shift
TARGET=x86_64-unknown-linux-gnu
RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks \
-Zsanitizer=address -Cforce-frame-pointers" \
    cargo +nightly build --manifest-path fuzz/Cargo.toml --release --target "$TARGET" --bin decode
sh fuzz/seed.sh
mkdir -p fuzz/artifacts
exec fuzz/target/"$TARGET"/release/decode fuzz/corpus/decode \
    -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -rss_limit_mb=1024 \
    -artifact_prefix=fuzz/artifacts/ -print_final_stats=1 "$@"
