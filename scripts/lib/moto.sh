# Sourced by scripts/test and scripts/bench-aws: installs the Python tools of the live AWS tests
# in .tools/venv (again only when tests/moto/requirements.txt changes) and starts moto's EC2
# server on 127.0.0.1 for the calling script, stopped when it exits.

MOTO_VENV=.tools/venv
MOTO_REQUIREMENTS=tests/moto/requirements.txt

# A Python 3 with venv; installed with apt-get on a machine that has none.
moto_python() {
  if command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; then
    return
  fi
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing python3 and python3-venv with apt-get" >&2
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
    return
  fi
  echo "error: the live AWS tests need python3 with the venv module; install python3 and python3-venv" >&2
  exit 1
}

moto_venv() {
  if [ -x "$MOTO_VENV/bin/python" ] && cmp -s "$MOTO_REQUIREMENTS" "$MOTO_VENV/requirements.installed"; then
    return
  fi
  moto_python
  echo "installing moto, boto3 and the AWS CLI in $MOTO_VENV" >&2
  rm -rf "$MOTO_VENV"
  python3 -m venv "$MOTO_VENV"
  "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$MOTO_REQUIREMENTS"
  cp "$MOTO_REQUIREMENTS" "$MOTO_VENV/requirements.installed"
}

# Starts moto_server on a free port of 127.0.0.1 and exports PORTCULLIS_TEST_MOTO_URL and
# PORTCULLIS_TEST_VENV for the tests.
moto_start() {
  moto_venv
  local port
  port=$("$MOTO_VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >.tools/moto.log 2>&1 &
  MOTO_PID=$!
  trap 'kill "$MOTO_PID" 2>/dev/null && wait "$MOTO_PID" 2>/dev/null; true' EXIT
  local url="http://127.0.0.1:$port"
  local tries=0
  until "$MOTO_VENV/bin/python" -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1] + '/moto-api/')" "$url" 2>/dev/null; do
    tries=$((tries + 1))
    if ! kill -0 "$MOTO_PID" 2>/dev/null || [ "$tries" -ge 120 ]; then
      echo "error: moto_server did not start on $url; see .tools/moto.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  export PORTCULLIS_TEST_MOTO_URL="$url"
  export PORTCULLIS_TEST_VENV="$PWD/$MOTO_VENV"
}
