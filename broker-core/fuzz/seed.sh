#!/bin/sh
# Seeds the fuzzer's working corpus (fuzz/corpus/decode/, not committed) with
# the committed inputs: tests/golden/corpus/ (the golden frames as binary and
# inputs picked from earlier runs) and tests/golden/crashes/. Run from
# broker-core/. tests/frame_golden.rs replays the same folders.
set -eu
mkdir -p fuzz/corpus/decode
for f in tests/golden/corpus/* tests/golden/crashes/*; do
    case "$f" in *.md) continue ;; esac
    [ -f "$f" ] && cp "$f" fuzz/corpus/decode/
done
