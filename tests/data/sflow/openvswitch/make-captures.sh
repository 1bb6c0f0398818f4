#!/usr/bin/env bash
# Regenerates the Open vSwitch captures of the flowsift test corpus: a real sFlow agent
# (ovs-vswitchd's userspace datapath) watching ICMP, ICMPv6, UDP and TCP traffic between two
# network namespaces, its datagrams saved by tshark.
#
#   sudo tests/data/sflow/openvswitch/make-captures.sh [OUTPUT_DIR]
#
# Needs root, Open vSwitch (ovsdb-server, ovs-vswitchd, ovs-vsctl), iproute2, tshark and
# python3 (the traffic is made by small python3 programs, so ping and netcat are not needed).
# It runs a private Open vSwitch instance (its own database, run and log folders under a
# temporary folder) so it neither needs nor disturbs a system one, names everything it
# creates with the prefix "fsc", and removes all of it on exit, also on failure or Ctrl-C.
# Every step is bounded (timeouts), the whole run takes about 15 seconds.
#
# Output: OUTPUT_DIR/ovs-netdev-icmp-udp-tcp.pcap (default OUTPUT_DIR: this script's folder).
# Each run differs in timestamps, MAC addresses, ports and sequence numbers; the tests pin the
# committed capture, so regenerating it means updating tests/data/sflow/README.md and the
# counts the tests assert.
set -euo pipefail

OUT_DIR=$(cd "${1:-$(dirname "$0")}" && pwd)
OUT=$OUT_DIR/ovs-netdev-icmp-udp-tcp.pcap
# The collector address: the standard sFlow port on a loopback address of its own, so the
# capture is decoded by default (flowsift decode, tshark) and misses other loopback traffic.
COLLECTOR=127.0.0.99
PORT=6343
WORK=$(mktemp -d /tmp/flowsift-ovs.XXXXXX)
export OVS_RUNDIR=$WORK/run OVS_LOGDIR=$WORK/log OVS_DBDIR=$WORK/db
mkdir -p "$OVS_RUNDIR" "$OVS_LOGDIR" "$OVS_DBDIR"
DB_SOCK=$OVS_RUNDIR/db.sock
VSCTL=(timeout 10 ovs-vsctl --db="unix:$DB_SOCK" --timeout=5)
BR=fscbr0
NS_A=fsc-a
NS_B=fsc-b
TSHARK_PID=
SINK_PID=

cleanup() {
  set +e
  [ -n "$TSHARK_PID" ] && kill "$TSHARK_PID" 2>/dev/null && wait "$TSHARK_PID" 2>/dev/null
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  [ -S "$DB_SOCK" ] && "${VSCTL[@]}" --if-exists del-br "$BR" 2>/dev/null
  for pidfile in "$OVS_RUNDIR/ovs-vswitchd.pid" "$OVS_RUNDIR/ovsdb-server.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  sleep 0.5
  ip link del fsc-a0 2>/dev/null
  ip link del fsc-b0 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# The private Open vSwitch.
ovsdb-tool create "$OVS_DBDIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$OVS_DBDIR/conf.db" --remote="punix:$DB_SOCK" --pidfile="$OVS_RUNDIR/ovsdb-server.pid" \
  --log-file="$OVS_LOGDIR/ovsdb-server.log" --detach --no-chdir
"${VSCTL[@]}" --no-wait init
ovs-vswitchd "unix:$DB_SOCK" --pidfile="$OVS_RUNDIR/ovs-vswitchd.pid" \
  --log-file="$OVS_LOGDIR/ovs-vswitchd.log" --detach --no-chdir
"${VSCTL[@]}" add-br "$BR" -- set bridge "$BR" datapath_type=netdev

# Turns transmit checksum offload off on a network device (what `ethtool -K DEV tx off`
# does), with the SIOCETHTOOL ioctl, so ethtool is not needed.
cat >"$WORK/no-tx-csum.py" <<'PY'
import array, fcntl, socket, struct, sys
SIOCETHTOOL, ETHTOOL_STXCSUM = 0x8946, 0x17
value = array.array("B", struct.pack("II", ETHTOOL_STXCSUM, 0))
ifreq = struct.pack("16sP", sys.argv[1].encode(), value.buffer_info()[0]).ljust(40, b"\0")
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), SIOCETHTOOL, ifreq)
PY

# Two hosts: namespace fsc-a (10.99.0.1, fd99::1) and fsc-b (10.99.0.2, fd99::2), each
# behind one veth whose other end is a bridge port. Fixed MAC addresses keep reruns close.
i=1
for ns in "$NS_A" "$NS_B"; do
  ip netns add "$ns"
  ip link add "${ns}0" type veth peer name "${ns}1"
  ip link set "${ns}1" netns "$ns"
  ip -n "$ns" link set "${ns}1" address "02:00:00:99:00:0$i"
  ip -n "$ns" link set lo up
  ip -n "$ns" link set "${ns}1" up
  ip -n "$ns" addr add "10.99.0.$i/24" dev "${ns}1"
  ip -n "$ns" addr add "fd99::$i/64" dev "${ns}1" nodad
  # Answer every probe: no ICMP rate limit, so each closed port gets its unreachable.
  ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
  # The userspace datapath moves frames through AF_PACKET sockets, which do not complete
  # checksums left to the NIC: without this, TCP segments cross the bridge with bad checksums.
  ip netns exec "$ns" python3 "$WORK/no-tx-csum.py" "${ns}1"
  ip link set "${ns}0" up
  "${VSCTL[@]}" add-port "$BR" "${ns}0"
  i=$((i + 1))
done
ip link set "$BR" up 2>/dev/null || true

# A receiver on the sFlow port (so the agent's datagrams are not answered with ICMP) and the
# capture of what the agent sends to it.
python3 -c "
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.bind(('$COLLECTOR', $PORT))
except OSError:
    sys.exit(0)  # a wildcard listener on the port already receives them
while True:
    s.recv(65535)
" &
SINK_PID=$!
timeout 60 tshark -q -i lo -f "udp and dst host $COLLECTOR and dst port $PORT" -F pcap -w "$WORK/capture.pcap" 2>"$WORK/tshark.log" &
TSHARK_PID=$!
sleep 2

# sFlow on the bridge: every packet sampled (sampling=1), 128 header bytes, interface
# counters every 2 seconds, agent address 127.0.0.1.
"${VSCTL[@]}" -- --id=@s create sflow agent=127.0.0.1 target="\"$COLLECTOR:$PORT\"" \
  header=128 sampling=1 polling=2 -- set bridge "$BR" sflow=@s
sleep 1

# The traffic, from fsc-a to fsc-b. ICMP echo needs a raw socket (root), ICMPv6 too (the
# kernel fills in its checksum).
timeout 20 ip netns exec "$NS_A" python3 - <<'PY'
import socket, struct, time

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF

# ICMP echo requests (type 8), answered with echo replies.
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
for seq in range(1, 4):
    body = struct.pack("!BBHHH", 8, 0, 0, 0x4653, seq) + b"flowsift-ovs-ping"
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    icmp.sendto(body, ("10.99.0.2", 0))
    time.sleep(0.2)

# ICMPv6 echo requests (type 128); the first one makes fsc-a solicit fsc-b's address
# (neighbor solicitation, type 135).
icmp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
for seq in range(1, 4):
    body = struct.pack("!BBHHH", 128, 0, 0, 0x4653, seq) + b"flowsift-ovs-ping6"
    icmp6.sendto(body, ("fd99::2", 0))
    time.sleep(0.2)

# UDP to closed ports: each answered with ICMP (v4: type 3 code 3) or ICMPv6 (type 1 code 4)
# port unreachable.
for port in (33434, 33435, 53, 161):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"flowsift-probe", ("10.99.0.2", port))
    u.close()
    time.sleep(0.1)
for port in (33434, 33435, 53, 161):
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.sendto(b"flowsift-probe", ("fd99::2", port))
    u.close()
    time.sleep(0.1)
PY

# TCP over IPv4 and IPv6: a server in fsc-b, a client in fsc-a sending a few lines.
timeout 20 ip netns exec "$NS_B" python3 - <<'PY' &
import socket
servers = []
for family, addr in ((socket.AF_INET, "10.99.0.2"), (socket.AF_INET6, "fd99::2")):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 8080))
    s.listen(1)
    servers.append(s)
for s in servers:
    c, _ = s.accept()
    while c.recv(4096):
        pass
    c.sendall(b"bye\n")
    c.close()
PY
SERVER_PID=$!
sleep 0.5
timeout 20 ip netns exec "$NS_A" python3 - <<'PY'
import socket, time
for family, addr in ((socket.AF_INET, "10.99.0.2"), (socket.AF_INET6, "fd99::2")):
    c = socket.create_connection((addr, 8080), timeout=5)
    for i in range(3):
        c.sendall(b"flowsift tcp line %d\n" % i)
        time.sleep(0.05)
    c.shutdown(socket.SHUT_WR)
    c.recv(4096)
    c.close()
PY
wait "$SERVER_PID"

# Let a few counter polls (every 2 s) and the last flow samples go out, then stop.
sleep 5
"${VSCTL[@]}" clear bridge "$BR" sflow
sleep 1
kill "$TSHARK_PID"
wait "$TSHARK_PID" || true
TSHARK_PID=
cp "$WORK/capture.pcap" "$OUT"
echo "wrote $OUT: $(tshark -r "$OUT" 2>/dev/null | wc -l) sFlow datagrams"
