#!/usr/bin/env bash
# The long crash and contention campaign (CI runs a short one inside
# `cargo test`): many SIGKILLed passes against slow stand-ins, and sixteen
# processes mixing every cycle command for a minute, then the invariants.
#   scripts/campaign.sh                 # 200 trials, 60 s of contention
#   TRIALS=1000 SECS=300 scripts/campaign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HOSS_CAMPAIGN_TRIALS=${TRIALS:-200} HOSS_CONTENTION_SECS=${SECS:-60} \
  cargo test --release --test cli campaign -- --nocapture --test-threads=1 2>&1 | grep -E "^(crash campaign|contention|test |test result)"
cat target/campaign-crash.txt target/campaign-contention.txt
