#!/bin/sh
# usage: tshark-fields.sh CAPTURE  -> CAPTURE.tshark-fields.txt
set -e
F=$1
COLS="frame.number sflow_245.numsamples sflow_245.sampletype icmp.type icmp.code icmpv6.type icmpv6.code tcp.dstport udp.dstport"
ARGS=""
for c in $COLS; do ARGS="$ARGS -e $c"; done
{
  echo "# $(tshark --version 2>/dev/null | head -1)"
  echo "# tshark -r $(basename "$F") -T fields -E occurrence=a -E aggregator=,$ARGS"
  echo "# columns: $COLS"
  tshark -r "$F" -T fields -E occurrence=a -E aggregator=, $ARGS 2>/dev/null
} > "$F.tshark-fields.txt"
