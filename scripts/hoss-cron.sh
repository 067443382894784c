#!/usr/bin/env bash
# Runs one hoss command the way cron should: from HOSS_HOME, with the
# settings of HOSS_HOME/hoss.env, appending everything it says to
# HOSS_HOME/logs/<command>.log (the folder is made if missing; `summary`
# and `summary --period week` share summary.log), and exits
# with hoss's own code. One line of the crontab, one command: a failing pass
# never keeps another from running.
#
#   HOSS_HOME=/srv/hoss HOSS_BIN=/srv/hoss/bin/hoss hoss-cron.sh send-outreach
#
# hoss.env is read by bash with `set -a`: KEY=value, one per line, no spaces
# around `=`, values with spaces, `#`, `$` or quotes in single quotes.
set -u
home=${HOSS_HOME:?set HOSS_HOME to the folder that holds hoss.env and the database}
bin=${HOSS_BIN:-$home/bin/hoss}
cd "$home" || exit 78
mkdir -p logs || exit 73
name=$(printf '%s' "${1:-hoss}" | tr -c 'a-zA-Z0-9_.-' '-')
log="logs/$name.log"
if [ -f hoss.env ]; then
  set -a
  # shellcheck disable=SC1091
  . ./hoss.env || { echo "$(date -u +%FT%TZ) cannot read hoss.env" >> "$log"; exit 78; }
  set +a
fi
echo "=== $(date -u +%FT%TZ) hoss $*" >> "$log"
"$bin" "$@" >> "$log" 2>&1
code=$?
echo "=== exit $code" >> "$log"
exit $code
