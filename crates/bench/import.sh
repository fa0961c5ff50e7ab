#!/usr/bin/env bash
# Measures a provider import through the real CLI against a real release node: N generated
# courses (default 10,000) published as one signed, durable, all-or-nothing batch, and the
# node's on-disk size afterwards. Run by hand: bash crates/bench/import.sh [COURSES]
set -euo pipefail
cd "$(dirname "$0")/../.."
courses="${1:-10000}"
cargo build --release --quiet -p prospectus
bin=./target/release/prospectus
work=$(mktemp -d)
trap 'kill "$node" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" dataset generate --seed 1 --courses "$courses" --borough E09000028 --out "$work/offer.json"
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 --borough E09000028 2>"$work/node.log" &
node=$!
for _ in $(seq 1 200); do [ -s "$work/data/node.addr" ] && break; sleep 0.05; done
addr=$(cat "$work/data/node.addr")
start=$(date +%s.%N)
"$bin" publish --node "http://$addr" --token-file "$work/data/admin-token" "$work/offer.json"
end=$(date +%s.%N)
records=$(python3 -c "import json,sys; b=json.load(open('$work/offer.json')); print(sum(len(b[k]) for k in ('providers','venues','courses')))")
echo "import: $courses courses ($records records) in $(python3 -c "print(f'{$end-$start:.2f}')") s, end to end through the CLI (read, validate, stream, sign, one transaction, fsync)"
kill -TERM "$node"; wait "$node" || true
echo "on disk after a clean stop: $(du -sh "$work/data" | cut -f1) ($(du -sb "$work/data" | cut -f1) bytes); offer JSON $(du -sh "$work/offer.json" | cut -f1)"
