#!/usr/bin/env bash
# Fills a model store that holds no checkpoint with the demo checkpoint built into the CPU image
# (docker/Dockerfile.cpu trains it), so a fresh `docker compose up` has a model to serve. A store that
# holds any checkpoint (a directory with relevance.json, valid or not) is left exactly as it is.
# docker-compose.yml runs it once, as the service `models-init`, before the scorers start.
#
#   RELEVANCE_MODELS_DIR  the store to fill (default /models)
#   DEMO_MODELS_DIR       where the image keeps the demo checkpoint (default /opt/relevance/demo-models)
#
# Each checkpoint is copied under a hidden name and renamed into place, so a scorer (or a reload) never
# sees a half-copied one. Exits 0 when the store holds a checkpoint afterwards, 1 with the reason if not.
set -euo pipefail

store="${RELEVANCE_MODELS_DIR:-/models}"
source_dir="${DEMO_MODELS_DIR:-/opt/relevance/demo-models}"
partial=""

log() { printf 'seed-models: %s\n' "$*" >&2; }
fail() {
  log "error: $*"
  exit 1
}
cleanup() { if [[ -n $partial ]]; then rm -rf -- "$partial"; fi; }
trap cleanup EXIT

# Names of the directories under $1 that hold a model card, one a line.
checkpoints() {
  local card
  for card in "$1"/*/relevance.json; do
    if [[ -f $card ]]; then
      basename -- "$(dirname -- "$card")"
    fi
  done
}

[[ -d $store ]] || fail "model store $store is not a directory: mount the models volume there"

mapfile -t present < <(checkpoints "$store")
if ((${#present[@]})); then
  log "$store holds ${present[*]}: left as it is"
  exit 0
fi

mapfile -t demo < <(checkpoints "$source_dir")
((${#demo[@]})) || fail "$store holds no checkpoint and $source_dir has no demo checkpoint to copy:" \
  "train one (python -m training run --config training/configs/demo.yaml) and copy it into the store"
[[ -w $store ]] || fail "$store holds no checkpoint and uid $(id -u) cannot write to it (read-only" \
  "mount, or owned by another user: chown it to 10001, or copy a checkpoint in by hand)"

for name in "${demo[@]}"; do
  [[ ! -e $store/$name ]] || fail "$store/$name exists but holds no relevance.json (an interrupted" \
    "copy?): remove it and run again"
  partial="$store/.seed-$name.$$"
  rm -rf -- "$partial"
  cp -R -- "$source_dir/$name" "$partial" || fail "copying $source_dir/$name into $store failed"
  mv -- "$partial" "$store/$name" || fail "renaming $partial to $store/$name failed"
  partial=""
  log "copied the demo checkpoint $name into $store"
done
