#!/usr/bin/env bash
# Run by `npm test` before anything else: makes sure every tool the tests use is on this machine,
# so that no test is skipped or cancelled for want of one. Where apt-get is there and we are root
# (or sudo works without a password), it installs the missing Debian packages; moto's server comes
# from PyPI, tried only where pip reaches its index. Whatever is still missing is listed, one line
# each with the command that installs it, and the run stops here with exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test-prepare: %s\n' "$*"; }

# The tests find these the same way (test/helpers/media.ts, browser.ts, moto.ts).
FFMPEG=${NOMMER_FFMPEG:-ffmpeg}
FFPROBE=${NOMMER_FFPROBE:-ffprobe}
CHROMIUM=${NOMMER_CHROMIUM:-/usr/bin/chromium}

has() { command -v "$1" >/dev/null 2>&1; }

# Prints "tool<TAB>Debian package<TAB>what needs it" for each missing tool.
missing() {
  has "$FFMPEG" || printf '%s\t%s\t%s\n' "$FFMPEG" ffmpeg 'every encode'
  has "$FFPROBE" || printf '%s\t%s\t%s\n' "$FFPROBE" ffmpeg 'probing inputs and outputs'
  has tmux || printf '%s\t%s\t%s\n' tmux tmux 'the live view end to end'
  has shellcheck || printf '%s\t%s\t%s\n' shellcheck shellcheck "the EC2 user-data script's check"
  [ -x "$CHROMIUM" ] || printf '%s\t%s\t%s\n' "$CHROMIUM" chromium 'the dashboard and player tests'
  has moto_server || printf '%s\t%s\t%s\n' moto_server - 'the aws tests (an AWS-API server on 127.0.0.1)'
}

# A command we may run as root: empty when we are root, "sudo -n" where sudo needs no password.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    echo ''
  elif has sudo && sudo -n true 2>/dev/null; then
    echo 'sudo -n'
  else
    return 1
  fi
}

install_debian() {
  local pkgs=("$@") sudo t0
  has apt-get || return 0
  sudo=$(as_root) || return 0
  t0=$SECONDS
  say "installing Debian packages: ${pkgs[*]} (apt-get update, then apt-get install)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || { say 'apt-get update failed'; return 0; }
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null || say 'apt-get install failed'
  say "apt-get took $((SECONDS - t0)) s"
}

# moto_server into a venv of its own (Debian's Python refuses `pip install` outside one), linked
# onto PATH. Time-boxed: an unreachable index fails in seconds, not after pip's retries.
install_moto() {
  local venv bin t0 pip
  has python3 || return 0
  t0=$SECONDS
  venv=${XDG_DATA_HOME:-$HOME/.local/share}/nommer/moto-venv
  if [ "$(id -u)" -eq 0 ]; then bin=/usr/local/bin; else bin=$HOME/.local/bin; fi
  # Ask the index first, with the system's pip where there is one (a venv takes a while to make).
  pip=(python3 -m pip)
  if ! python3 -m pip --version >/dev/null 2>&1; then
    timeout 120 python3 -m venv "$venv" >/dev/null 2>&1 || {
      say 'python3 -m venv does not work here (Debian: apt-get install python3-venv)'
      return 0
    }
    pip=("$venv/bin/pip")
  fi
  if ! timeout 20 "${pip[@]}" index versions moto --timeout 5 --retries 0 >/dev/null 2>&1; then
    say "pip cannot reach its package index from here ($((SECONDS - t0)) s): not installing moto"
    return 0
  fi
  say "installing moto_server with pip into $venv"
  timeout 120 python3 -m venv "$venv" >/dev/null 2>&1 || {
    say 'python3 -m venv does not work here (Debian: apt-get install python3-venv)'
    return 0
  }
  if timeout 300 "$venv/bin/pip" install --quiet --timeout 10 --retries 1 'moto[server]>=5.1,<6'; then
    mkdir -p "$bin" && ln -sf "$venv/bin/moto_server" "$bin/moto_server"
    say "pip took $((SECONDS - t0)) s; moto_server linked into $bin"
  else
    say "pip install failed ($((SECONDS - t0)) s)"
  fi
}

gone=$(missing)
if [ -n "$gone" ]; then
  mapfile -t pkgs < <(cut -f2 <<<"$gone" | grep -vx -- - | sort -u)
  # Debian's Python needs python3-venv for moto's venv.
  if grep -q '^moto_server' <<<"$gone" && has python3 && ! python3 -c 'import ensurepip' 2>/dev/null; then
    pkgs+=(python3-venv)
  fi
  [ ${#pkgs[@]} -gt 0 ] && install_debian "${pkgs[@]}"
  has moto_server || install_moto
  hash -r
  gone=$(missing)
fi

if [ -n "$gone" ]; then
  echo 'test-prepare: the tests need tools that are not on this machine; install them, then run npm test again:' >&2
  while IFS=$'\t' read -r tool pkg why; do
    case $tool in
      moto_server) how="pip install 'moto[server]'  (moto 5.x; in a venv on Debian)" ;;
      "$CHROMIUM") how="apt-get install chromium  (or set NOMMER_CHROMIUM to a Chromium binary)" ;;
      *) how="apt-get install $pkg" ;;
    esac
    printf '  %-22s for %s: %s\n' "$tool" "$why" "$how" >&2
  done <<<"$gone"
  exit 2
fi

# Two fault tests mount a tmpfs (a full disk, a read-only store): say up front if they cannot.
probe=$(mktemp -d)
if mount -t tmpfs -o size=64k tmpfs "$probe" 2>/dev/null; then
  umount "$probe"
else
  say 'note: cannot mount a tmpfs here (needs root, as CI runs): the full-disk and read-only-store fault tests will be skipped'
fi
rmdir "$probe"
say "ffmpeg, ffprobe, tmux, shellcheck, chromium and moto_server are all here"
