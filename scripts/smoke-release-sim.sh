#!/usr/bin/env bash
# RELEASE_MODE=TRUE with fake (wrong or incomplete) credentials: no crash,
# every pass exits 0, the [DRY_RUN_FALLBACK] lines are there and loud, the
# deploy gate (`hoss check`) exits 78, and nothing reaches the network.
source "$(dirname "$0")/lib.sh"
start_trap
HOSS_ENV="RELEASE_MODE=TRUE EMAIL_MODE=SENDGRID SENDGRID_API_KEY=SG.fake SENDGRID_API_BASE=$TRAP_URL \
LEAD_SOURCE_PROVIDER=SEARCH_API LEAD_SEARCH_API_URL=http://leads.invalid/api LEAD_SEARCH_API_KEY=fake \
ENABLE_STRIPE=TRUE STRIPE_API_KEY=pk_live_notasecretkey STRIPE_API_BASE=$TRAP_URL MAX_EMAILS_PER_HOUR=150"

step "check (deploy gate)"; set +e; hoss check > check.txt 2> check.log; code=$?; set -e
                            [ "$code" = "78" ] || fail "check exited $code, expected 78"
                            expect_in "[RELEASE_MODE][ON]" check.log
                            expect_in "[RELEASE_MODE][HIGH_VOLUME_WARNING]" check.log
for s in email leads stripe; do
  grep -q "ERROR \[DRY_RUN_FALLBACK\] subsystem=$s reason=" check.log || fail "no loud fallback for $s"
done
step "cycle";               hoss cycle 2> cycle.log || fail "cycle exited $?"
                            expect_in "[LEADS][NO_CREDS]" cycle.log
step "other passes";        hoss send-test-email --to operator@hoss-operator.com >/dev/null 2>&1 || fail "send-test-email"
                            hoss summary --email >/dev/null 2>&1 || fail "summary"
                            hoss status > status.txt 2>/dev/null; expect_in "requested SENDGRID but runs DRY_RUN" status.txt
grep -q "fake\|notasecretkey" check.txt check.log cycle.log status.txt && fail "a credential value leaked"
step "zero connections";    n=$(trap_connections); [ "$n" = "0" ] || fail "the trap saw $n connection(s)"
echo "smoke-release-sim: OK (fallbacks logged, check exits 78, 0 connections)"
