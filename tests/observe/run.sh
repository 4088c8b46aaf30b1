#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Observability checks (make check-observe):
#  - the Prometheus alert rules: `promtool check rules`, their unit tests
#    (`promtool test rules`), and that those tests fail when the rules
#    lose their "for:" durations (tests that cannot fail prove nothing);
#  - the report JSON Schema (docs/report.schema.json): every report that
#    lifelinectl and lifeline-early produce on fake roots in several states
#    (fresh, blessed, a crash loop's decision report and safe mode with a
#    quarantine, cleared and waiting for the reboot, given up, an
#    unreadable record, accepted and rejected fleet commands) is valid, both
#    printed by `report --dry-run` and as sent to tests/collector.py
#    --schema; broken copies of them are invalid, and the collector answers
#    such a report 400 naming the field.
# Usage: tests/observe/run.sh [BUILD_DIR]   (default build; run from the top)
# Needs promtool (Debian: prometheus) and python3-jsonschema.
set -u
build=${1:-build}
top=$(pwd)
obs=$top/tests/observe
ctl=$top/$build/bin/lifelinectl
early=$top/$build/initramfs-hook/lifeline-early
py=${PYTHON:-python3}
passed=0
failed=0

ok() {
	passed=$((passed + 1))
	echo "ok: $*"
}
bad() {
	failed=$((failed + 1))
	echo "FAIL: $*"
}
# check NAME COMMAND...: the command succeeds
check() {
	name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then ok "$name"; else
		bad "$name"
		sed 's/^/    /' "$tmp/out"
	fi
}

for tool in promtool "$py"; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool not found (tests/deps.sh installs it)" >&2
		exit 1
	}
done
for f in "$ctl" "$early"; do
	[ -x "$f" ] || {
		echo "run.sh: $f missing: run 'make all' first" >&2
		exit 1
	}
done
tmp=$(mktemp -d /tmp/lifeline-observe.XXXXXX)
collector_pid=
cleanup() {
	[ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# ---- alert rules ----
rules=$top/config/prometheus/lifeline-alerts.yml
check "promtool check rules lifeline-alerts.yml" promtool check rules "$rules"
check "promtool test rules alerts.test.yml" promtool test rules "$obs/alerts.test.yml"
# the same tests against rules whose "for:" is gone must fail
mkdir -p "$tmp/mut/config/prometheus" "$tmp/mut/tests/observe"
sed 's/^\( *\)for: .*/\1for: 0m/' "$rules" >"$tmp/mut/config/prometheus/lifeline-alerts.yml"
cp "$obs/alerts.test.yml" "$tmp/mut/tests/observe/"
if promtool test rules "$tmp/mut/tests/observe/alerts.test.yml" >"$tmp/out" 2>&1; then
	bad "alert tests catch rules without their for: durations"
else
	ok "alert tests catch rules without their for: durations"
fi

# ---- report schema ----
schema=$top/docs/report.schema.json
checkschema() { "$py" "$obs/check-schema.py" --schema "$schema" "$@"; }
# count PATTERN...: how many files the patterns name
count() {
	n=0
	for f in "$@"; do [ -e "$f" ] && n=$((n + 1)); done
	echo "$n"
}
check "report.schema.json is a valid draft 2020-12 schema" \
	"$py" -c "import sys; sys.path.insert(0, '$obs'); import report_schema; report_schema.load('$schema')"

# A collector that checks every report it is sent.
mkdir -p "$tmp/recv"
"$py" "$top/tests/collector.py" --port 0 --dir "$tmp/recv" --timeout 600 --schema "$schema" \
	>"$tmp/port" 2>"$tmp/collector.err" &
collector_pid=$!
for _ in $(seq 50); do
	[ -s "$tmp/port" ] && break
	sleep 0.1
done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || {
	echo "run.sh: the collector did not start:" >&2
	cat "$tmp/collector.err" >&2
	exit 1
}
url=http://127.0.0.1:$port/report

export EFIVARFS_PATH="$tmp/efivars/"
mkdir -p "$tmp/efivars" "$tmp/samples"
var="$tmp/efivars/LifelineState-77117627-ad6b-4cc0-8022-2661bb477dc2"
R=$tmp/root
mkdir -p "$R/etc/lifeline/components.d" "$R/opt/badsec/bin" "$R/sys/fs/pstore"
printf '[boot]\nthreshold = 3\nescalate_after = 2\nstore = efi\n[report]\nurl = %s\n' "$url" \
	>"$R/etc/lifeline/lifeline.conf"
# with a degrade step, so that the decision report and the safe-mode
# report carry the degrade fields (docs/degrade.md)
printf '[badsec]\nvendor = BadSec Security\nmodules = badsec\nunits = badsec.service\nfiles = /opt/badsec/bin/*\nkernel_units = badsec.service\ndegrade_set = /etc/badsec/badsec.conf sensor.mode user\n' \
	>"$R/etc/lifeline/components.d/badsec.conf"
mkdir -p "$R/etc/badsec"
printf '[sensor]\nmode = kernel\n' >"$R/etc/badsec/badsec.conf"
echo '#!/bin/sh' >"$R/opt/badsec/bin/badsecd"
echo 0123456789abcdef0123456789abcdef >"$R/etc/machine-id"
echo observe-test >"$R/etc/hostname"

boot() {
	"$early" --test --stderr --phase=init --root="$R" >>"$tmp/early.log" 2>&1 &&
		"$early" --test --stderr --phase=rootfs --root="$R" --run-dir="$R/run/lifeline" \
			>>"$tmp/early.log" 2>&1
}
crash() {
	cat >"$R/sys/fs/pstore/dmesg-efi-17323712341000$1" <<'EOF'
Oops#1 Part1
<1>[    9.120000] BUG: kernel NULL pointer dereference, address: 0000000000000000
<4>[    9.120100] Modules linked in: badsec(OE+) efi_pstore i6300esb
<4>[    9.120300] RIP: 0010:badsec_crash+0x5/0x10 [badsec]
<0>[    9.130000] Kernel panic - not syncing: Fatal exception
EOF
}
# sample NAME: the dry-run report of the root now, and the same report
# sent (with whatever the spool holds) to the collector
sample() {
	if "$ctl" --root="$R" report --dry-run >"$tmp/samples/$1.json" 2>"$tmp/out"; then
		ok "report --dry-run ($1)"
	else
		bad "report --dry-run ($1)"
		sed 's/^/    /' "$tmp/out"
	fi
	if "$ctl" --root="$R" report >"$tmp/out" 2>&1; then ok "report sent ($1)"; else
		bad "report sent ($1): the collector refused it or was not reached"
		sed 's/^/    /' "$tmp/out" "$tmp/recv/invalid.log" 2>/dev/null
	fi
}
# spooled NAME: copies the spool's reports (before they are sent) as samples
spooled() {
	n=0
	for f in "$R"/var/lib/lifeline/spool/*.json; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		cp "$f" "$tmp/samples/$1-$n.json"
	done
	if [ "$n" -gt 0 ]; then ok "spooled report(s) kept ($1: $n)"; else bad "no spooled report ($1)"; fi
}

sample fresh # no record yet
boot
sample first-boot
"$ctl" --root="$R" bless >/dev/null 2>&1
sample blessed
for i in 1 2 3 4; do # a crash loop: boots fail until the fourth in a row decides
	crash "$i"
	boot
done
spooled decision # the initramfs's report, before the quarantine moved a file
if grep -q '"before-quarantine"' "$tmp"/samples/decision-*.json; then
	ok "decision report spooled by lifeline-early"
else
	bad "no decision report in the spool"
fi
if grep -q '"degrade":\["badsec"\]' "$tmp"/samples/decision-*.json; then
	ok "the decision report names the component to be degraded"
else
	bad "no \"degrade\" in the decision report"
fi
sample safe-quarantined
if grep -q '"degraded": *true' "$tmp/samples/safe-quarantined.json"; then
	ok "the safe-mode report marks the degraded component"
else
	bad "no \"degraded\": true in the safe-mode report"
fi
"$ctl" --root="$R" clear --all >/dev/null 2>&1
sample cleared-reboot-pending
if grep -q '"reboot_required":true' "$tmp/samples/cleared-reboot-pending.json"; then
	ok "reboot_required after a clear"
else
	bad "no reboot_required after a clear"
fi

# fleet commands: an accepted one and a rejected (tampered) one
mkdir -p "$R/etc/lifeline/fleet.d"
"$ctl" keygen "$tmp/fleet.key" "$R/etc/lifeline/fleet.d/fleet.pub" >/dev/null 2>&1
"$ctl" sign-command --key "$tmp/fleet.key" --action bless --target all --expires +600 \
	>"$tmp/bless.cmd" 2>"$tmp/out"
"$ctl" --root="$R" apply-command "$tmp/bless.cmd" >/dev/null 2>&1
sed 's/"bless"/"clear"/' "$tmp/bless.cmd" >"$tmp/tampered.cmd"
"$ctl" --root="$R" apply-command "$tmp/tampered.cmd" >/dev/null 2>&1
spooled command
if grep -q '"result":"accepted"' "$tmp"/samples/command-*.json &&
	grep -q '"result":"rejected"' "$tmp"/samples/command-*.json; then
	ok "accepted and rejected command reports spooled"
else
	bad "command reports missing from the spool"
fi
sample after-commands

# given up: keep failing through every level
for i in 4 5 6 7 8 9 10 11 12 13 14 15; do
	crash "$i"
	boot
done
sample given-up
grep -q '"mode":"given-up"' "$tmp/samples/given-up.json" ||
	bad "the given-up sample is not in given-up mode"

# an unreadable record
printf 'garbage that is no state record' >"$var.new" && chattr -i "$var" 2>/dev/null
mv -f "$var.new" "$var"
sample unreadable
grep -q '"error"' "$tmp/samples/unreadable.json" ||
	bad "the unreadable sample has no state error"

check "every sample report is valid ($(count "$tmp"/samples/*.json) files)" \
	checkschema "$tmp"/samples/*.json
check "every report the collector got is valid ($(count "$tmp"/recv/*.json) files)" \
	checkschema "$tmp"/recv/*.json
if [ -s "$tmp/recv/invalid.log" ]; then
	bad "the collector refused reports:"
	sed 's/^/    /' "$tmp/recv/invalid.log"
else
	ok "the collector refused no report"
fi

# the example in docs/reports.md is a valid report too
"$py" - "$top/docs/reports.md" "$tmp/doc-example.json" <<'EOF'
import re, sys
blocks = re.findall(r"```json\n(.*?)```", open(sys.argv[1]).read(), re.S)
open(sys.argv[2], "w").write(blocks[0] if blocks else "")
EOF
check "the example report in docs/reports.md is valid" checkschema "$tmp/doc-example.json"

# ---- the schema catches broken reports ----
"$py" - "$tmp/samples" "$tmp/broken" <<'EOF'
import glob, json, os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
def load(name):
    return json.load(open(glob.glob(os.path.join(src, name))[0]))
def put(name, d):
    json.dump(d, open(os.path.join(out, name + ".json"), "w"))
safe = load("safe-quarantined.json")
d = load("safe-quarantined.json"); d["state"]["failures"] = "4"; put("failures-a-string", d)
d = load("safe-quarantined.json"); del d["machine"]["hostname"]; put("no-hostname", d)
d = load("safe-quarantined.json"); d["this_boot"]["reboot"] = True; put("this-boot-extra-key", d)
d = load("safe-quarantined.json"); d["quarantined"][0]["level"] = 7; put("level-7", d)
d = load("safe-quarantined.json"); d["event"] = "command"; put("command-event-without-command", d)
d = load("safe-quarantined.json"); d["id"] = d["id"].upper(); put("id-not-lowercase-hex", d)
d = load("safe-quarantined.json"); del d["quarantined"]; put("no-quarantined", d)
d = load("unreadable.json"); d["state"]["failures"] = 1; put("error-state-with-numbers", d)
d = load("decision-1.json"); d["decision"]["phase"] = "after-quarantine"; put("decision-wrong-phase", d)
d = load("decision-1.json"); d["quarantined"] = []; put("decision-with-quarantined", d)
for c in glob.glob(os.path.join(src, "command-*.json")):
    d = json.load(open(c))
    if d["command"]["result"] == "accepted":
        del d["command"]["applied"]; put("accepted-without-applied", d)
    else:
        d["command"]["reason"] = "accepted"; put("rejected-for-reason-accepted", d)
EOF
for f in "$tmp"/broken/*.json; do
	name=$(basename "$f" .json)
	if checkschema "$f" >"$tmp/out" 2>&1; then
		bad "broken report '$name' passes the schema"
	else
		ok "broken report '$name' is invalid: $(sed -n '1s/^INVALID [^:]*: //p' "$tmp/out")"
	fi
done
# the collector answers one with 400 and names the field
code=$("$py" - "$url" "$tmp/broken/failures-a-string.json" <<'EOF'
import sys, urllib.error, urllib.request
req = urllib.request.Request(sys.argv[1], data=open(sys.argv[2], "rb").read(),
                             headers={"Content-Type": "application/json"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
EOF
)
if [ "$code" = 400 ] && grep -q 'invalid report: \$\.state\.failures:' "$tmp/collector.err"; then
	ok "the collector answers an invalid report 400 and names \$.state.failures"
else
	bad "the collector answered an invalid report $code; its log: $(cat "$tmp/collector.err")"
fi

echo "observe: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
