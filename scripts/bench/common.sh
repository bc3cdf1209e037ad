# Helpers the bench-*.sh scripts share; source it. Processes started with `... & PIDS+=($!)`
# are ended by `stop_started` (each script traps it on EXIT), and only those.
PIDS=()
stop_started() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
# Waits up to 10 s for URL to answer 2xx; says which did not.
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The median of the numbers on stdin, one per line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
# The median of the space-separated numbers in $1 (rounds collected as "a b c ").
median_of() { tr ' ' '\n' <<<"$1" | grep . | median; }
