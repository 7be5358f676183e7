extension TestHTTPSServer {
    /// The Python server: HTTP/1.1 keep-alive over TLS (ALPN offering `h2` first, then `http/1.1`), one thread per
    /// connection, counting accepted connections.
    /// It writes its port to `port.txt`, exits when its stdin closes (the test process died) or after `lifetime`.
    static let script = #"""
        import base64, json, os, ssl, sys, threading, time
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse, parse_qs

        certfile, keyfile, portfile, lifetime = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
        lock = threading.Lock()
        connections = [0]
        hits = {}
        barrier = threading.Condition()
        arrived = {}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args):
                pass
            def setup(self):
                with lock:
                    connections[0] += 1
                super().setup()
            def send(self, status, body, content_type="application/json", extra=()):
                self.send_response(status)
                if status in (204, 304):
                    self.end_headers()
                    return
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            def handle_any(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                with lock:
                    hits[url.path] = hits.get(url.path, 0) + 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if url.path == "/echo":
                    echo = {"method": self.command, "path": url.path, "query": url.query,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": base64.b64encode(body).decode(),
                            "alpn": self.connection.selected_alpn_protocol()}
                    self.send(200, json.dumps(echo).encode(), extra=[("X-Echo", "yes"), ("X-Multi", "1"), ("X-Multi", "2")])
                elif url.path == "/bytes":
                    n = int(query["n"][0])
                    self.send(200, bytes(i % 251 for i in range(n)), "application/octet-stream")
                elif url.path == "/chunked":
                    n, chunk = int(query["n"][0]), 16384
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    sent = 0
                    try:
                        while sent < n:
                            part = bytes(min(chunk, n - sent))
                            self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                            sent += len(part)
                        self.wfile.write(b"0\r\n\r\n")
                    except OSError:
                        self.close_connection = True
                elif url.path == "/barrier":
                    # Answered once `n` requests of the same `name` have arrived (each on a connection of its own, as
                    # none is answered before), or after 120 s (503): a round of requests all in flight at once.
                    name, n = query["name"][0], int(query["n"][0])
                    with barrier:
                        arrived[name] = arrived.get(name, 0) + 1
                        barrier.notify_all()
                        met = barrier.wait_for(lambda: arrived[name] >= n, timeout=120)
                    self.send(200 if met else 503, b"{}")
                elif url.path.startswith("/stall"):  # "/stall-<id>": its own count in /hits
                    time.sleep(float(query["s"][0]))
                    self.send(200, b"{}")
                elif url.path == "/status":
                    self.send(int(query["code"][0]), b'{"status":"as asked"}')
                elif url.path == "/headers":
                    n = int(query["n"][0])
                    self.send(200, b"{}", extra=[("X-Filler-%d" % i, "v" * 100) for i in range(n)])
                elif url.path == "/drop-and-refuse":
                    # The request's connection dropped unanswered, and no new connection accepted from now on.
                    self.server.socket.close()
                    self.close_connection = True
                    self.connection.close()
                elif url.path.startswith("/drop"):
                    self.close_connection = True
                    self.connection.close()
                elif url.path == "/hits":
                    with lock:
                        count = hits.get(query["path"][0], 0)
                    self.send(200, json.dumps({"hits": count}).encode())
                elif url.path == "/connections":
                    with lock:
                        count = connections[0]
                    self.send(200, json.dumps({"connections": count}).encode())
                else:
                    self.send(404, b'{"error":"no such path"}')
            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            def get_request(self):
                sock, addr = self.socket.accept()
                return sock, addr
            def finish_request(self, request, client_address):
                try:
                    # Long past a starved test process's pause (up to 50 s): a kept-alive connection closed as idle
                    # meanwhile would have the client's next request open a new one, which tests count.
                    request.settimeout(600)
                    tls = context.wrap_socket(request, server_side=True)
                except (OSError, ssl.SSLError):
                    return
                self.RequestHandlerClass(tls, client_address, self)
            def handle_error(self, request, client_address):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        # Offered as a front end speaking HTTP/2 offers them, h2 first: OpenSSL selects in the server's order, so a
        # client offering h2 gets it, and then fails (this server speaks HTTP/1.1 only).
        context.set_alpn_protocols(["h2", "http/1.1"])
        server = Server(("127.0.0.1", 0), Handler)
        with open(portfile + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.rename(portfile + ".tmp", portfile)

        def watchdog():
            sys.stdin.read()
            os._exit(0)
        threading.Thread(target=watchdog, daemon=True).start()
        threading.Timer(lifetime, lambda: os._exit(0)).start()
        server.serve_forever()
        """#
}
