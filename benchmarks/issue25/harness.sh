#!/bin/bash
# usage: harness.sh LABEL TIMEOUT cmd...   (run from the worktree with the venv active)
label=$1; to=$2; shift 2
w=$(mktemp -d /tmp/i25/run.XXXX)
( ulimit -v 3500000; cd $w; timeout -s INT $to /usr/bin/time -f "%x %M" -o $w/time "$@" >$w/out 2>$w/err )
rc=$(awk 'END{print $1}' $w/time 2>/dev/null); kb=$(awk 'END{print $2}' $w/time 2>/dev/null)
[ -z "$rc" ] && rc="?"
[ "$(grep -c 'Command terminated by signal' $w/time)" != 0 ] && rc="sig:$(grep -o 'signal [0-9]*' $w/time)"
tb=$(grep -c Traceback $w/err); warn=$(grep -ci "warning" $w/err)
printf "%-28s rc=%-6s peakRSS=%6s MiB tb=%s warn=%s | %s\n" "$label" "$rc" "$((kb/1024))" "$tb" "$warn" "$(grep -v '^\s*$' $w/err | tail -1 | cut -c1-220)"
