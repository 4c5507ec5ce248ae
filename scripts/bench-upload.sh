#!/usr/bin/env bash
# Upload conversion: decode + resample a 60 s MP3 and a 60 s FLAC to the canonical 16 kHz mono
# WAV with Hark's code (symphonia + rubato, as the portal and API do), beside ffmpeg doing the
# same conversion on the same files in the same run. Median of RUNS (default 7) each. Hark is
# timed twice: the `normalize` example (the conversion alone, one file per process) and
# `hark decode-upload`, the limited child the portal runs for every upload (its start, its
# second start under its limits, the conversion and the answer on stdout).
# Needs ffmpeg (apt-get install ffmpeg).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
command -v ffmpeg >/dev/null || { echo "needs ffmpeg (apt-get install ffmpeg)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
# A voice-like test signal: a 44.1 kHz stereo chirp with noise, as a phone or laptop records.
ffmpeg -loglevel error -f lavfi -i "aevalsrc=0.4*sin(2*PI*(200+150*sin(2*PI*0.7*t))*t)+0.05*(random(0)-0.5)|0.4*sin(2*PI*(210+150*sin(2*PI*0.7*t))*t):s=44100:d=60" \
  -c:a libmp3lame -b:a 128k "$dir/60s.mp3"
ffmpeg -loglevel error -f lavfi -i "aevalsrc=0.4*sin(2*PI*(200+150*sin(2*PI*0.7*t))*t)+0.05*(random(0)-0.5)|0.4*sin(2*PI*(210+150*sin(2*PI*0.7*t))*t):s=44100:d=60" \
  -c:a flac "$dir/60s.flac"
cargo build --release -q -p hark-core --example normalize
cargo build --release -q --bin hark
lscpu | grep -E "Model name|^CPU\(s\)"
# Median and minimum wall time (ms) of RUNS runs of a command, process start included for both.
timed() {
  local times=() s e input=${STDIN:-/dev/null}
  for _ in $(seq "$runs"); do
    s=$(date +%s%N); "$@" <"$input" >/dev/null; e=$(date +%s%N)
    times+=("$(( (e - s) / 1000 ))")
  done
  local median min
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
  min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  printf 'median %d.%d ms\tmin %d.%d ms\n' $((median / 1000)) $((median % 1000 / 100)) \
    $((min / 1000)) $((min % 1000 / 100))
}
for f in 60s.mp3 60s.flac; do
  printf '%s\thark   ' "$f"; timed target/release/examples/normalize 1 "$dir/$f"
  printf '%s\tchild  ' "$f"; STDIN="$dir/$f" timed target/release/hark decode-upload \
    --max-seconds 120 --memory-mib 512 --cpu-seconds 30
  printf '%s\tffmpeg ' "$f"; timed ffmpeg -loglevel error -threads 1 -y -i "$dir/$f" -ac 1 -ar 16000 -c:a pcm_s16le "$dir/out.wav"
done
echo "== Hark in-process (no process start), for reference"
target/release/examples/normalize "$runs" "$dir/60s.mp3" "$dir/60s.flac"
