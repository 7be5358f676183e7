"""Server RSS per connection after one large exchange each, held idle: against `numbers-load raw-server`.

Opens N TLS connections one after the other; each sends one raw request (REQUEST payload bytes, asking for RESPONSE
bytes back), reads the answer, and stays open; then the server's RSS is read from /proc. Note: the raw server keeps
one response buffer of each size asked per connection, so a large RESPONSE shows that much per connection too.

  numbers-load raw-server --cert C --key K --listen 127.0.0.1:0   # prints "listening PORT"
  python3 idle-rss-raw.py PORT SERVER_PID CA_PEM N REQUEST RESPONSE
"""
import socket, ssl, struct, sys, time

port, pid, ca, n, request, response = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], *map(int, sys.argv[4:7])


def rss_mib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
context.set_alpn_protocols(["nrpc/1"])
before = rss_mib()
held = []
message = struct.pack(">II", request, response) + b"x" * request
for _ in range(n):
    connection = context.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    connection.sendall(message)
    need, got = 4 + response, 0
    while got < need:
        chunk = connection.recv(min(1 << 20, need - got))
        if not chunk:
            raise SystemExit("the server closed a connection")
        got += len(chunk)
    held.append(connection)
time.sleep(2)
after = rss_mib()
print(f"{n} connections, request {request} B, response {response} B: server RSS {before:.1f} -> {after:.1f} MiB, "
      f"{(after - before) * 1024 / n:.1f} KiB per connection")
