#!/usr/bin/env bash
# usage: test-run.sh NODE_TEST_ARGS...
# Run by `npm test` for its test phase: `node --test NODE_TEST_ARGS...` with a moto zygote beside
# it (test/helpers/moto-zygote.py), which loads moto once and forks each test file's moto server
# from there (a moto_server start costs ~2.6 CPU-s, and the suite starts over twenty). Exits with
# node's status. The zygote is stopped when this script ends, however it ends: its stdin is a pipe
# from this shell, and it exits at that pipe's EOF.
# Where the zygote cannot start, the test files start moto_server themselves, as when one test
# file is run alone.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

say() { printf 'test-run: %s\n' "$*" >&2; }

dir=$(mktemp -d)
zygote_pid=''
stop_zygote() {
  if [ -n "$zygote_pid" ]; then
    kill "$zygote_pid" 2>/dev/null
    wait "$zygote_pid" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap stop_zygote EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if found=$(bash scripts/moto-python.sh); then
  { read -r script && read -r python; } <<<"$found"
  # Files that start moto_server themselves (below, or a server the zygote cannot make) skip pyenv.
  export NOMMER_MOTO_SERVER=$script
  coproc ZYGOTE { exec "$python" test/helpers/moto-zygote.py "$dir/moto.sock"; }
  # shellcheck disable=SC2153  # bash sets ZYGOTE_PID for the coproc
  zygote_pid=$ZYGOTE_PID
  # It says "ready" once moto is loaded and it listens; EOF if it died. The timeout is for a hang.
  if read -r -t 300 -u "${ZYGOTE[0]}" line && [ "$line" = ready ]; then
    export NOMMER_MOTO_ZYGOTE=$dir/moto.sock
  else
    say "the moto zygote ($python) did not start: each test file starts its own moto_server"
  fi
else
  say "no Python found for moto_server: each test file starts its own moto_server"
fi

node --test "$@"
