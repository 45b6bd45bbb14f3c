#!/bin/sh
# Redis test server in the foreground: all interfaces, no password, no persistence.
# Extra arguments are passed on (e.g. `--cluster-enabled yes` for a cluster node).
set -eu
mkdir -p /var/lib/redis
chown redis:redis /var/lib/redis
exec setpriv --reuid=redis --regid=redis --init-groups \
  redis-server --bind '* -::*' --port 6379 --protected-mode no \
  --save '' --appendonly no --dir /var/lib/redis "$@"
