#!/usr/bin/env bash
# RELEASE_MODE=FALSE on defaults: every pass runs, nothing leaves the machine
# (a trap every outside address points at sees zero connections), and the log
# shows the DRY_RUN behaviour.
source "$(dirname "$0")/lib.sh"
start_trap
HOSS_ENV="RELEASE_MODE=FALSE SENDGRID_API_BASE=$TRAP_URL STRIPE_API_BASE=$TRAP_URL LEAD_SEARCH_API_URL=$TRAP_URL/search SMTP_HOST=127.0.0.1 SMTP_PORT=$TRAP_PORT"

step "check";            hoss check --json > check.json; expect_in '"effective":"DRY_RUN"' check.json
step "cycle";            hoss cycle 2> cycle.log || fail "cycle exited $?"
                         expect_in "[EMAIL][DRY_RUN]" cycle.log
                         expect_in "[LEADS][RUN] provider=DUMMY_SEED result=OK" cycle.log
step "more passes";      hoss lead set-status 1 responded >/dev/null
                         hoss onboard 2>>cycle.log >/dev/null; hoss ops 2>>cycle.log; hoss bill 2>>cycle.log >/dev/null
                         hoss send-test-email --to operator@hoss-operator.com 2>>cycle.log >/dev/null
                         hoss summary --email 2> summary.log >/dev/null; expect_in "[SUMMARY][DRY_RUN]" summary.log
                         hoss status >/dev/null
step "zero connections"; n=$(trap_connections); [ "$n" = "0" ] || fail "the trap saw $n connection(s)"
grep -q "\[DRY_RUN_FALLBACK\]" cycle.log && fail "defaults should not need any fallback"
echo "smoke-dry-run: OK (0 connections, DRY_RUN lines present)"
