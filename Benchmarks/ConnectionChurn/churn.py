"""Opens and closes connections to numberd: TLS ones that complete the handshake (mode tls) or bare TCP ones (tcp).

usage: churn.py PORT COUNT CA_FILE [tls|tcp]
"""
import socket
import ssl
import sys

port, count, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
mode = sys.argv[4] if len(sys.argv) > 4 else "tls"
context = ssl.create_default_context(cafile=ca)
context.check_hostname = False
context.set_alpn_protocols(["nrpc/1"])
for _ in range(count):
    sock = socket.create_connection(("127.0.0.1", port))
    if mode == "tls":
        context.wrap_socket(sock, server_hostname="localhost").close()
    else:
        sock.close()
