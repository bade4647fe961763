#!/usr/bin/env bash
# `make bench`: every benchmark under bench/, each printing figures measured side by side in one run.
# Sizes from BENCH_* variables; BENCH_CAMPAIGN_FLAGS adds bench/campaign.py flags (e.g. "--skip waves --workers 2").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

echo "== cfsim: sustained requests/s for a realistic call mix"
$PY bench/cfsim_rate.py --seconds "${BENCH_SECONDS:-10}"
echo
echo "== upgrade throughput against the CF-side bound"
$PY bench/upgrade_throughput.py --services "${BENCH_SERVICES:-200}"
echo
echo "== notification latency: state change to message in the SMTP catcher"
$PY bench/mail_latency.py
echo
echo "== request page polls answered 304, and every page rendered, against a trivial view (gunicorn)"
$PY bench/dashboard.py
echo
echo "== fleet inventory: CF calls per service of a sync, and the Fleet page at scale"
$PY bench/fleet.py --services "${BENCH_FLEET:-5000}"
echo
echo "== campaigns: waves against the ideal schedule, throughput against cfsim's bound, pages at scale"
$PY bench/campaign.py --waves-services "${BENCH_CAMPAIGN_WAVES:-500}" \
    --throughput-services "${BENCH_CAMPAIGN_THROUGHPUT:-1000}" --page-services "${BENCH_CAMPAIGN_PAGES:-5000}" \
    ${BENCH_CAMPAIGN_FLAGS:-}
echo
echo "== sign-in: the password check of the portal's hasher beside Django's defaults"
$PY bench/login.py
echo
echo "== sign-in through cfsim's UAA (authorization code flow) and the ownership check at intake"
$PY bench/signin.py
