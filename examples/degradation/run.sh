#!/bin/sh
# Trains the four nets of nets.rn on the bundled digits with the same seed
# and budget, and writes results.md (final training loss, held-out
# accuracy, time) and one loss/accuracy chart per net (curve-<net>.svg).
# Usage: examples/degradation/run.sh [EPOCHS] (default 5); run from the
# repository root after `cargo build --release`.
set -eu
epochs="${1:-5}"
bin="${RESNETC:-target/release/resnetc}"
dir="examples/degradation"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
{
  echo "| net | layers | final training loss | final training accuracy | held-out accuracy | time |"
  echo "|---|---|---|---|---|---|"
} > "$dir/results.md.tmp"
for net in plain8 resnet8 plain32 resnet32; do
  start=$(date +%s)
  "$bin" train "$dir/nets.rn" --model "$net" --data digits --epochs "$epochs" --seed 0 \
    --threads 2 -o "$out/$net.safetensors" --plot "$dir/curve-$net.svg" > "$out/$net.log"
  end=$(date +%s)
  layers=$(echo "$net" | tr -dc '0-9')
  # The last epoch line: "epoch E/E lr … train loss L train acc A% held-out loss … held-out acc H% (… s)".
  awk -v net="$net" -v layers="$layers" -v secs="$((end - start))" '/^epoch/ { last = $0 }
    END {
      n = split(last, w, " ")
      for (i = 1; i <= n; i++) {
        if (w[i] == "train" && w[i + 1] == "loss") loss = w[i + 2]
        if (w[i] == "train" && w[i + 1] == "acc") acc = w[i + 2]
        if (w[i] == "held-out" && w[i + 1] == "acc") test = w[i + 2]
      }
      printf "| %s | %s | %s | %s | %s | %s s |\n", net, layers, loss, acc, test, secs
    }' "$out/$net.log" >> "$dir/results.md.tmp"
done
mv "$dir/results.md.tmp" "$dir/results.md"
cat "$dir/results.md"
