#!/bin/sh
# HTTP benchmark (not part of the test command): requests/s and p50/p99
# latency of agentd's GET /healthz beside nginx (one worker) serving a small
# static JSON file, both on loopback, measured with wrk in the same run at 1,
# 64 and 512 connections. Each point is the median of ROUNDS runs, agentd and
# nginx alternating. Needs: scripts/install-deps.sh --bench.
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
	--max-connections 4096 --log-file "$work/agentd.log" 2>"$work/agentd.stderr" &
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

# Prints "rps p50_ms p99_ms" for one wrk run.
run_wrk() {
	url=$1
	conns=$2
	wrk -t1 -c"$conns" -d"${duration}s" --latency "$url" | awk '
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

echo "wrk ${duration}s x $rounds rounds per point, $(nproc) cores, $(uname -r)"
printf '| connections | agentd req/s | nginx req/s | ratio | agentd p50 / p99 ms | nginx p50 / p99 ms |\n'
printf '| --- | --- | --- | --- | --- | --- |\n'
for conns in 1 64 512; do
	: >"$work/a" && : >"$work/n"
	for r in $(seq "$rounds"); do
		run_wrk "http://127.0.0.1:$agentd_port/healthz" "$conns" >>"$work/a"
		run_wrk "http://127.0.0.1:$nginx_port/healthz.json" "$conns" >>"$work/n"
	done
	a_rps=$(cut -d' ' -f1 "$work/a" | median)
	n_rps=$(cut -d' ' -f1 "$work/n" | median)
	a_p50=$(cut -d' ' -f2 "$work/a" | median)
	a_p99=$(cut -d' ' -f3 "$work/a" | median)
	n_p50=$(cut -d' ' -f2 "$work/n" | median)
	n_p99=$(cut -d' ' -f3 "$work/n" | median)
	ratio=$(awk -v a="$a_rps" -v n="$n_rps" 'BEGIN { printf "%.2f", a / n }')
	printf '| %s | %s | %s | %s | %s / %s | %s / %s |\n' "$conns" "$a_rps" "$n_rps" "$ratio" \
		"$a_p50" "$a_p99" "$n_p50" "$n_p99"
done
