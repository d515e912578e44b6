#!/bin/sh
# Seeds the fuzz corpus with the golden frames (binary), from broker-core/.
set -eu
mkdir -p fuzz/corpus/decode
for f in tests/golden/*.hex; do
    tr -d ' \n' < "$f" | xxd -r -p > "fuzz/corpus/decode/$(basename "$f" .hex)"
done
