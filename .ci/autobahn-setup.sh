#!/usr/bin/env bash
# .ci/autobahn-setup.sh - install Autobahn|Testsuite (wstest) for the WebSocket conformance runs.
#
# Usage:   WSTEST=$(bash .ci/autobahn-setup.sh)      # last line on stdout = absolute path of wstest
# Env:     AUTOBAHN_VENV    venv location (default: $HOME/.cache/shardnet-autobahn/venv)
#          AUTOBAHN_PYTHON2 a Python 2.7 interpreter to use (default: pyenv's 2.7.18, then python2.7 on PATH)
#
# Idempotent: if $AUTOBAHN_VENV/bin/wstest already works it is reused (only the loopback patch is
# re-checked). Progress goes to stderr; the only stdout line is the wstest path. Exits non-zero with
# a message on stderr if anything fails.
#
# Why Python 2.7: Autobahn|Testsuite is Python-2-only. The current PyPI release (25.x) installs on
# Python 3 but wstest dies with "No module named '_version'". 0.8.2 on 2.7.18 (Twisted 20.3.0,
# autobahn 0.10.9) works; everything comes from PyPI (virtualenv is bootstrapped with pip --target
# into a temp dir, because Python 2.7 has no `venv` module). Takes ~40 s cold.
#
# Loopback patch: wstest binds 0.0.0.0 by default. We patch autobahntestsuite/fuzzing.py (and
# echo.py) so that fuzzingserver / echoserver, and fuzzingserver's embedded web UI (--webport,
# default 8080), listen on 127.0.0.1 only. Still pass `--webport 0` to disable the web UI.
#
# ---------------------------------------------------------------------------------------------
# Mode 1: test OUR SERVER -> wstest -m fuzzingclient -s fuzzingclient.json
#   (wstest is the client; it connects to each server listed and runs the cases)
#   {
#     "outdir": "./reports/servers",
#     "servers": [ {"agent": "shardnet", "url": "ws://127.0.0.1:9001"} ],
#     "cases": ["*"],                                  // or e.g. ["1.*", "2.*", "7.1.1"]
#     "exclude-cases": ["9.*", "12.*", "13.*"],        // 9 = perf, 12/13 = permessage-deflate
#     "exclude-agent-cases": {}
#   }
#   Optional per server: "options": {"version": 18} (RFC 6455, the default).
#   wstest exits by itself when all cases ran. Report index: <outdir>/index.json
#   (plus <outdir>/index.html and one <agent>_case_<id>.json/.html per case).
#
# Mode 2: test OUR CLIENT -> wstest -m fuzzingserver -s fuzzingserver.json --webport 0
#   (wstest is the server; it runs until killed)
#   {
#     "url": "ws://127.0.0.1:9002",                    // host is ignored for binding: 127.0.0.1 (patched)
#     "outdir": "./reports/clients",
#     "cases": ["*"],
#     "exclude-cases": ["9.*", "12.*", "13.*"],
#     "exclude-agent-cases": {}
#   }
#   Client procedure (all paths on that url, each a separate WebSocket connection):
#     1. ws://127.0.0.1:9002/getCaseCount -> one TEXT message with the number of cases N; then closed.
#     2. for i in 1..=N: connect ws://127.0.0.1:9002/runCase?case=i&agent=NAME and echo every message
#        back unchanged (text as text, binary as binary) until the server closes the connection
#        (a failed handshake/close of a case is not fatal: go on to the next case).
#     3. ws://127.0.0.1:9002/updateReports?agent=NAME -> server writes the reports; then closed.
#   Then kill wstest. Report index: <outdir>/index.json (same format; written on each updateReports),
#   keyed by the agent NAME the client sent.
#
# index.json format (both modes):
#   { "<agent>": { "<case id, e.g. 1.1.1>": { "behavior": "OK|NON-STRICT|INFORMATIONAL|FAILED|UNIMPLEMENTED",
#                                             "behaviorClose": "OK|INFORMATIONAL|FAILED|...",
#                                             "duration": <ms>, "remoteCloseCode": <int|null>,
#                                             "reportfile": "<agent>_case_1_1_1.json" }, ... } }
# Summarise with: python3 .ci/autobahn-report.py <outdir> [--agent NAME]
# ---------------------------------------------------------------------------------------------
set -euo pipefail

AUTOBAHN_VERSION=0.8.2
VENV="${AUTOBAHN_VENV:-$HOME/.cache/shardnet-autobahn/venv}"
VENV="${VENV%/}"

log() { printf 'autobahn-setup: %s\n' "$*" >&2; }
die() { printf 'autobahn-setup: ERROR: %s\n' "$*" >&2; exit 1; }

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1 PIP_NO_INPUT=1
export PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-120}"
unset PYTHONPATH PYTHONHOME PIP_TARGET PIP_USER PIP_REQUIRE_VIRTUALENV 2>/dev/null || true
export PYENV_VERSION=2.7.18   # only affects pyenv shims, if any are used
export PYTHONWARNINGS=ignore  # silence "Python 2 is no longer supported" warnings from cryptography

# Versions that resolved (and worked) with pip 20.3.4 on 2.7.18; used as constraints so that a
# new upload to PyPI cannot break CI.
CONSTRAINTS='attrs==21.4.0
autobahn==0.10.9
autobahntestsuite==0.8.2
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==22.10.0
ipaddress==1.0.23
Jinja2==2.11.3
klein==20.6.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==21.0.0
service-identity==21.1.0
six==1.17.0
traceback2==1.4.0
Tubes==0.2.1
Twisted==20.3.0
txaio==2.1.0
typing==3.10.0.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==5.5.2'
VIRTUALENV_PIN='virtualenv==20.15.1'   # last virtualenv line with Python 2.7 support that worked here

wstest_ok() {
  [ -x "$VENV/bin/wstest" ] && [ -x "$VENV/bin/python" ] &&
    "$VENV/bin/python" -c "
import pkg_resources, sys
import autobahntestsuite.fuzzing
v = pkg_resources.get_distribution('autobahntestsuite').version
sys.exit(0 if v == '$AUTOBAHN_VERSION' else 1)" >/dev/null 2>&1
}

is_py27() { [ -n "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1; }

find_python2() {
  local c roots=()
  if [ -n "${AUTOBAHN_PYTHON2:-}" ]; then echo "$AUTOBAHN_PYTHON2"; return; fi   # checked by the caller
  if command -v pyenv >/dev/null 2>&1; then roots+=("$(pyenv root 2>/dev/null || true)"); fi
  roots+=("${PYENV_ROOT:-}" "$HOME/.pyenv")
  for r in "${roots[@]}"; do
    [ -n "$r" ] || continue
    for c in "$r/versions/2.7.18/bin/python2.7" "$r"/versions/2.7*/bin/python2.7; do
      if is_py27 "$c"; then echo "$c"; return; fi
    done
  done
  for c in python2.7 python2; do
    c=$(command -v "$c" 2>/dev/null) || continue
    if is_py27 "$c"; then echo "$c"; return; fi
  done
  return 1
}

mkdir -p "$(dirname "$VENV")" || die "cannot create $(dirname "$VENV")"

# Serialise concurrent runs on the same venv.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$VENV.lock" || die "cannot open lock file $VENV.lock"
  flock 9
fi

if wstest_ok; then
  log "reusing $VENV"
else
  START=$SECONDS
  PY2=$(find_python2) || die "no Python 2.7 interpreter found (looked for pyenv 2.7.18 under \$(pyenv root), \
\$PYENV_ROOT, ~/.pyenv, then python2.7/python2 on PATH). Autobahn|Testsuite 0.8.2 needs Python 2.7: \
the project's machine image ships pyenv 2.7.18 (~/.pyenv/versions/2.7.18; 'pyenv install' would need \
python.org, which is not reachable), or set AUTOBAHN_PYTHON2=/path/to/python2.7"
  is_py27 "$PY2" || die "AUTOBAHN_PYTHON2=$PY2 is not a working Python 2.7 interpreter"
  log "using Python 2.7 at $PY2"

  if [ -e "$VENV" ]; then
    # Only remove something we created ourselves (marker file), or an empty directory.
    if [ -f "$VENV/.shardnet-autobahn" ] || [ -z "$(ls -A "$VENV" 2>/dev/null)" ]; then
      log "removing incomplete venv $VENV"
      rm -rf "$VENV"
    else
      die "$VENV exists but has no working wstest $AUTOBAHN_VERSION and was not created by this script; remove it or set AUTOBAHN_VENV"
    fi
  fi

  TMP=$(mktemp -d "${TMPDIR:-/tmp}/shardnet-autobahn.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT

  if "$PY2" -c 'import virtualenv' >/dev/null 2>&1; then
    VENV_PYTHONPATH=""
  else
    log "bootstrapping $VIRTUALENV_PIN (pip --target, temporary)"
    "$PY2" -m pip --version >/dev/null 2>&1 || die "$PY2 has no pip module; cannot bootstrap virtualenv"
    "$PY2" -m pip install -q --target "$TMP/virtualenv" "$VIRTUALENV_PIN" >&2 \
      || die "pip could not install $VIRTUALENV_PIN for $PY2 (is PyPI reachable?)"
    VENV_PYTHONPATH="$TMP/virtualenv"
  fi

  log "creating venv $VENV"
  PYTHONPATH="$VENV_PYTHONPATH" "$PY2" -m virtualenv -q "$VENV" >&2 || die "virtualenv failed to create $VENV"
  touch "$VENV/.shardnet-autobahn"

  printf '%s\n' "$CONSTRAINTS" >"$TMP/constraints.txt"
  log "installing autobahntestsuite==$AUTOBAHN_VERSION (Twisted 20.3.0, autobahn 0.10.9; ~30-45 s)"
  "$VENV/bin/python" -m pip install -q -c "$TMP/constraints.txt" "autobahntestsuite==$AUTOBAHN_VERSION" >&2 \
    || die "pip install autobahntestsuite==$AUTOBAHN_VERSION failed (see pip output above; is PyPI reachable? is a C compiler present?)"
  wstest_ok || die "autobahntestsuite installed but $VENV/bin/wstest does not work"
  log "installed in $((SECONDS - START)) s"
fi

# --- loopback patch (idempotent; the files have CRLF line endings, so no '$' anchors) ----------
SITE=$("$VENV/bin/python" -c 'import os, autobahntestsuite; print(os.path.dirname(autobahntestsuite.__file__))') \
  || die "cannot locate the autobahntestsuite package in $VENV"
FUZZ="$SITE/fuzzing.py"
ECHO="$SITE/echo.py"
[ -f "$FUZZ" ] && [ -f "$ECHO" ] || die "unexpected autobahntestsuite layout in $SITE"

# fuzzingserver WebSocket listener (this is the patch from shared/reference/test-peers.md)
sed -i "s/^   listenWS(factory, sslContext)/   listenWS(factory, sslContext, interface='127.0.0.1')/" "$FUZZ"
# fuzzingserver embedded web UI (--webport)
sed -i -e "s/^         reactor.listenSSL(webport, web, sslContext)/         reactor.listenSSL(webport, web, sslContext, interface='127.0.0.1')/" \
       -e "s/^         reactor.listenTCP(webport, web)/         reactor.listenTCP(webport, web, interface='127.0.0.1')/" "$FUZZ"
# echoserver (handy as a reference peer)
sed -i "s/^   listenWS(factory, sslContext)/   listenWS(factory, sslContext, interface='127.0.0.1')/" "$ECHO"

[ "$(grep -c "listenWS(factory, sslContext, interface='127.0.0.1')" "$FUZZ")" = 1 ] \
  || die "loopback patch of $FUZZ (listenWS) did not apply"
[ "$(grep -c "webport, web.*interface='127.0.0.1')" "$FUZZ")" = 2 ] \
  || die "loopback patch of $FUZZ (web UI) did not apply"
[ "$(grep -c "listenWS(factory, sslContext, interface='127.0.0.1')" "$ECHO")" = 1 ] \
  || die "loopback patch of $ECHO did not apply"
if grep -n "listenWS(factory, sslContext)\|listenTCP(webport, web)" "$FUZZ" >&2; then
  die "unpatched listener left in $FUZZ"
fi
rm -f "$SITE"/fuzzing.pyc "$SITE"/echo.pyc
"$VENV/bin/python" -c 'import autobahntestsuite.fuzzing, autobahntestsuite.echo' >/dev/null 2>&1 \
  || die "patched autobahntestsuite no longer imports"
log "loopback patch in place ($FUZZ, $ECHO)"

echo "$VENV/bin/wstest"
