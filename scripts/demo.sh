#!/usr/bin/env bash
# The whole pipeline in a fresh sandbox, on defaults (DRY_RUN everywhere):
# dummy leads, DRY_RUN outreach, a reply marked, onboarding, done work,
# invoices, a payment, the portal, status and the digest.
#   scripts/demo.sh            (builds hoss; or set HOSS_BIN)
source "$(dirname "$0")/lib.sh"

step "source leads (DUMMY_SEED)";  hoss source-leads --json | tee leads.json
step "outreach (DRY_RUN)";         hoss send-outreach 2> outreach.log; expect_in "[EMAIL][DRY_RUN]" outreach.log
step "a lead replied";             hoss lead set-status 1 responded
step "onboard";                    hoss onboard --json | tee onboard.json; expect_in '"customers_created":1' onboard.json
step "work";                       hoss task add --customer 1 --description "Kick-off call" --amount 150.00 >/dev/null
                                   hoss task add --customer 1 --description "Monthly report" --amount 80 >/dev/null
                                   hoss task done 1 >/dev/null; hoss task done 2 >/dev/null
step "bill";                       hoss bill --json | tee bill.json; expect_in '"invoices_created":1' bill.json
step "a payment by hand";          hoss invoice mark-paid 1 >/dev/null
                                   hoss task add --customer 1 --description "Follow-up" --amount 45.50 >/dev/null
                                   hoss task done 3 >/dev/null; hoss bill >/dev/null
step "portal";                     hoss portal-export --json | tee portal.json; expect_in '"pages":1' portal.json
                                   page=$(ls portal/*/index.html); expect_in "45.50 USD" "$page"
step "status";                     hoss status > status.txt; cat status.txt; expect_in "release mode: OFF" status.txt
step "summary";                    hoss summary > summary.txt; cat summary.txt
                                   expect_in "10 new (DUMMY_SEED 10)" summary.txt
                                   expect_in "payments:  1 received, 230.00 USD" summary.txt
echo "demo: OK"
