#!/usr/bin/env bash
# Golden comparison for refactors that must not change any output.
#
#   scripts/golden.sh BINARY OUTDIR > listing.sha256
#
# Runs `BINARY run` with every stage on (exact dedup, filters, near-dup, PII, tokenize with
# the SmolLM2 tokenizer) over the shared corpora (domain + general train sets and the
# near-dup docs) with 1 and with 2 threads, plus `BINARY tokenize` over the general train
# set, and prints the sha256 of every kept, rejected and token shard and of each manifest,
# relative paths sorted. Two binaries give the same outputs exactly when their listings are
# identical. Outputs are written under OUTDIR with relative paths (the manifests record
# them), so the listing does not depend on where OUTDIR is.
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 CPT_CURATE_BINARY OUTDIR" >&2
    exit 2
fi
bin=$(realpath "$1")
out=$2
data=$(cd "$(dirname "$0")/../../shared/data" && pwd) || {
    echo "golden.sh: ../shared/data (next to the repository) is missing" >&2
    exit 1
}
tokenizer=$data/tokenizers/smollm2-135m.tokenizer.json
inputs=(
    "$data/domain/licenses-train.jsonl.zst"
    "$data/general/sotu-train.jsonl.zst"
    "$data/neardup/docs.jsonl.zst"
)
for f in "$tokenizer" "${inputs[@]}"; do
    [ -f "$f" ] || { echo "golden.sh: missing $f" >&2; exit 1; }
done

mkdir -p "$out"
cd "$out"
for threads in 1 2; do
    rm -rf "run-t$threads"
    args=()
    for f in "${inputs[@]}"; do args+=(-i "$f"); done
    "$bin" run "${args[@]}" -o "run-t$threads" -j "$threads" --quiet --overwrite \
        --set exact_dedup.enabled=true \
        --set filters.length.enabled=true \
        --set filters.repetition.enabled=true \
        --set filters.quality.enabled=true \
        --set minhash.enabled=true \
        --set pii.enabled=true \
        --set tokenize.enabled=true \
        --set "tokenize.tokenizer=$tokenizer" \
        --set tokenize.shard_tokens=1000000 \
        --set tokenize.frame_tokens=65536 >/dev/null
done
rm -rf tokenize-t2
"$bin" tokenize -i "$data/general/sotu-train.jsonl.zst" -t "$tokenizer" -o tokenize-t2 \
    --threads 2 --shard-tokens 500000 --quiet >/dev/null

# Every kept / rejected / token shard and each manifest, by relative path.
find run-t1 run-t2 tokenize-t2 -type f \
    \( -path '*/kept/*' -o -path '*/rejected/*' -o -name '*.cpts' -o -name manifest.json \) \
    ! -name '.*' -print0 |
    LC_ALL=C sort -z |
    xargs -0 sha256sum
