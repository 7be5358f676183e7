#!/usr/bin/env python3
"""A third-party nrpc/1 client of numberd, written only from proto/FRAMING.md, proto/numbers/v1/numbers.proto and
README.md: the proof that proto/ is a contract other languages can use. Standard library plus Google's protobuf
runtime (the messages are compiled from proto/ at run time with grpc_tools.protoc).

    nrpc_client.py scenario --host 127.0.0.1 --port P --ca CA.pem (--admin-key nk_… | --admin-key-file FILE)

runs a customer's flow and its error paths against a running numberd, one line per check; exits 1 at the first
failure, naming it. Run by the Swift test PythonClientTests.
"""
import argparse
import importlib.util
import os
import socket
import ssl
import struct
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

# FRAMING.md §2-§8.
PREFACE = b"NRPC\x00\x01\x00\x00"
SETTINGS, HEADERS, MESSAGE, TRAILERS, CANCEL, PING, GOAWAY = range(7)
ACK = END_STREAM = 0x1
ALLOWED_FLAGS = {SETTINGS: ACK, HEADERS: END_STREAM, MESSAGE: END_STREAM, TRAILERS: 0, CANCEL: 0, PING: ACK, GOAWAY: 0}
MAX_MESSAGE_PAYLOAD, MAX_CONCURRENT_STREAMS, MAX_HEADERS_PAYLOAD, IDLE_TIMEOUT_MS = 1, 2, 3, 4
DEFAULTS = {MAX_MESSAGE_PAYLOAD: 4 << 20, MAX_CONCURRENT_STREAMS: 100, MAX_HEADERS_PAYLOAD: 16 << 10,
            IDLE_TIMEOUT_MS: 300_000}
RANGES = {MAX_MESSAGE_PAYLOAD: (16 << 10, 16 << 20), MAX_CONCURRENT_STREAMS: (1, 10_000),
          MAX_HEADERS_PAYLOAD: (1 << 10, 1 << 20), IDLE_TIMEOUT_MS: (0, 2**32 - 1)}
GOAWAY_CODES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FRAME_TOO_LARGE", "ENHANCE_YOUR_CALM",
                "VERSION_UNSUPPORTED", "SETTINGS_TIMEOUT"]
CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
         "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
         "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]


def load_messages(work):
    """numbers_pb2 compiled from proto/ into `work`, loaded by path (`numbers` would shadow Python's own module)."""
    from grpc_tools import protoc

    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    if protoc.main(["protoc", "-I" + os.path.join(ROOT, "proto"), "-I" + include, "--python_out=" + work,
                    "numbers/v1/numbers.proto"]) != 0:
        raise SystemExit("protoc failed")
    spec = importlib.util.spec_from_file_location("nrpc_numbers_pb2", os.path.join(work, "numbers/v1/numbers_pb2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ProtocolError(Exception):
    """The connection is unusable: the peer broke FRAMING.md, sent GOAWAY, or closed."""


class RpcError(Exception):
    def __init__(self, status):
        self.code, self.reason, self.message, self.metadata = status.code, status.reason, status.message, dict(
            status.metadata)
        name = CODES[self.code] if 0 <= self.code < len(CODES) else str(self.code)
        super().__init__(f"{name} / {self.reason}: {self.message} {self.metadata or ''}".rstrip())


class NotStarted(Exception):
    """The server's GOAWAY names a last stream below the call's: it never ran, and may be retried elsewhere."""


class Connection:
    def __init__(self, pb, host, port, ca, timeout=30.0):
        self.pb, self.next_stream, self.goaway, self.settings_acked, self.settled = pb, 1, None, False, False
        self.peer = dict(DEFAULTS)  # the server's limits: the defaults until its SETTINGS arrive (§7)
        self.ours = {MAX_MESSAGE_PAYLOAD: 4 << 20, MAX_HEADERS_PAYLOAD: 16 << 10}
        context = ssl.create_default_context(cafile=ca)  # verifies the chain and the host name / IP SAN (§1)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["nrpc/1"])
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        if self.sock.selected_alpn_protocol() != "nrpc/1":
            raise ProtocolError(f"ALPN: the server chose {self.sock.selected_alpn_protocol()!r}, not nrpc/1")
        self.buffer = b""
        # Preface and our SETTINGS at once (§2), then no call before the server's SETTINGS.
        self.sock.sendall(PREFACE + self.frame(SETTINGS, 0, 0, b"".join(
            struct.pack(">HI", k, v) for k, v in self.ours.items())))
        kind, flags, _, payload = self.read_frame(time.monotonic() + timeout)
        if kind != SETTINGS or flags & ACK:
            raise ProtocolError(f"the server's first frame is type {kind} flags {flags}, not its SETTINGS")
        self.on_settings(payload)
        self.settled = True

    @staticmethod
    def frame(kind, flags, stream, payload):
        return struct.pack(">IBBHI", len(payload), kind, flags, 0, stream) + payload

    def recv_exact(self, count, deadline):
        while len(self.buffer) < count:
            self.sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("nothing from the server before the deadline") from None
            if not chunk:
                raise ProtocolError("the server closed the connection" + (
                    f" after GOAWAY {self.goaway}" if self.goaway else ""))
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self, deadline):
        """The next frame, checked as §3-§4 say, after answering the connection's own frames (PING, SETTINGS)."""
        while True:
            length, kind, flags, reserved, stream = struct.unpack(">IBBHI", self.recv_exact(12, deadline))
            if reserved != 0 or kind not in ALLOWED_FLAGS or flags & ~ALLOWED_FLAGS[kind]:
                self.fail(f"bad frame header: type {kind} flags {flags} reserved {reserved}")
            if (stream == 0) != (kind in (SETTINGS, PING, GOAWAY)):
                self.fail(f"frame type {kind} on stream {stream}")
            # Our own limits, from the 12 header bytes, before buffering any payload (§3, §7).
            limit = {MESSAGE: self.ours[MAX_MESSAGE_PAYLOAD], TRAILERS: self.ours[MAX_HEADERS_PAYLOAD],
                     SETTINGS: 64 * 6, GOAWAY: 1032, PING: 8}.get(kind, 0)
            if length > limit:
                self.fail(f"frame type {kind} of {length} bytes is over our limit {limit}", code=3)
            payload = self.recv_exact(length, deadline)
            if kind == PING:
                if length != 8:
                    self.fail("PING payload is not 8 bytes")
                if not flags & ACK:
                    self.sock.sendall(self.frame(PING, ACK, 0, payload))
                    continue
            elif kind == SETTINGS and flags & ACK:
                if length:
                    self.fail("SETTINGS ACK with a payload")
                self.settings_acked = True
                continue
            elif kind == SETTINGS and self.settled:
                self.on_settings(payload)  # SETTINGS is sent once, but a later one is applied and acknowledged
                continue
            elif kind == GOAWAY:
                if length < 8:
                    self.fail("GOAWAY under 8 bytes")
                last, code = struct.unpack(">II", payload[:8])
                self.goaway = (last, GOAWAY_CODES[code] if code < len(GOAWAY_CODES) else code,
                               payload[8:].decode("utf-8", "replace"))
            return kind, flags, stream, payload

    def on_settings(self, payload):
        if len(payload) % 6:
            self.fail("SETTINGS payload not a multiple of 6")
        for offset in range(0, len(payload), 6):
            key, value = struct.unpack(">HI", payload[offset:offset + 6])
            if key in RANGES:  # unknown ids are ignored (§7)
                low, high = RANGES[key]
                if not low <= value <= high:
                    self.fail(f"SETTINGS id {key} = {value} outside {low}…{high}")
                self.peer[key] = value
        self.sock.sendall(self.frame(SETTINGS, ACK, 0, b""))

    def fail(self, why, code=1):
        """A connection error (§4): GOAWAY naming it, close, raise."""
        try:
            self.sock.sendall(self.frame(GOAWAY, 0, 0, struct.pack(">II", 0, code) + why.encode()[:1024]))
        finally:
            self.sock.close()
        raise ProtocolError(why)

    def ping(self, timeout=10.0):
        data = os.urandom(8)
        self.sock.sendall(self.frame(PING, 0, 0, data))
        deadline = time.monotonic() + timeout
        while True:
            kind, flags, _, payload = self.read_frame(deadline)
            if kind == PING and payload == data:
                return
            if kind == GOAWAY:
                raise ProtocolError(f"GOAWAY {self.goaway} while waiting for the PING's ACK")

    def call_raw(self, method, body, response_type, key=None, metadata=None, timeout=30.0):
        """One unary call (§5): HEADERS, MESSAGE + END_STREAM; then its MESSAGE (if any) and TRAILERS."""
        if self.goaway:
            raise NotStarted(f"the connection is going away: {self.goaway}")
        stream, self.next_stream = self.next_stream, self.next_stream + 2
        meta = {"user-agent": "nrpc_client.py", "request-id": f"py-{uuid.uuid4().hex[:12]}", **(metadata or {})}
        if key is not None:
            meta["authorization"] = f"Bearer {key}"
        headers = self.pb.RequestHeaders(method=f"/numbers.v1.Numbers/{method}",
                                         timeout_micros=int(timeout * 1_000_000), metadata=meta).SerializeToString()
        # Keep within the server's limits rather than have it end the connection (§7).
        if len(headers) > self.peer[MAX_HEADERS_PAYLOAD] or len(body) > self.peer[MAX_MESSAGE_PAYLOAD]:
            raise ValueError("REQUEST_TOO_LARGE: over the server's advertised limits")
        self.sock.sendall(self.frame(HEADERS, 0, stream, headers) + self.frame(MESSAGE, END_STREAM, stream, body))
        deadline, response = time.monotonic() + timeout + 5.0, None  # the server answers DEADLINE_EXCEEDED first
        while True:
            try:
                kind, _, on, payload = self.read_frame(deadline)
            except TimeoutError:
                self.sock.sendall(self.frame(CANCEL, 0, stream, b""))
                raise
            if kind == GOAWAY and self.goaway[0] < stream:
                raise NotStarted(f"GOAWAY {self.goaway}: stream {stream} was not started")
            if on != stream:
                continue  # a frame of another (ended) stream, or a GOAWAY that lets this call finish
            if kind == MESSAGE:
                if response is not None:
                    self.fail(f"a second MESSAGE on unary stream {stream}")
                response = response_type.FromString(payload)
            elif kind == TRAILERS:
                status = self.pb.RpcStatus.FromString(payload)
                if status.code != 0:
                    raise RpcError(status)
                return response if response is not None else response_type()
            else:
                self.fail(f"frame type {kind} from the server on stream {stream}")

    def call(self, method, request, key=None, **options):
        response_type = getattr(self.pb, request.DESCRIPTOR.name.replace("Request", "Response"))
        return self.call_raw(method, request.SerializeToString(), response_type, key, **options)

    def close(self):
        """Graceful end: GOAWAY NO_ERROR (the server opens no streams: last id 0), then TLS close_notify."""
        try:
            self.sock.sendall(self.frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0) + b"client done"))
            self.sock.unwrap()
        except (OSError, ValueError):
            pass
        self.sock.close()


# ---------------------------------------------------------------------------------------------------------------
# The scenario


def check(condition, what, detail=""):
    if not condition:
        raise SystemExit(f"FAIL: {what}" + (f" ({detail})" if detail else ""))
    print(f"ok   {what}" + (f": {detail}" if detail else ""), flush=True)


def expect_error(what, code, reason, function):
    try:
        result = function()
    except RpcError as error:
        name = CODES[error.code] if 0 <= error.code < len(CODES) else str(error.code)
        check(name == code and (reason is None or error.reason == reason),
              what, f"{name} / {error.reason} {error.metadata or ''}".rstrip())
        return error
    raise SystemExit(f"FAIL: {what}: expected {code} / {reason}, the call succeeded: {result}")


def scenario(args):
    key = args.admin_key or open(args.admin_key_file, encoding="utf-8").read().strip()
    with tempfile.TemporaryDirectory(prefix="nrpc-client-") as work:
        pb = load_messages(work)
        conn = Connection(pb, args.host, args.port, args.ca)
        try:
            run(pb, conn, key)
        finally:
            conn.close()
    print("scenario passed")


def run(pb, conn, admin):
    check(True, "TLS (ALPN nrpc/1, CA-verified), preface, the server's SETTINGS",
          ", ".join(f"{k}={v}" for k, v in sorted(conn.peer.items())))
    conn.ping()
    check(True, "PING answered with its ACK")

    health = conn.call("HealthCheck", pb.HealthCheckRequest())
    check(health.status == pb.SERVING_STATUS_SERVING and health.version, "HealthCheck without a key",
          f"SERVING, version {health.version}")
    check(conn.settings_acked, "the server acknowledged our SETTINGS")

    account = conn.call("CreateAccount", pb.CreateAccountRequest(name="Python peer", currency="USD"), admin).account
    check(account.id.startswith("ACC_") and account.currency == "USD" and account.balance == 0
          and account.status == pb.ACCOUNT_STATUS_ACTIVE, "CreateAccount (USD)", account.id)
    acc = account.id

    funds = conn.call("AddFunds", pb.AddFundsRequest(account_id=acc, amount=10_000, currency="USD"), admin,
                      metadata={"idempotency-key": f"py-funds-{uuid.uuid4().hex}"})
    tx = funds.transaction
    check(tx.kind == pb.TRANSACTION_KIND_FUNDS_ADDED and tx.amount == 10_000 and tx.balance_change == 10_000
          and funds.balance == 10_000 and tx.balance_after == 10_000, "AddFunds 10000 minor units", tx.id)

    search = conn.call("SearchNumbers", pb.SearchNumbersRequest(account_id=acc, country="US", area_code="415",
                                                                limit=5), admin)
    check(len(search.numbers) > 0 and search.total_found >= len(search.numbers)
          and all(n.phone_number.startswith("+1415") and n.pricing.currency == "USD" for n in search.numbers),
          "SearchNumbers US 415", f"{len(search.numbers)} of {search.total_found}")
    found = search.numbers[0]
    price = found.pricing
    check(price.monthly_fee > 0 and price.setup_fee >= 0, "a found number and its price",
          f"{found.phone_number} setup {price.setup_fee} monthly {price.monthly_fee} {price.currency}")

    key = f"py-buy-{uuid.uuid4().hex}"
    purchase = pb.PurchaseNumbersRequest(account_id=acc, country="US", numbers=[found.phone_number], currency="USD",
                                         max_monthly_fee=price.monthly_fee, max_setup_fee=price.setup_fee)
    bought = conn.call("PurchaseNumbers", purchase, admin, metadata={"idempotency-key": key})
    check(len(bought.numbers) == 1, "PurchaseNumbers one number", bought.message)
    number, paid = bought.numbers[0].number, bought.numbers[0].transaction
    charge = number.pricing.setup_fee + number.pricing.monthly_fee
    check(number.phone_number == found.phone_number and number.status == pb.NUMBER_STATUS_ACTIVE
          and number.pricing.monthly_fee <= price.monthly_fee and number.pricing.setup_fee <= price.setup_fee,
          "the bought number is active, at most the searched price", number.id)
    check(paid.kind == pb.TRANSACTION_KIND_PURCHASE and paid.amount == charge and paid.balance_change == -charge
          and bought.total_charged == charge and bought.balance_after == 10_000 - charge == paid.balance_after
          and paid.number_id == number.id, "the purchase charged setup fee + first month",
          f"{charge}, balance after {bought.balance_after}")

    again = conn.call("PurchaseNumbers", purchase, admin, metadata={"idempotency-key": key})
    check(again.replayed and not bought.replayed, "the replay says it is one (replayed); the first purchase does not",
          f"first {bought.replayed}, replay {again.replayed}")
    again.ClearField("replayed")
    check(again == bought, "the same purchase under the same idempotency key replays the first result",
          "" if again == bought else f"first {bought}, replay {again}")
    expect_error("the same key with other parameters", "FAILED_PRECONDITION", "IDEMPOTENCY_KEY_REUSED",
                 lambda: conn.call("PurchaseNumbers", pb.PurchaseNumbersRequest(
                     account_id=acc, country="US", numbers=[found.phone_number], currency="USD"), admin,
                     metadata={"idempotency-key": key}))

    listed = conn.call("ListNumbers", pb.ListNumbersRequest(account_id=acc), admin)
    check([n.id for n in listed.numbers] == [number.id] and listed.total == 1
          and listed.monthly_cost == number.pricing.monthly_fee and listed.currency == "USD",
          "ListNumbers holds the number once, monthly cost = its fee", f"monthly_cost {listed.monthly_cost}")
    got = conn.call("GetNumber", pb.GetNumberRequest(account_id=acc, number_id=number.id), admin)
    check(got.number == number, "GetNumber answers the number as bought", got.number.phone_number)

    balance = conn.call("GetBalance", pb.GetBalanceRequest(account_id=acc), admin)
    check(balance.balance == funds.balance - charge and balance.held == 0 and balance.available == balance.balance,
          "GetBalance = funds − setup fee − first month", f"{balance.balance} {balance.currency}")

    dry = conn.call("ReleaseNumber", pb.ReleaseNumberRequest(account_id=acc, number_id=number.id, dry_run=True), admin)
    check(dry.final_billing.next_billing_date == number.next_billing_date and dry.final_billing.renewal_charge == 0,
          "the dry run names the end of the cycle its refund is of, no renewal charge", str(number.next_billing_date))
    # Held to a cycle end that is not the number's: refused, nothing released (a billing date passed since the dry run).
    moved = pb.ReleaseNumberRequest(account_id=acc, number_id=number.id)
    moved.expected_next_billing_date.seconds = dry.final_billing.next_billing_date.seconds + 86_400
    expect_error("a release held to another cycle end", "FAILED_PRECONDITION", "PRICE_CHANGED",
                 lambda: conn.call("ReleaseNumber", moved, admin))
    release_key = f"py-release-{uuid.uuid4().hex}"
    release = pb.ReleaseNumberRequest(account_id=acc, number_id=number.id,
                                      expected_next_billing_date=dry.final_billing.next_billing_date)
    released = conn.call("ReleaseNumber", release, admin, metadata={"idempotency-key": release_key})
    replayed = conn.call("ReleaseNumber", release, admin, metadata={"idempotency-key": release_key})
    check(replayed.replayed and not released.replayed and replayed.final_billing == released.final_billing
          and replayed.transaction == released.transaction and replayed.released_at == released.released_at,
          "the same release under the same idempotency key replays the first result",
          "" if replayed.replayed else f"first {released}, replay {replayed}")
    expect_error("the release again under another key", "FAILED_PRECONDITION", "ALREADY_RELEASED",
                 lambda: conn.call("ReleaseNumber", release, admin,
                                   metadata={"idempotency-key": f"py-release-{uuid.uuid4().hex}"}))
    bill = released.final_billing
    refund = number.pricing.monthly_fee * bill.remaining_days // bill.days_in_cycle
    check(dry.dry_run and not dry.HasField("transaction") and dry.final_billing.prorated_refund == bill.prorated_refund,
          "ReleaseNumber dry run shows the same refund, posts nothing", str(dry.final_billing.prorated_refund))
    check(released.id == number.id and not released.dry_run and 28 <= bill.days_in_cycle <= 31
          and bill.days_in_cycle - 2 <= bill.remaining_days < bill.days_in_cycle and bill.prorated_refund == refund
          and bill.currency == "USD", "ReleaseNumber: refund = monthly fee × remaining days / days in cycle",
          f"{bill.prorated_refund} = {number.pricing.monthly_fee} × {bill.remaining_days} / {bill.days_in_cycle}")
    check((not released.HasField("transaction")) if refund == 0 else (
        released.transaction.kind == pb.TRANSACTION_KIND_REFUND and released.transaction.amount == refund
        and released.transaction.balance_change == refund), "the refund transaction", released.transaction.id)

    after = conn.call("GetBalance", pb.GetBalanceRequest(account_id=acc), admin).balance
    check(after == balance.balance + refund, "the balance after the release", str(after))
    txs = conn.call("ListTransactions", pb.ListTransactionsRequest(account_id=acc), admin).transactions
    kinds = [pb.TransactionKind.Name(t.kind).removeprefix("TRANSACTION_KIND_") for t in txs]
    expected = ["REFUND", "PURCHASE", "FUNDS_ADDED"] if refund else ["PURCHASE", "FUNDS_ADDED"]
    check(kinds == expected, "ListTransactions, newest first (the replay posted nothing)", " ".join(kinds))
    running = 0
    for kind, t in reversed(list(zip(kinds, txs))):
        running += t.balance_change
        check(t.amount == abs(t.balance_change) and t.balance_after == running and t.actor.startswith("KEY_"),
              f"  {kind} {t.balance_change:+d} → {t.balance_after}", f"by {t.actor}")
    check(running == after, "the ledger sums to the balance", str(running))

    # The statement of a period holding the whole ledger (a day either side of its transactions).
    times = [t.created_at.seconds for t in txs]
    statement = conn.call("GetStatement", pb.GetStatementRequest(
        account_id=acc, start_time={"seconds": min(times) - 86400}, end_time={"seconds": max(times) + 86400}), admin)
    lines = {pb.TransactionKind.Name(line.kind).removeprefix("TRANSACTION_KIND_"): line for line in statement.lines}
    check(statement.opening_balance == 0 and statement.closing_balance == after
          and statement.credits - statement.debits == after and statement.transaction_count == len(txs)
          and sorted(lines) == sorted(kinds) and all(line.count == 1 for line in lines.values()),
          "GetStatement: opening 0, closing = the balance, one line per kind",
          f"{statement.opening_balance} + {statement.credits} - {statement.debits} = {statement.closing_balance}")
    # The same period's entries, a page at a time (a token is its period's own); one that starts after them holds none.
    listed, token = [], ""
    while True:
        page = conn.call("ListTransactions", pb.ListTransactionsRequest(
            account_id=acc, page_size=2, page_token=token, start_time={"seconds": min(times) - 86400},
            end_time={"seconds": max(times) + 86400}), admin)
        listed += [t.id for t in page.transactions]
        token = page.next_page_token
        if not token:
            break
    check(listed == [t.id for t in txs], "ListTransactions of the period, 2 a page: the whole ledger, newest first",
          str(len(listed)))
    later = conn.call("ListTransactions", pb.ListTransactionsRequest(
        account_id=acc, start_time={"seconds": max(times) + 1}), admin)
    check(not later.transactions and not later.next_page_token, "ListTransactions from after the last entry: none")
    expect_error("GetStatement without its period", "INVALID_ARGUMENT", "INVALID_FIELD",
                 lambda: conn.call("GetStatement", pb.GetStatementRequest(account_id=acc), admin))

    # Error paths.
    expect_error("a wrong API key", "UNAUTHENTICATED", "INVALID_CREDENTIALS",
                 lambda: conn.call("GetBalance", pb.GetBalanceRequest(account_id=acc), "nk_" + "0" * 40))
    expect_error("no API key", "UNAUTHENTICATED", "MISSING_CREDENTIALS",
                 lambda: conn.call("GetBalance", pb.GetBalanceRequest(account_id=acc)))
    error = expect_error("GetNumber of an unknown id", "NOT_FOUND", None,
                         lambda: conn.call("GetNumber", pb.GetNumberRequest(account_id=acc,
                                                                            number_id="NUM_000000000000"), admin))
    check(error.reason != "", "  NOT_FOUND names a reason", error.reason)
    expect_error("a malformed request body (a length past its end)", "INVALID_ARGUMENT", "MALFORMED_REQUEST",
                 lambda: conn.call_raw("GetBalance", b"\x0a\x7f" + acc.encode(), pb.GetBalanceResponse, admin))
    expect_error("an unknown method", "UNIMPLEMENTED", None,
                 lambda: conn.call_raw("NoSuchMethod", b"", pb.HealthCheckResponse, admin))
    expect_error("a request-id with a space", "INVALID_ARGUMENT", "BAD_METADATA",
                 lambda: conn.call("HealthCheck", pb.HealthCheckRequest(), metadata={"request-id": "a b"}))
    check(conn.call("GetBalance", pb.GetBalanceRequest(account_id=acc), admin).balance == after,
          "the connection still carries calls after those errors")

    poor = conn.call("CreateAccount", pb.CreateAccountRequest(name="Python peer, poor", currency="USD"),
                     admin).account.id
    conn.call("AddFunds", pb.AddFundsRequest(account_id=poor, amount=50, currency="USD"), admin,
              metadata={"idempotency-key": f"py-funds-{uuid.uuid4().hex}"})
    other = search.numbers[1] if len(search.numbers) > 1 else found
    need = other.pricing.setup_fee + other.pricing.monthly_fee
    error = expect_error("a purchase with insufficient funds", "FAILED_PRECONDITION", "INSUFFICIENT_BALANCE",
                         lambda: conn.call("PurchaseNumbers", pb.PurchaseNumbersRequest(
                             account_id=poor, country="US", numbers=[other.phone_number], currency="USD"), admin,
                             metadata={"idempotency-key": f"py-buy-{uuid.uuid4().hex}"}))
    details = error.metadata
    check(details.get("available") == "50" and details.get("required") == str(need)
          and details.get("shortfall") == str(need - 50), "  its details: required, available, shortfall",
          str(details))
    check(conn.call("GetBalance", pb.GetBalanceRequest(account_id=poor), admin).balance == 50,
          "  nothing was charged")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("scenario", help="run the customer flow and its error paths")
    run_parser.add_argument("--host", default="127.0.0.1")
    run_parser.add_argument("--port", type=int, required=True)
    run_parser.add_argument("--ca", required=True, help="the CA numberd's certificate is checked against")
    keys = run_parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--admin-key", help="the admin key itself, nk_…")
    keys.add_argument("--admin-key-file", help="a file holding it (numberd's <data-dir>/admin.key)")
    args = parser.parse_args()
    try:
        scenario(args)
    except (ProtocolError, NotStarted, RpcError, TimeoutError, OSError, ssl.SSLError) as error:
        raise SystemExit(f"FAIL: {type(error).__name__}: {error}") from None


if __name__ == "__main__":
    main()
