"""An HP-Socket-style ARQ peer on the reference C KCP (PyPI `kcp` = skywind3000's ikcp.c).

It runs HP's 12-byte handshake (magic 0x4F 0xBB, cmd 1, flag, selfConv, peerConv; little-endian),
resends it every interval with HP's back-off while handshaking or until the peer's flag 1 was seen,
then speaks KCP with HP's settings (nodelay 0, interval 60, resend 0, nc 0, windows 128/512, MTU
1432). Stock ikcp checks the conv of its input, and an HP side sends with its *own* conv, so this
peer's KCP uses the other side's conv both ways (HP's patched ikcp ignores the field).

usage: hp_arq_peer.py server PORT LOSS        echo every message; prints "READY port"
       hp_arq_peer.py client PORT LOSS COUNT  send COUNT messages, check the echoes, print "OK n ms"
Loss (0..1) drops datagrams both ways, from a fixed seed. Exits after 60 s at most.
"""
import random, select, socket, struct, sys, time
from kcp import KCP

MAGIC = 0xBB4F
role, port, loss = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
rng = random.Random(7)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
if role == "server":
    sock.bind(("127.0.0.1", port))
    print("READY", sock.getsockname()[1], flush=True)
    peer_addr = None
else:
    peer_addr = ("127.0.0.1", port)

now = lambda: int(time.monotonic() * 1000)
self_conv = 0x5A000000 + (now() & 0xFFFF) + 1
peer_conv = 0
ready = False
peer_complete = False
hs_next = now()
hs_count = 0
kcp = None
t0 = time.time()

def send(d):
    if peer_addr is not None and rng.random() >= loss:
        sock.sendto(d, peer_addr)

def handshake_packet():
    return struct.pack("<HBBII", MAGIC, 1, 1 if ready else 0, self_conv, peer_conv)

def make_kcp():
    k = KCP(peer_conv, max_transmission=1432, no_delay=False, update_interval=60, resend_count=0,
            no_congestion_control=False, send_window_size=128, receive_window_size=512)
    k.include_outbound_handler(lambda _k, d: send(bytes(d)))
    return k

def msg(i):
    n = (i * 131) % 4096 + 1
    return bytes((i + j) & 0xFF for j in range(n))

sent = got = 0
while time.time() - t0 < 60:
    if role == "client" and ready and kcp is not None:
        while sent < count and kcp.get_outbound_packets() < 64:
            kcp.enqueue(msg(sent)); sent += 1
    r, _, _ = select.select([sock], [], [], 0.005)
    if r:
        d, addr = sock.recvfrom(65536)
        if peer_addr is None:
            peer_addr = addr
        if rng.random() < loss:
            continue
        if len(d) == 12:
            magic, cmd, flag, s, p = struct.unpack("<HBBII", d)
            assert magic == MAGIC and cmd == 1 and flag in (0, 1), d
            if not ready:
                if peer_conv == 0:
                    peer_conv, hs_next, hs_count = s, now(), 0
                if p == self_conv:
                    ready = True
                    kcp = make_kcp()
            if flag == 1:
                peer_complete = True
            if now() >= hs_next:
                hs_count += 1; hs_next = now() + min(60 * hs_count, 2000); send(handshake_packet())
        elif len(d) >= 24 and kcp is not None:
            kcp.receive(d)
            for m in kcp.get_all_received():
                m = bytes(m)
                if role == "server":
                    kcp.enqueue(m)
                else:
                    if m != msg(got):
                        print("MISMATCH at", got, len(m), flush=True); sys.exit(1)
                    got += 1
            kcp.flush()
    if peer_addr is not None and (not ready or not peer_complete) and now() >= hs_next:
        hs_count += 1; hs_next = now() + min(60 * hs_count, 2000); send(handshake_packet())
    if kcp is not None:
        kcp.update()
    if role == "client" and got == count and count > 0:
        print("OK", got, int((time.time() - t0) * 1000), flush=True); sys.exit(0)
print("TIMEOUT sent", sent, "got", got, flush=True)
sys.exit(2)
