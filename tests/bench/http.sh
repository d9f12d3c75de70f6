#!/bin/sh
# HTTP benchmark (not part of the test command): requests/s and p50/p99
# latency of agentd beside nginx (one worker), both on loopback, measured
# with wrk in the same run at 1, 64 and 512 connections:
#   GET /healthz          vs nginx serving a small static JSON file
#   GET /v1/tasks/{id}    vs nginx serving a static file of the same task
#   POST /v1/tasks        vs nginx answering 201 with a fixed body
# Each point is the median of ROUNDS runs, agentd and nginx alternating.
# For POST it also reports writes per commit (group commit) from agentd's
# metrics, and the disk's own fsync rate. Needs:
# scripts/install-deps.sh --bench.
#
#   tests/bench/http.sh [DURATION_S [ROUNDS]]
set -eu
cd "$(dirname "$0")/../.."
duration=${1:-10}
rounds=${2:-3}

scripts/install-deps.sh --bench
if [ ! -f build/build.ninja ]; then
	meson setup build -Dbuildtype=release >/dev/null
fi
ninja -C build >/dev/null

work=$(mktemp -d /tmp/agentd-bench-XXXXXX)
agentd_pid=
nginx_pid=
cleanup() {
	[ -n "$agentd_pid" ] && kill "$agentd_pid" 2>/dev/null || true
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + $$ % 20000 + $1))
}
agentd_port=$(free_port 1)
nginx_port=$(free_port 2)

build/daemon/agentd --data-dir "$work/data" --listen "127.0.0.1:$agentd_port" \
	--max-connections 4096 --max-queued 10000000 --log-file "$work/agentd.log" 2>"$work/agentd.stderr" &
agentd_pid=$!

mkdir -p "$work/www" "$work/nginx"
printf '{"status":"ok"}\n' >"$work/www/healthz.json"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log $work/nginx/access.log;
	keepalive_requests 100000000;
	server {
		listen 127.0.0.1:$nginx_port;
		root $work/www;
		default_type application/json;
		location = /v1/tasks {
			return 201 '{"id":"t_01m8js325jc4an3q5zv8qfsmcr","state":"queued"}';
		}
	}
}
CONF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!

for i in $(seq 50); do
	curl -sf "http://127.0.0.1:$agentd_port/healthz" >/dev/null 2>&1 &&
		curl -sf "http://127.0.0.1:$nginx_port/healthz.json" >/dev/null 2>&1 && break
	sleep 0.1
done

# The repository and task the reads and writes use.
mkdir -p "$work/repo"
git -C "$work/repo" init -q
body="{\"repo\":\"$work/repo\",\"instruction\":\"make parse_date accept ISO week dates\",\"test_command\":\"make check\"}"
task=$(curl -sf -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$agentd_port/v1/tasks")
task_id=$(printf '%s' "$task" | sed 's/^{"id":"\([^"]*\)".*/\1/')
printf '%s\n' "$task" >"$work/www/task.json"
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$body'
wrk.headers["Content-Type"] = "application/json"
LUA

# Prints "rps p50_ms p99_ms" for one wrk run.
run_wrk() {
	url=$1
	conns=$2
	script=${3:-}
	wrk -t1 -c"$conns" -d"${duration}s" --latency ${script:+-s "$script"} "$url" | awk '
		function ms(v) {
			if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
			if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
			if (v ~ /s$/) { sub(/s$/, "", v); return v * 1000 }
			return v
		}
		/^ +50%/ { p50 = ms($2) }
		/^ +99%/ { p99 = ms($2) }
		/^Requests\/sec:/ { rps = $2 }
		END { printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# CPU ticks (user + system) used so far by agentd's threads named $1.
thread_ticks() {
	for t in /proc/$agentd_pid/task/*; do
		[ "$(cat "$t/comm")" = "$1" ] && awk '{ print $14 + $15 }' "$t/stat"
	done | awk '{ s += $1 } END { print s + 0 }'
}

metric() {
	curl -sf "http://127.0.0.1:$agentd_port/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

echo "wrk ${duration}s x $rounds rounds per point, $(nproc) cores, $(uname -r)"
printf '| request | connections | agentd req/s | nginx req/s | ratio | agentd p50 / p99 ms | nginx p50 / p99 ms |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for workload in healthz task submit; do
	case $workload in
	healthz) a_url="http://127.0.0.1:$agentd_port/healthz" n_url="http://127.0.0.1:$nginx_port/healthz.json"
		script= label='GET /healthz' ;;
	task) a_url="http://127.0.0.1:$agentd_port/v1/tasks/$task_id" n_url="http://127.0.0.1:$nginx_port/task.json"
		script= label='GET /v1/tasks/{id}' ;;
	submit) a_url="http://127.0.0.1:$agentd_port/v1/tasks" n_url="http://127.0.0.1:$nginx_port/v1/tasks"
		script="$work/post.lua" label='POST /v1/tasks' ;;
	esac
	for conns in 1 64 512; do
		: >"$work/a" && : >"$work/n"
		writes0=$(metric agentd_store_writes_total)
		commits0=$(metric agentd_store_commits_total)
		loop0=$(thread_ticks agentd)
		store0=$(thread_ticks agentd-store)
		for r in $(seq "$rounds"); do
			run_wrk "$a_url" "$conns" "$script" >>"$work/a"
			loop0=$((loop0 - $(thread_ticks agentd)))
			store0=$((store0 - $(thread_ticks agentd-store)))
			run_wrk "$n_url" "$conns" "$script" >>"$work/n"
			loop0=$((loop0 + $(thread_ticks agentd)))
			store0=$((store0 + $(thread_ticks agentd-store)))
		done
		loop_ticks=$(($(thread_ticks agentd) - loop0))
		store_ticks=$(($(thread_ticks agentd-store) - store0))
		a_rps=$(cut -d' ' -f1 "$work/a" | median)
		n_rps=$(cut -d' ' -f1 "$work/n" | median)
		a_p50=$(cut -d' ' -f2 "$work/a" | median)
		a_p99=$(cut -d' ' -f3 "$work/a" | median)
		n_p50=$(cut -d' ' -f2 "$work/n" | median)
		n_p99=$(cut -d' ' -f3 "$work/n" | median)
		ratio=$(awk -v a="$a_rps" -v n="$n_rps" 'BEGIN { printf "%.2f", a / n }')
		printf '| %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "$label" "$conns" "$a_rps" "$n_rps" "$ratio" \
			"$a_p50" "$a_p99" "$n_p50" "$n_p99"
		if [ "$workload" = submit ]; then
			writes=$(($(metric agentd_store_writes_total) - writes0))
			commits=$(($(metric agentd_store_commits_total) - commits0))
			echo "$conns $writes $commits $loop_ticks $store_ticks" >>"$work/group"
		fi
	done
done

echo
echo "Group commit during POST /v1/tasks:"
hz=$(getconf CLK_TCK)
while read -r conns writes commits loop_ticks store_ticks; do
	awk -v c="$conns" -v w="$writes" -v k="$commits" -v d="$duration" -v r="$rounds" -v l="$loop_ticks" \
		-v s="$store_ticks" -v hz="$hz" 'BEGIN {
		t = d * r
		printf "  %s connections: %d submits in %d commits = %.1f submits per fsync, %.0f commits/s;", \
			c, w, k, w / k, k / t
		printf " CPU busy: loop thread %.0f%%, store thread %.0f%%\n", 100 * l / hz / t, 100 * s / hz / t }'
done <"$work/group"
# The disk's own rate of small synchronous overwrites, for scale.
dd if=/dev/zero of="$work/fsync-probe" bs=4k count=500 2>/dev/null
start=$(date +%s.%N)
dd if=/dev/zero of="$work/fsync-probe" bs=4k count=500 oflag=dsync conv=notrunc 2>/dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "  disk: %.0f synchronous 4k overwrites/s (dd oflag=dsync)\n", 500 / (e - s) }'
