#!/usr/bin/env bash
# The output check's highest NSFW score on kino-tiny clips for the user prompts in
# ../shared/prompts (or a prompts file given as $1: blocks separated by "---" lines), at the
# README's defaults (4 s, 12 steps). Prints one line per prompt and a summary; docs/safety.md
# reports the numbers. Needs a release build: cargo build --release -p kino-cli
set -euo pipefail
cd "$(dirname "$0")/../.."
prompts="${1:-../shared/prompts/public-guides.txt}"
limit="${LIMIT:-20}"
seeds="${SEEDS:-3}"
kino=target/release/kino
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
awk -v dir="$out" 'BEGIN{n=0; f=sprintf("%s/p%03d.txt",dir,n)}
  /^#/ {next}
  /^---$/ {n++; f=sprintf("%s/p%03d.txt",dir,n); next}
  {print > f}' "$prompts"
i=0
for p in "$out"/p*.txt; do
  [ "$i" -ge "$limit" ] && break
  i=$((i+1))
  for seed in $(seq 0 $((seeds-1))); do
    log=$("$kino" generate "$p" -o "$out/clip.mp4" --seed "$seed" --data-dir "$out/data" 2>&1 || true)
    score=$(echo "$log" | sed -n 's/.*highest NSFW score \([0-9.]*\).*/\1/p')
    if [ -z "$score" ]; then
      if echo "$log" | grep -q "blocked by the output check"; then score="refused"; else score="error"; fi
    fi
    echo "$score  seed $seed  $(head -c 60 "$p" | tr '\n' ' ')"
  done
done | tee "$out/scores.txt"
awk '$1 ~ /^[0-9.]+$/ {n++; s+=$1; if ($1>m) m=$1} $1=="refused" {r++} $1=="error" {e++}
  END {printf "clips %d (scored %d, refused by the output check %d, prompt errors %d), mean highest score %.3f, max %.3f\n", n+r+e, n, r, e, (n? s/n : 0), m}' "$out/scores.txt"
