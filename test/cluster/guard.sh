#!/usr/bin/env bash
# Runs "$@" and stops it as soon as our stdin reaches EOF, which happens when the Node process that
# started us exits for any reason (even SIGKILL). This is how the harness leaves no orphans behind.
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
# An explicit redirect: background jobs of a non-interactive shell otherwise read /dev/null.
{ cat <&3 >/dev/null; kill -TERM "$child" 2>/dev/null; sleep 5; kill -KILL "$child" 2>/dev/null; } 3<&3 &
watcher=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
trap 'kill -CONT "$child" 2>/dev/null' CONT
while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
pkill -P "$watcher" 2>/dev/null; kill "$watcher" 2>/dev/null
exit "${rc:-0}"
