#!/usr/bin/env bash
# Regenerate ivr/prompts/*.wav from ivr/prompts/prompts.txt with espeak-ng and sox
# (apt-get install espeak-ng sox). Each prompt becomes 8 kHz, mono, 16-bit PCM WAV with a
# the silence at both ends trimmed and a short fade-in, ready to send as G.711. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/../ivr/prompts"
voice="${HARK_PROMPT_VOICE:-en-us}"
speed="${HARK_PROMPT_SPEED:-155}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count=0
while IFS='|' read -r name text; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ "$name" == beep ]]; then
    sox -n -r 8000 -c 1 -b 16 "$name.wav" synth 0.3 sine 1000 vol 0.5 fade t 0.01 0.3 0.01
  else
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/raw.wav" "$text"
    sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 "$name.wav" \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse fade t 0.01 norm -3
  fi
  count=$((count + 1))
done < prompts.txt
echo "wrote $count prompts to $(pwd)"
