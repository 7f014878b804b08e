#!/usr/bin/env bash
# nommer quickstart: installs nommer and its dependencies, makes sure there is an ffmpeg, and
# encodes a generated sample clip to WebM. Safe to run again. Debian/Ubuntu (apt-get) for ffmpeg
# when ffmpeg-static's download is blocked; elsewhere install ffmpeg yourself first.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1mquickstart:\033[0m %s\n' "$*"; }
[ -t 1 ] || say() { printf 'quickstart: %s\n' "$*"; }
# Each step says what it does, then how long it took (a fresh machine spends minutes in npm).
T0=$SECONDS
step_start=$SECONDS
step() { step_start=$SECONDS; say "$*"; }
took() { say "  ... $1 ($((SECONDS - step_start)) s)"; }

command -v node >/dev/null || { echo "quickstart: Node.js 20 or newer is needed: https://nodejs.org (or: apt-get install nodejs npm)" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' || { echo "quickstart: Node.js 20 or newer is needed (found $(node --version))" >&2; exit 1; }

# npm ci installs exactly the lockfile's versions (and starts from a clean node_modules). nommer's
# lockfile is npm-shrinkwrap.json, so that the release tarball carries it too (fleet/release.ts).
lockfile=""
for f in npm-shrinkwrap.json package-lock.json; do [ -f "$f" ] && { lockfile=$f; break; }; done
if [ -n "$lockfile" ]; then
  step "installing nommer's dependencies from $lockfile (npm ci; builds better-sqlite3 and nommer itself)"
  npm ci --no-audit --no-fund
else
  step "installing nommer's dependencies (npm install; builds better-sqlite3 and nommer itself)"
  npm install --no-audit --no-fund
fi
took 'dependencies installed'

# ffmpeg: nommer uses NOMMER_FFMPEG, then ffmpeg-static's binary, then ffmpeg on PATH; it also
# needs ffprobe, which ffmpeg-static does not ship.
step 'looking for an ffmpeg with ffprobe (nommer doctor)'
if ./bin/nommer doctor >/dev/null 2>&1; then
  say "ffmpeg found: $(./bin/nommer doctor | head -1 | sed 's/^ffmpeg: *//')"
else
  say "no usable ffmpeg/ffprobe (ffmpeg-static's download is blocked or it lacks ffprobe): installing Debian's ffmpeg with apt-get"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  command -v apt-get >/dev/null || { echo "quickstart: no apt-get here: install ffmpeg (with ffprobe) yourself, then run this again" >&2; exit 1; }
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
  ./bin/nommer doctor >/dev/null || { ./bin/nommer doctor; exit 1; }
  say "ffmpeg installed: $(./bin/nommer doctor | head -1 | sed 's/^ffmpeg: *//')"
fi
took 'ffmpeg ready'

FFMPEG=$(./bin/nommer doctor --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).ffmpeg.path))')
mkdir -p sample
step "generating a 5 s 720p sample clip with ffmpeg's test sources: sample/clip.mov"
"$FFMPEG" -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 5 \
  -c:v mpeg4 -q:v 4 -c:a pcm_s16le sample/clip.mov
took 'sample clip made'

step "encoding it to WebM (VP9 + Opus): ./bin/nommer encode sample/clip.mov --force"
./bin/nommer encode sample/clip.mov --force
took 'sample encoded'
say "done in $((SECONDS - T0)) s. Try: ./bin/nommer presets, ./bin/nommer doctor (or \`npm link\` to put nommer on your PATH)"
