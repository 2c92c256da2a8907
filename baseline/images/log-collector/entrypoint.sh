#!/bin/sh
# Run rsyslogd in the foreground-ish and logrotate hourly (logrotate itself
# decides what is due: daily rotation, per-class retention).
set -eu
conf=${RSYSLOG_CONF:-/etc/plancheck/rsyslog.conf}
lr=${LOGROTATE_CONF:-/etc/plancheck/logrotate.conf}
state=/var/lib/log-collector/logrotate.status
mkdir -p /var/lib/log-collector/rsyslog
pidfile=/tmp/rsyslogd.pid
rsyslogd -N1 -f "$conf"
rsyslogd -n -f "$conf" -i "$pidfile" &
rpid=$!
trap 'kill -TERM $rpid 2>/dev/null; wait $rpid; exit 0' TERM INT
while kill -0 "$rpid" 2>/dev/null; do
    logrotate --state "$state" "$lr" || echo "[log-collector] logrotate failed" >&2
    i=0
    while [ $i -lt 3600 ] && kill -0 "$rpid" 2>/dev/null; do sleep 5 & wait $!; i=$((i + 5)); done
done
wait "$rpid"
