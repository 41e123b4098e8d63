#!/usr/bin/env bash
# Creates .venv with the pinned tools of scripts/requirements.txt, once.
# A stamp keyed on the requirement list and the interpreter makes a second run a no-op.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ADPIPE_VENV:-$root/.venv}"
requirements="$root/scripts/requirements.txt"
python="${PYTHON:-python3}"
stamp="$venv/.adpipe-requirements.sha256"

command -v "$python" >/dev/null || { echo "venv.sh: $python not found; install Python 3.9+ or set PYTHON" >&2; exit 1; }

key="$({ cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
# Lines marked `# own venv` (pins that conflict with the rest) go into .venv/tools/<name>,
# with .venv/bin/<name> linked to the tool's entry point; everything else into .venv itself.
own='^[^#[:space:]][^#]*#[[:space:]]*own venv'
own_names() { grep "$own" "$requirements" | sed -E 's/[[:space:]]*#.*//; s/[=<>!~[].*//'; }
# Whether own-venv tool `$1` can start: its entry point's `#!` interpreter exists (a venv
# made under another path, or a removed tools/<name>, leaves one that does not).
tool_runs() {
  local entry="$venv/tools/$1/bin/$1" interpreter
  [[ -x "$entry" ]] || return 1
  interpreter="$(head -n 1 "$entry")"
  [[ -x "${interpreter#\#!}" ]]
}
# Up to date: the stamp matches and every own-venv tool can start.
up_to_date() {
  [[ -x "$venv/bin/python" && -f "$stamp" && "$(<"$stamp")" == "$key" ]] || return 1
  local name
  for name in $(own_names); do tool_runs "$name" || return 1; done
}
if up_to_date; then
  exit 0
fi

echo "venv.sh: installing pinned tools into ${venv#"$root"/} (about a minute the first time)" >&2
rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv" || {
    echo "venv.sh: '$python -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
    exit 1
  }
fi
pip_install() { "$1/bin/python" -m pip install --quiet --disable-pip-version-check "${@:2}"; }

shared="$(mktemp)"
trap 'rm -f "$shared"' EXIT
grep -v "$own" "$requirements" >"$shared" || true
pip_install "$venv" -r "$shared"
while IFS= read -r line; do
  spec="${line%%#*}"
  spec="${spec//[[:space:]]/}"
  name="${spec%%[=<>!~[]*}"
  tool="$venv/tools/$name"
  if [[ -d "$tool" ]] && ! tool_runs "$name"; then
    rm -rf "$tool"
  fi
  if [[ ! -x "$tool/bin/python" ]]; then
    "$python" -m venv "$tool"
  fi
  pip_install "$tool" "$spec"
  ln -sfn "../tools/$name/bin/$name" "$venv/bin/$name"
done < <(grep "$own" "$requirements" || true)
echo "$key" >"$stamp"
