#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# A throwaway PostgreSQL cluster (Debian's postgresql package) for the tests and benchmarks.
#   scripts/postgres.sh start DIR   starts one with its files in DIR, prints its URL
#   scripts/postgres.sh restart DIR restarts it (fast shutdown: sessions are ended, nothing
#                                   committed is lost), same port
#   scripts/postgres.sh stop DIR    stops it and removes DIR
# User, password and database are all "sqlh"; TCP on 127.0.0.1 (password checked), socket in
# DIR (trusted). Commits are not waited for on disk (synchronous_commit=off): faster for tests
# and benchmarks, but unlike SQLite's WAL with synchronous=NORMAL (which loses the last commits
# only when the machine fails) a crash of the server itself (kill -9, pg_ctl -m immediate) may
# lose acknowledged commits too. Production servers keep synchronous_commit=on.
set -euo pipefail
command=$1
dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_owner() { # the server refuses to run as root
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $command in
start)
    mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    echo sqlh > "$dir/password"
    as_owner "$bin/initdb" -D "$dir/data" -U sqlh --pwfile="$dir/password" -E UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync > "$dir/initdb.log"
    for attempt in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o \
            "-p $port -k $dir -c listen_addresses=127.0.0.1 -c synchronous_commit=off -c max_connections=300" \
            start > /dev/null; then
            as_owner "$bin/createdb" -h "$dir" -p "$port" -U sqlh sqlh
            echo "$port" > "$dir/port"
            echo "postgresql://sqlh:sqlh@127.0.0.1:$port/sqlh"
            exit 0
        fi
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 restart > /dev/null
    ;;
stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|restart|stop DIR" >&2
    exit 2
    ;;
esac
