#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the golden packet cases of lab networks (vswitch/golden/*.pcap),
each a script for golden-test.c: frames to put into the switch and the
frames it must send, byte for byte. Expected frames are built here from the
protocols (RFC 791/768/793/792/826/2131) with this file's own code: full
checksums, never the switch's incremental ones.

The topology golden-test.c builds for every case: switch br0, ring port
"lan" and ring port "wan" (address 198.51.100.2/24, gateway 198.51.100.1
at 02:ee:00:00:00:01), network "lab" 192.168.50.0/24 with DHCP (pool
.128-.254, lease 1800 s) and NAT through wan.

Record encoding (classic pcap, one file per case): ts_usec says what to do
with the frame - 0 inject on lan, 1 inject on wan, 2 expect on lan, 3 expect
on wan; frames are handled in file order, the data plane runs after each
injection, and nothing else may come out. MAC placeholders: GW stands for
the gateway's MAC, WAN for the uplink port's (the test substitutes them in
Ethernet and ARP address fields).

  vswitch/golden/make-golden.py [OUT-DIR]
"""
import os
import struct
import sys

GW = bytes.fromhex("026777000000")
WAN = bytes.fromhex("0277616e0000")
ROUTER_MAC = bytes.fromhex("02ee00000001")
VM_MAC = bytes.fromhex("020000000010")
BCAST = b"\xff" * 6
VM, GW_IP, UPLINK, ROUTER, REMOTE = "192.168.50.10", "192.168.50.2", \
    "198.51.100.2", "198.51.100.1", "203.0.113.7"


def a(ip):
    return bytes(int(x) for x in ip.split("."))


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, payload, etype=0x0800):
    f = dst + src + struct.pack("!H", etype) + payload
    return f + b"\0" * max(0, 60 - len(f))


def ipv4(src, dst, proto, l4, ttl=64, ident=0x1234, flags=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), ident, flags,
                    ttl, proto, 0, a(src), a(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + l4


def l4sum(src, dst, proto, seg, at, zero_ok=False):
    ph = a(src) + a(dst) + struct.pack("!BBH", 0, proto, len(seg))
    c = csum(ph + seg[:at] + b"\0\0" + seg[at + 2:])
    if proto == 17 and c == 0:
        c = 0xFFFF
    return seg[:at] + struct.pack("!H", c) + seg[at + 2:]


def udp(src, dst, sport, dport, data, with_sum=True):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return l4sum(src, dst, 17, seg, 6) if with_sum else seg


def tcp(src, dst, sport, dport, seq, ack, flags, win, opts=b"", data=b""):
    hl = 20 + len(opts)
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4,
                      flags, win, 0, 0) + opts + data
    return l4sum(src, dst, 6, seg, 16)


def icmp(typ, code, rest, body):
    m = struct.pack("!BBH", typ, code, 0) + rest + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, sha, a(spa),
                       tha, a(tpa))


def frame(f):
    """A frame as the switch emits it: padded to 60 bytes."""
    return f + b"\0" * max(0, 60 - len(f))


# ---- DHCP ----

def dhcp_client(msg, xid, chaddr, flags=0, ciaddr="0.0.0.0", opts=b""):
    b = struct.pack("!BBBBIHH4s4s4s4s16s", 1, 1, 6, 0, xid, 0, flags,
                    a(ciaddr), bytes(4), bytes(4), bytes(4),
                    chaddr + bytes(10))
    b += bytes(64 + 128) + struct.pack("!I", 0x63825363)
    b += bytes([53, 1, msg]) + opts + b"\xff"
    b += bytes(max(0, 300 - len(b)))
    src = ciaddr if ciaddr != "0.0.0.0" else "0.0.0.0"
    dst = "255.255.255.255"
    return eth(BCAST, chaddr, ipv4(src, dst, 17, udp(src, dst, 68, 67, b),
                                   ident=1))


def dhcp_reply(msg, xid, chaddr, yiaddr, dst_ip, dst_mac, flags=0,
               ciaddr="0.0.0.0", lease=True):
    b = struct.pack("!BBBBIHH4s4s4s4s16s", 2, 1, 6, 0, xid, 0, flags,
                    a(ciaddr), a(yiaddr), bytes(4), bytes(4),
                    chaddr + bytes(10))
    b += bytes(64 + 128) + struct.pack("!I", 0x63825363)
    o = bytes([53, 1, msg, 54, 4]) + a(GW_IP)
    if msg != 6:
        if lease:
            o += bytes([51, 4]) + struct.pack("!I", 1800)
            o += bytes([58, 4]) + struct.pack("!I", 900)
            o += bytes([59, 4]) + struct.pack("!I", 1800 // 8 * 7)
        o += bytes([1, 4]) + a("255.255.255.0")
        o += bytes([28, 4]) + a("192.168.50.255")
        o += bytes([3, 4]) + a(GW_IP)
    b += o + b"\xff"
    b += bytes(max(0, 300 - len(b)))
    return frame(eth(dst_mac, GW, ipv4(GW_IP, dst_ip, 17,
                                       udp(GW_IP, dst_ip, 67, 68, b),
                                       ident=0, flags=0x4000)))


def case_dhcp_discover_broadcast():
    return [(0, dhcp_client(1, 0x11111111, VM_MAC, flags=0x8000)),
            (2, dhcp_reply(2, 0x11111111, VM_MAC, "192.168.50.128",
                           "255.255.255.255", BCAST, flags=0x8000))]


def case_dhcp_dora():
    req = bytes([50, 4]) + a("192.168.50.128") + bytes([54, 4]) + a(GW_IP)
    return [(0, dhcp_client(1, 0x22222222, VM_MAC)),
            (2, dhcp_reply(2, 0x22222222, VM_MAC, "192.168.50.128",
                           "192.168.50.128", VM_MAC)),
            (0, dhcp_client(3, 0x22222222, VM_MAC, opts=req)),
            (2, dhcp_reply(5, 0x22222222, VM_MAC, "192.168.50.128",
                           "192.168.50.128", VM_MAC))]


def case_dhcp_inform():
    return [(0, dhcp_client(8, 0x33333333, VM_MAC, ciaddr=VM)),
            (2, dhcp_reply(5, 0x33333333, VM_MAC, "0.0.0.0", VM, VM_MAC,
                           ciaddr=VM, lease=False))]


def case_dhcp_nak_foreign_address():
    req = bytes([50, 4]) + a("10.1.1.1")
    return [(0, dhcp_client(3, 0x44444444, VM_MAC, opts=req)),
            (2, dhcp_reply(6, 0x44444444, VM_MAC, "0.0.0.0",
                           "255.255.255.255", BCAST))]


def case_dhcp_truncated_option():
    f = bytearray(dhcp_client(1, 0x55555555, VM_MAC))
    opt = 14 + 20 + 8 + 240
    f[opt:opt + 5] = bytes([53, 1, 1, 12, 200])  # hostname runs off the end
    f[opt + 5:] = bytes([0x41]) * (len(f) - opt - 5)
    return [(0, fix_udp(bytes(f)))]


def case_dhcp_rogue_server():
    offer = dhcp_reply(2, 0x66666666, VM_MAC, "192.168.50.200",
                       "255.255.255.255", BCAST)
    rogue = BCAST + VM_MAC + offer[12:]
    return [(0, rogue)]


def fix_udp(f):
    """Recomputes the UDP checksum of an edited client frame."""
    ip = f[14:34]
    ln = struct.unpack("!H", ip[2:4])[0] - 20
    seg = f[34:34 + ln]
    src = ".".join(str(x) for x in ip[12:16])
    dst = ".".join(str(x) for x in ip[16:20])
    return f[:34] + l4sum(src, dst, 17, seg, 6) + f[34 + ln:]


# ---- gateway ----

def case_gateway_arp():
    return [(0, eth(BCAST, VM_MAC, arp(1, VM_MAC, VM, bytes(6), GW_IP), 0x0806)),
            (2, frame(eth(VM_MAC, GW, arp(2, GW, GW_IP, VM_MAC, VM), 0x0806)))]


def case_gateway_ping():
    body = b"0123456789abcdef"
    req = ipv4(VM, GW_IP, 1, icmp(8, 0, struct.pack("!HH", 77, 1), body),
               ttl=64, ident=0x4321)
    rep = ipv4(GW_IP, VM, 1, icmp(0, 0, struct.pack("!HH", 77, 1), body),
               ttl=64, ident=0x4321)
    return [(0, eth(GW, VM_MAC, req)), (2, frame(eth(VM_MAC, GW, rep)))]


def case_uplink_arp_and_ping():
    body = b"outside-ping"
    req = ipv4(ROUTER, UPLINK, 1, icmp(8, 0, struct.pack("!HH", 5, 9), body))
    rep = ipv4(UPLINK, ROUTER, 1, icmp(0, 0, struct.pack("!HH", 5, 9), body))
    return [(1, eth(BCAST, ROUTER_MAC, arp(1, ROUTER_MAC, ROUTER, bytes(6),
                                           UPLINK), 0x0806)),
            (3, frame(eth(ROUTER_MAC, WAN, arp(2, WAN, UPLINK, ROUTER_MAC,
                                               ROUTER), 0x0806))),
            (1, eth(WAN, ROUTER_MAC, req)),
            (3, frame(eth(ROUTER_MAC, WAN, rep)))]


# ---- NAT ----

def nat_udp_pair(with_sum):
    out = eth(GW, VM_MAC, ipv4(VM, REMOTE, 17,
                               udp(VM, REMOTE, 40000, 53, b"query", with_sum)))
    exp_out = frame(eth(ROUTER_MAC, WAN, ipv4(UPLINK, REMOTE, 17,
                        udp(UPLINK, REMOTE, 40000, 53, b"query", with_sum),
                        ttl=63)))
    back = eth(WAN, ROUTER_MAC, ipv4(REMOTE, UPLINK, 17,
                                     udp(REMOTE, UPLINK, 53, 40000,
                                         b"answer", with_sum), ident=0x77))
    exp_back = frame(eth(VM_MAC, GW, ipv4(REMOTE, VM, 17,
                         udp(REMOTE, VM, 53, 40000, b"answer", with_sum),
                         ttl=63, ident=0x77)))
    return [(0, out), (3, exp_out), (1, back), (2, exp_back)]


def case_nat_udp():
    return nat_udp_pair(True)


def case_nat_udp_no_checksum():
    return nat_udp_pair(False)


def case_nat_tcp_handshake():
    opts = bytes([2, 4, 5, 0xB4, 1, 3, 3, 7])
    syn = eth(GW, VM_MAC, ipv4(VM, REMOTE, 6, tcp(VM, REMOTE, 33000, 80, 1000,
                                                  0, 0x02, 64240, opts)))
    exp_syn = frame(eth(ROUTER_MAC, WAN, ipv4(UPLINK, REMOTE, 6,
                        tcp(UPLINK, REMOTE, 33000, 80, 1000, 0, 0x02, 64240,
                            opts), ttl=63)))
    synack = eth(WAN, ROUTER_MAC, ipv4(REMOTE, UPLINK, 6,
                                       tcp(REMOTE, UPLINK, 80, 33000, 5000,
                                           1001, 0x12, 65535, opts)))
    exp_synack = frame(eth(VM_MAC, GW, ipv4(REMOTE, VM, 6,
                           tcp(REMOTE, VM, 80, 33000, 5000, 1001, 0x12,
                               65535, opts), ttl=63)))
    # An ACK far outside the window the remote allowed: dropped.
    bad = eth(GW, VM_MAC, ipv4(VM, REMOTE, 6, tcp(VM, REMOTE, 33000, 80,
                                                  1001, 900000, 0x10, 500)))
    return [(0, syn), (3, exp_syn), (1, synack), (2, exp_synack), (0, bad)]


def case_nat_tcp_needs_syn():
    ack = eth(GW, VM_MAC, ipv4(VM, REMOTE, 6, tcp(VM, REMOTE, 33001, 80, 1,
                                                  1, 0x10, 500)))
    return [(0, ack)]


def case_nat_icmp_echo():
    body = b"pingpong"
    req = eth(GW, VM_MAC, ipv4(VM, REMOTE, 1, icmp(8, 0, struct.pack(
        "!HH", 0x0999, 3), body)))
    exp_req = frame(eth(ROUTER_MAC, WAN, ipv4(UPLINK, REMOTE, 1, icmp(
        8, 0, struct.pack("!HH", 0x0999, 3), body), ttl=63)))
    rep = eth(WAN, ROUTER_MAC, ipv4(REMOTE, UPLINK, 1, icmp(0, 0, struct.pack(
        "!HH", 0x0999, 3), body)))
    exp_rep = frame(eth(VM_MAC, GW, ipv4(REMOTE, VM, 1, icmp(
        0, 0, struct.pack("!HH", 0x0999, 3), body), ttl=63)))
    return [(0, req), (3, exp_req), (1, rep), (2, exp_rep)]


def case_nat_icmp_error_translated():
    steps = nat_udp_pair(True)[:2]
    sent = steps[1][1][14:14 + 28]        # the translated IP + UDP header
    err = eth(WAN, ROUTER_MAC, ipv4(REMOTE, UPLINK, 1, icmp(
        3, 3, bytes(4), sent)))
    inner = ipv4(VM, REMOTE, 17, udp(VM, REMOTE, 40000, 53, b"query"),
                 ttl=63)[:28]
    exp = frame(eth(VM_MAC, GW, ipv4(REMOTE, VM, 1, icmp(3, 3, bytes(4),
                                                           inner), ttl=63)))
    return steps + [(1, err), (2, exp)]


def case_nat_ttl_expired():
    pkt = ipv4(VM, REMOTE, 17, udp(VM, REMOTE, 40000, 53, b"query"), ttl=1)
    quote = pkt[:28]
    exp = frame(eth(VM_MAC, GW, ipv4(GW_IP, VM, 1, icmp(11, 0, bytes(4),
                                                          quote), ident=0)))
    return [(0, eth(GW, VM_MAC, pkt)), (2, exp)]


def case_nat_fragment_dropped():
    pkt = ipv4(VM, REMOTE, 17, udp(VM, REMOTE, 40000, 53, b"first-frag"),
               flags=0x2000)
    return [(0, eth(GW, VM_MAC, pkt))]


def case_nat_unsolicited_dropped():
    pkt = ipv4(REMOTE, UPLINK, 17, udp(REMOTE, UPLINK, 53, 40000, b"hi"))
    return [(1, eth(WAN, ROUTER_MAC, pkt))]


def write(path, steps):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (role, fr) in enumerate(steps):
            f.write(struct.pack("<IIII", i, role, len(fr), len(fr)))
            f.write(fr)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(
        os.path.abspath(__file__))
    cases = {k[5:].replace("_", "-"): v for k, v in globals().items()
             if k.startswith("case_")}
    for name, fn in sorted(cases.items()):
        write(os.path.join(out, name + ".pcap"), fn())
    print(f"{len(cases)} cases written to {out}")


if __name__ == "__main__":
    main()
