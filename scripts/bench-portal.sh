#!/usr/bin/env bash
# Portal page latency under load: wrk against a signed-in person's dashboard (database reads,
# askama rendering) and profile page, beside /healthz (the same server, no database, no
# template) and a static file, in the same run, on the embedded defaults (SQLite, in-process
# bus). Needs wrk (apt-get install wrk) and a release build (built here).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
duration=${1:-20s}
conns=${2:-16}
cargo build --release -q --bin hark
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
HARK_DATA_DIR="$dir" HARK_PORTAL__LISTEN="127.0.0.1:$port" HARK_IVR__SIP_LISTEN="127.0.0.1:0" \
  HARK_PORTAL__API_PER_MINUTE=0 HARK_PORTAL__SENDS_PER_MINUTE=0 \
  RUST_LOG=warn target/release/hark serve --demo >"$dir/hark.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done

# Sign in as Bob (102) through the form, as a browser does.
jar="$dir/cookies"
csrf=$(curl -s -c "$jar" "$base/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -b "$jar" -c "$jar" -o /dev/null -d "extension=102&password=hark-demo&csrf=$csrf&next=/" "$base/login"
session=$(awk '$6 == "hark_session" {print $7}' "$jar")
[ -n "$session" ] || { echo "could not sign in" >&2; exit 1; }
# Give the dashboard something to show: 20 messages from Alice.
token=$(curl -s -X POST "$base/api/v1/login" -H 'content-type: application/json' \
  -d '{"extension":"101","password":"hark-demo"}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
ffmpeg -loglevel error -f lavfi -i "sine=f=440:d=3" -ar 16000 -ac 1 "$dir/m.wav" 2>/dev/null \
  || python3 -c "import wave,struct,math;w=wave.open('$dir/m.wav','w');w.setnchannels(1);w.setsampwidth(2);w.setframerate(16000);w.writeframes(b''.join(struct.pack('<h',int(8000*math.sin(i/16000*2*math.pi*440))) for i in range(48000)))"
for _ in $(seq 20); do
  curl -s -o /dev/null -X POST "$base/api/v1/messages?to=102" -H "Authorization: Bearer $token" --data-binary @"$dir/m.wav"
done

lscpu | grep -E "Model name|^CPU\(s\)"
run() {
  local name=$1 path=$2; shift 2
  echo "== $name ($path), wrk -t2 -c$conns -d$duration"
  wrk -t2 -c"$conns" -d"$duration" --latency "$@" "$base$path" \
    | grep -E "Requests/sec|Latency  |  50%|  90%|  99%|Non-2xx|Socket errors"
}
run "reference: health check" /healthz
run "reference: static file" /static/hark.css
# As a browser opens a page: it asks for HTML, so the page also takes the notice a form left
# (one more query per page since issue 19).
page=(-H "Cookie: hark_session=$session" -H "Accept: text/html,application/xhtml+xml,*/*;q=0.8")
run "dashboard (20 messages, contacts, presence)" / "${page[@]}"
run "profile" /profile "${page[@]}"
