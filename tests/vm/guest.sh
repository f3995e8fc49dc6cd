#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# tests/vm/guest.sh - /init of the VM tests' initramfs: runs ember check, record, agent and export
# next to known workloads, then sends a tar of the results over the second serial port and powers off.
#
# Every result is a file in /tmp/results (see tests/vm/test_kernels.py for
# what is checked).  Durations come from the kernel command line, which the
# kernel passes to init as environment variables:
#   EMBER_REC       seconds ember record samples (25)
#   EMBER_LATE      seconds after sampling began before the late process starts (7)
#   EMBER_LATE_CPU  its CPU seconds (1)
#   EMBER_AGENT     the agent samples twice this: a warm-up half, then a half
#                   exported on its own (4); between them the wall clock steps
#                   back an hour, then forward again
#   EMBER_REC_FLAGS more record flags, e.g. -vv
# Under emulation ember spends its first 2-5 s building the unwind tables
# of the processes already running (their samples are frame-pointer walks
# meanwhile), so the recording is long enough for that to stay under a
# tenth, and the late process starts once it is over: it tests a process
# started after sampling began, not ember's start-up.
# As PID 1 this script must never exit: it powers off.

PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
REC=${EMBER_REC:-25}
LATE=${EMBER_LATE:-7}
LATE_CPU=${EMBER_LATE_CPU:-1}
AGENT=${EMBER_AGENT:-4}
W=/vm/workloads
R=/tmp/results
# A load takes 2-8 s under emulation; a verifier walking to its 1M-instruction
# limit takes 60-90 s.  Every step is bounded so results always come back,
# with SIGKILL: a signal the program handles interrupts the verifier with
# EAGAIN, and libbpf loads again.
LOAD_MAX=120

/bin/busybox --install -s /usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
ip link set lo up
mkdir -p $R
cd $R || exit 1

say() { echo "ember-vm: $*" >/dev/console; }

# stamp NAME: one timing line, "NAME EPOCH UPTIME", to tune durations from the host.
stamp() { echo "$1 $(date +%s) $(cut -d' ' -f1 /proc/uptime)" >>timings.txt; }

# wait_sampling PID: waits until ember PID holds perf event fds, i.e. it loaded
# its BPF programs and samples; returns 1 if it exited or after LOAD_MAX s.
wait_sampling() {
	n=0
	while [ $n -lt $((LOAD_MAX * 5)) ]; do
		[ -d "/proc/$1" ] || return 1
		for fd in "/proc/$1"/fd/*; do
			case $(readlink "$fd" 2>/dev/null) in
			*perf_event*) return 0 ;;
			esac
		done
		sleep 0.2
		n=$((n + 1))
	done
	return 1
}

# wait_log FILE TEXT: waits until FILE holds TEXT, 30 s at most (uptime, not the wall clock).
wait_log() {
	n=0
	while [ $n -lt 150 ] && ! grep -q "$2" "$1" 2>/dev/null; do
		sleep 0.2
		n=$((n + 1))
	done
}

# send_results: the results as base64 of a tar.gz between two marker lines
# on ttyS1; closing the tty waits until the UART has sent everything.
send_results() {
	stty -F /dev/ttyS1 raw -echo 2>/dev/null
	(
		echo "EMBER-RESULTS-BEGIN"
		tar -c -C /tmp results | gzip | base64
		echo "EMBER-RESULTS-END"
	) >/dev/ttyS1
}

stamp boot
say "booted $(uname -r), running the scenario"
uname -r >uname.txt
cat /proc/cmdline >cmdline.txt
{
	ls -l /sys/kernel/btf/vmlinux
	nproc
	grep MemTotal /proc/meminfo
} >env.txt 2>&1

say "ember check"
timeout -s KILL $LOAD_MAX ember check >check.txt 2>check.err
echo $? >check.rc
say "ember check exited $(cat check.rc)"
stamp check

# Workloads run at a lower priority so ember is not starved of the two CPUs
# while it loads and symbolizes; sampling does not depend on priority.
renice 10 -p $$ >/dev/null
$W/cpu_chain 100000 >/dev/null 2>&1 &
CPU=$!
$W/nofp_chain 100000 >/dev/null 2>&1 &
NOFP=$!
python3.11 -S -B -c '
def py_leaf(n):
    x = 0
    for i in range(n):
        x += i * i
    return x
def py_middle(n):
    return py_leaf(n)
def py_outer():
    while True:
        py_middle(100000)
py_outer()
' &
PY=$!
renice 0 -p $$ >/dev/null
for p in $CPU $NOFP $PY; do
	echo "$p $(cut -d' ' -f2,19 "/proc/$p/stat")"
done >workloads.txt
stamp workloads
sleep 2

stamp rec_start
say "ember record, $REC s"
# shellcheck disable=SC2086 # EMBER_REC_FLAGS (e.g. -v) is split on purpose
timeout -s KILL $((LOAD_MAX + REC + 30)) ember record $EMBER_REC_FLAGS -F 99 -d "$REC" -o rec.folded 2>rec.err &
RECPID=$!
SAMPLED=
if wait_sampling $RECPID; then
	SAMPLED=1
	stamp rec_sampling
	sleep "$LATE"
	stamp late_start
	(
		$W/short_300ms "$LATE_CPU" >late.out 2>&1
		echo $? >late.rc
		stamp late_end
		# processes of 30 ms of CPU each: named only if their mappings
		# reach user space (at exit, with the first sample, or read in time)
		i=0
		while [ $i -lt 8 ]; do
			$W/short_lived 0.03 >/dev/null 2>&1
			i=$((i + 1))
		done
		stamp short_end
	) &
	LATEPID=$!
	ps >ps.txt 2>&1
else
	kill -9 $RECPID 2>/dev/null
fi
wait $RECPID
echo $? >rec.rc
stamp rec_end
[ -n "$LATEPID" ] && wait "$LATEPID"
say "record exited $(cat rec.rc)"

# The agent loads the same programs: where record could not, it is not
# tried again (another minute of verifier), and says so.
AGENT_FROM=$(date +%s)
stamp agent_start
say "ember agent"
if [ -n "$SAMPLED" ]; then
	ember agent --db /tmp/ember.db --window 2 --listen 127.0.0.1:7070 2>agent.err &
	APID=$!
else
	echo "not run: ember record did not start sampling" >agent.err
	APID=
fi
if [ -n "$APID" ] && wait_sampling $APID; then
	stamp agent_sampling
	sleep "$AGENT"
	# A second half, exported on its own: stacks once ember has warmed up.
	LATE_FROM=$(date +%s)
	stamp agent_half
	# busybox-static's wget crashes (glibc NSS in a static binary): plain nc.
	printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' |
		timeout 30 nc 127.0.0.1 7070 >metrics.txt 2>metrics.err
	echo $? >metrics.rc
	# The wall clock steps back an hour, then forward again, under the
	# agent: windows must stay in order, none empty, and the agent alive.
	# Each step waits (30 s at most) until the agent ended a window after it.
	date -s "@$(($(date +%s) - 3600))" >/dev/null
	stamp clock_back
	wait_log agent.err "stepped back"
	date -s "@$(($(date +%s) + 3600))" >/dev/null
	stamp clock_forward
	wait_log agent.err "stepped forward"
	sleep "$AGENT"
fi
if [ -n "$APID" ]; then
	kill -INT $APID 2>/dev/null
	(sleep 60 && kill -9 $APID 2>/dev/null) &
	WATCH=$!
	wait $APID
	echo $? >agent.rc
	kill $WATCH 2>/dev/null
else
	echo skipped >agent.rc
fi
stamp agent_end
say "agent exited $(cat agent.rc)"

timeout -s KILL $LOAD_MAX ember export --db /tmp/ember.db --from $((AGENT_FROM - 5)) --to now \
	--format folded -o export.folded 2>export.err
echo $? >export.rc
if [ -n "$LATE_FROM" ]; then
	timeout -s KILL $LOAD_MAX ember export --db /tmp/ember.db --from "$LATE_FROM" --to now \
		--format folded -o export_late.folded 2>export_late.err
	echo $? >export_late.rc
fi
stamp export_end

kill $CPU $NOFP $PY 2>/dev/null
dmesg >dmesg.txt
stamp send
say "sending results"
send_results
say "powering off"
sync
poweroff -f
echo o >/proc/sysrq-trigger
while :; do sleep 60; done
