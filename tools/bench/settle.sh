# tools/bench/settle.sh - sourced by the benchmarks that time a mount's
# daemon: settle waits until it is idle, so a timed step does not share
# the cores with the flushes and compactions an earlier step left behind.
# settle PID: waits (at most 120 s) until the daemon has gone quiet - less
# than 20 ms of CPU in each of two half-second spells.
settle() {
	local pid=$1 prev cur quiet=0
	prev=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	for _ in $(seq 240); do
		sleep 0.5
		cur=$(awk '{print $14 + $15}' "/proc/$pid/stat")
		if [ $((cur - prev)) -lt 2 ]; then
			quiet=$((quiet + 1)); [ $quiet -ge 2 ] && return 0
		else
			quiet=0
		fi
		prev=$cur
	done
}
