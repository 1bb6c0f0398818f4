#!/bin/sh
# Writes CAPTURE.tshark-fields.txt: what tshark dissects in each sFlow datagram of CAPTURE
# (one line per packet, the values of each field in order, comma-separated), the expectation
# tests/decode_corpus.rs checks flowsift against for captures without sflowtool output.
#
#   tests/data/sflow/tshark-fields.sh CAPTURE
#   COLS="frame.number ..." tests/data/sflow/tshark-fields.sh CAPTURE   # other columns
#
# frame.number, sflow_245.numsamples and sflow_245.sampletype are needed; the test also
# compares the ICMP/ICMPv6 type and code and TCP/UDP port columns, and a column left out
# counts as "no such values" (the VXLAN capture leaves out the inner ICMPv6 ones, which
# tshark dissects and flowsift, keying on the outer headers, does not).
set -e
F=$1
COLS=${COLS:-"frame.number sflow_245.numsamples sflow_245.sampletype icmp.type icmp.code icmpv6.type icmpv6.code tcp.dstport udp.dstport"}
ARGS=""
for c in $COLS; do ARGS="$ARGS -e $c"; done
{
  echo "# $(tshark --version 2>/dev/null | head -1)"
  echo "# tshark -r $(basename "$F") -T fields -E occurrence=a -E aggregator=,$ARGS"
  echo "# columns: $COLS"
  tshark -r "$F" -T fields -E occurrence=a -E aggregator=, $ARGS 2>/dev/null
} > "$F.tshark-fields.txt"
