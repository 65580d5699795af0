#!/usr/bin/env bash
# The fault figures: a 20-image mirror (Docker and OCI, single images and indexes) through the
# seeded fault proxy in front of both registries, once per seed, with bounded faults (12 a side:
# 5xx, 429 + Retry-After, cut, corrupt and stalled bodies, unanswered and lost writes).
# Prints, per seed, the faults injected on each side and the images that landed verified.
#
#   bash bench/faults.sh            # seeds 1,2,3
#   FAULT_SEEDS=4,5,6,7 bash bench/faults.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export FAULT_SEEDS="${FAULT_SEEDS:-1,2,3}"
cargo test --locked --test it faults::a_twenty_image_mirror_under_bounded_faults_lands_whole \
  -- --exact --nocapture 2>&1 | grep -E '^faults:|^test result' 
