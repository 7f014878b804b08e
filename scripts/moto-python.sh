#!/usr/bin/env bash
# usage: moto-python.sh
# Prints two lines: the moto_server script that `moto_server` on PATH runs (through a pyenv shim,
# the script it stands for: the shim runs pyenv, ~40 processes, on every start), and the Python
# that script runs. Exits 1 where there is no moto_server or its Python cannot be told.
set -uo pipefail

found=$(command -v moto_server) || exit 1
pyenv=$(sed -n 's/^exec "\(.*\/pyenv\)" exec .*/\1/p' "$found")
if [ -n "$pyenv" ]; then
  script=$("$pyenv" which moto_server 2>/dev/null) || exit 1
else
  script=$found
fi

# A pip console script names its Python in its shebang, or for a long path in pip's
# "#!/bin/sh" + "'''exec' "PYTHON" "$0" "$@"" form.
first='' second=''
{ read -r first && read -r second; } <"$script"
case $first in
  '#!/bin/sh')
    second=${second#"'''exec' \""}
    python=${second%%\"*}
    ;;
  '#!'*)
    read -ra words <<<"${first#'#!'}"
    if [ "${words[0]##*/}" = env ]; then python=${words[1]-}; else python=${words[0]}; fi
    ;;
  *) exit 1 ;;
esac
[ -n "$python" ] || exit 1
printf '%s\n%s\n' "$script" "$python"
