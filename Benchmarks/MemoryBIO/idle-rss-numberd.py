"""numberd's RSS per connection after one large request each, held idle.

Opens N nrpc/1 connections one after the other; each makes one HealthCheck whose request message carries EXTRA
bytes of an unknown field (skipped by the server: the bytes cross TLS and the framing, nothing else keeps them), reads
the answer, and stays open; then numberd's RSS is read from /proc.

  numberd serve --data-dir D --listen 127.0.0.1:7643 --metrics-listen off &
  python3 idle-rss-numberd.py 7643 NUMBERD_PID D/tls/ca.pem N EXTRA
"""
import socket, ssl, struct, sys, time

port, pid, ca, n, extra = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


def varint(value):
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            return out + bytes([byte])
        out += bytes([byte | 0x80])


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">IBBHI", len(payload), kind, flags, 0, stream) + payload


method = b"/numbers.v1.Numbers/HealthCheck"
headers = b"\x0a" + varint(len(method)) + method
message = varint((1000 << 3) | 2) + varint(extra) + b"x" * extra if extra else b""
greeting_and_call = b"NRPC\x00\x01\x00\x00" + frame(0, 0, 0) + frame(1, 0, 1, headers) + frame(2, 1, 1, message)

context = ssl.create_default_context(cafile=ca)
context.set_alpn_protocols(["nrpc/1"])
before = rss_mib()
held = []
for _ in range(n):
    connection = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    connection.sendall(greeting_and_call)
    pending, answered = b"", False
    while not answered:  # until the call's TRAILERS
        chunk = connection.recv(65536)
        if not chunk:
            raise SystemExit("the server closed a connection")
        pending += chunk
        while len(pending) >= 12:
            length, kind = struct.unpack(">IB", pending[:5])
            if len(pending) < 12 + length:
                break
            answered = answered or kind == 3
            pending = pending[12 + length:]
    held.append(connection)
time.sleep(3)
after = rss_mib()
print(f"{n} connections, request message {extra} B: numberd RSS {before:.1f} -> {after:.1f} MiB, "
      f"{(after - before) * 1024 / n:.1f} KiB per connection")
