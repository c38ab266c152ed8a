# Shared by scripts/bench-voice and scripts/bench-text: builds release binaries, starts
# `voxgate serve` on loopback with a fresh data dir, and creates a key, an agent and a widget.
# Sets: url key agent widget pid harness_pin. VOXGATE_LOADTEST_BIN runs another harness build
# (to compare two), VOXGATE_SERVER_BIN another server build; VOXGATE_SERVER_ARGS adds flags to
# `voxgate serve`. Source it after `cd` to the repository root.
[ "${BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --locked -q -p voxgate-http -p voxgate-loadtest
data=$(mktemp -d)
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data" "$out"' EXIT
ulimit -n 65536 2>/dev/null || true
server_pin=(); harness_pin=()
if [ "${BENCH_PIN:-0}" = 1 ]; then server_pin=(taskset -c 0); harness_pin=(taskset -c 1); fi
# The whole load comes from one address with one key: the per-address, per-session and per-key
# rate limits are off (the widget's sessions_per_minute too, below), as for any load test.
VOXGATE_LOG=warn "${server_pin[@]}" "${VOXGATE_SERVER_BIN:-./target/release/voxgate}" serve --http 127.0.0.1:0 --data-dir "$data" \
  --voice-minutes-per-month 100000000 --rate-limit-per-address "${BENCH_RATE_LIMIT_PER_ADDRESS:-0}" --rate-limit-messages-per-session 0 \
  --rate-limit-offers-per-session 0 --rate-limit-per-key 0 ${VOXGATE_SERVER_ARGS:-} >"$out" &
pid=$!
for _ in $(seq 1 200); do grep -q "listening on" "$out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^voxgate listening on //p' "$out")
key=$(VOXGATE_LOG=warn ./target/release/voxgate keys create --data-dir "$data" --workspace bench)
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
# The agent echoes voice at once and answers text from a little knowledge about voxgate.
agent=$(curl -sf "$url/v1/agents" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{
  "name": "bench", "echo_delay_ms": 0, "greeting": "Hello! Ask me about voxgate.",
  "knowledge": [
    {"title": "Billing", "text": "Voice is billed per started minute of connected media. Every visitor text message counts as one message."},
    {"title": "Origins", "text": "Each widget lists the origins allowed to embed it; a save applies to the next request."},
    {"title": "Tokens", "text": "A session token lives ten minutes by default; the backend can refresh it."}]}' | json)
widget=$(curl -sf "$url/v1/widgets" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"name\": \"bench\", \"agent_id\": \"$agent\", \"environment\": \"staging\", \"modes\": [\"voice\", \"text\"], \"allowed_origins\": [\"http://localhost\"], \"sessions_per_minute\": 0}" | json)
mkdir -p target/bench
