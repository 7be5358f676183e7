import Logging
import NIOCore
import NumberAPI
import NumberClient
import NumberCore
import NumberWire
import Synchronization
import TestSupport
import Testing

@testable import NumberServer

/// What the server logs about a call carries the call's `request-id` (the client's, or the one the server made and
/// gave the handler) and its method, so a caller's report can be matched with the server's lines.
@Suite("Server: call log lines carry the request id")
struct CallLoggingTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    /// The request ids of the HealthCheck calls whose handler has started.
    final class Started: Sendable {
        private let ids = Mutex<Set<String>>([])

        func add(_ id: String) { _ = ids.withLock { $0.insert(id) } }

        /// Waits (up to 60 s: a loaded machine can be slow to get the request there) until `id`'s handler ran.
        func wait(for id: String) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(60)
            while !ids.withLock({ $0.contains(id) }) {
                guard ContinuousClock.now < deadline else { return false }
                try await Task.sleep(for: .milliseconds(10))
            }
            return true
        }
    }

    /// GetAccount fails NOT_FOUND, GetBalance succeeds (logging through the call's logger), HealthCheck notes its
    /// start in `started` and sleeps `hold` (10 s unless told).
    static func router(started: Started = Started(), hold: Duration = .seconds(10)) -> RPCRouter {
        var router = RPCRouter()
        router.register(NumbersMethods.getAccount) { request, _ in
            throw RPCError(code: .notFound, message: "no account \(request.accountId)", reason: "ACCOUNT_NOT_FOUND")
        }
        router.register(NumbersMethods.listTrunks) { _, _ in
            throw RPCError(code: .internal, message: "the server's own failure", reason: "STORE_FAILED")
        }
        router.register(NumbersMethods.getBalance) { request, context in
            context.logger.info("handler ran")
            return GetBalanceResponse(accountId: request.accountId, balance: 1, currency: "USD")
        }
        router.register(NumbersMethods.healthCheck) { _, context in
            started.add(context.requestID)
            try await Task.sleep(for: hold)
            return HealthCheckResponse(status: .serving, version: "t")
        }
        return router
    }

    @Test("failed, timed-out, cancelled and refused calls and finished ones are logged with request-id and method")
    func requestIDInCallLines() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let started = Started()
        // HealthCheck holds its call far past req-late's deadline, and until req-cancel is cancelled, however starved.
        let router = Self.router(started: started, hold: .seconds(600))
        try await withTestServer(router: router, tls: tls, logger: logger) { _, port in
            var configuration = tls.clientConfiguration(port: port)
            configuration.retry = .none
            // Limits no call here measures: a starved process (no CPU for up to 50 s) must not end a call by them.
            configuration.connectTimeout = .seconds(300)
            configuration.handshakeTimeout = .seconds(300)
            configuration.defaultTimeout = .seconds(300)
            try await withNumbersClient(configuration) { client in
                _ = try? await client.getAccount(
                    GetAccountRequest(accountId: "ACC_x"), options: CallOptions(requestID: "req-failed"))
                _ = try await client.getBalance(
                    GetBalanceRequest(accountId: "ACC_x"), options: CallOptions(requestID: "req-ok"))
                // A deadline the request reaches the server well within even in a starved run (the server logs only
                // calls it got; 3 s may pass before it is sent), far short of the handler's hold.
                _ = try? await client.healthCheck(
                    HealthCheckRequest(), options: CallOptions(timeout: .seconds(60), requestID: "req-late"))
                let cancelled = Task {
                    try await client.healthCheck(HealthCheckRequest(), options: CallOptions(requestID: "req-cancel"))
                }
                // Cancelled once the server runs it: a cancel before the request is written never reaches it.
                let running = try await started.wait(for: "req-cancel")
                cancelled.cancel()
                try #require(running, "the req-cancel call never reached its handler")
                _ = await cancelled.result
                let unknown = MethodDescriptor<HealthCheckRequest, HealthCheckResponse>(
                    service: "numbers.v1.Numbers", method: "NoSuchMethod")
                _ = try? await client.call(
                    unknown, HealthCheckRequest(), options: CallOptions(requestID: "req-unknown"))
                _ = try await client.getBalance(GetBalanceRequest(accountId: "ACC_y"))
            }
            let failed = try await lines.line("call failed", "request-id", "req-failed")
            #expect(failed?.metadata["method"] == NumbersMethods.getAccount.path, "\(String(describing: failed))")
            #expect(failed?.metadata["status"] == "\(StatusCode.notFound)")
            let finished = try await lines.line("call finished", "request-id", "req-ok")
            #expect(finished?.metadata["method"] == NumbersMethods.getBalance.path, "\(String(describing: finished))")
            let late = try await lines.line("call failed", "request-id", "req-late")
            #expect(late?.metadata["method"] == NumbersMethods.healthCheck.path, "\(String(describing: late))")
            // The server's deadline (from the HEADERS' timeout) or the client's CANCEL at its own, whichever is first.
            let lateStatus = late?.metadata["status"]
            #expect(
                lateStatus == "\(StatusCode.deadlineExceeded)" || lateStatus == "\(StatusCode.cancelled)",
                "\(String(describing: late))")
            let cancelledLine = try await lines.line("call failed", "request-id", "req-cancel")
            #expect(
                cancelledLine?.metadata["status"] == "\(StatusCode.cancelled)", "\(String(describing: cancelledLine))")
            let refused = try await lines.line("call failed", "request-id", "req-unknown")
            #expect(refused?.metadata["status"] == "\(StatusCode.unimplemented)", "\(String(describing: refused))")
            // A call without a request id: its lines carry the one the server made and gave the handler.
            let handlerLines = lines.all.filter { $0.message == "handler ran" }
            let made = try #require(
                handlerLines.first { $0.metadata["request-id"] != "req-ok" }?.metadata["request-id"])
            let madeFinished = try await lines.line("call finished", "request-id", made)
            #expect(madeFinished?.metadata["method"] == NumbersMethods.getBalance.path)
        }
    }

    @Test("a call whose HEADERS do not decode is logged as failed, under the method \"unknown\"")
    func malformedHeadersAreLogged() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        // Limits this test does not measure, past what a starved full run takes (handshakes of 15–26 s, a minute with
        // no CPU): a clean-clone CI run saw no trailers within the 60 s wait (the server's 10 s handshake and settings
        // timeouts, or the starvation itself; the message now shows what came).
        let tls = try TestTLS(handshakeTimeout: .seconds(600))
        var configuration = NumberServerConfiguration(port: 0)
        configuration.connection.settingsTimeout = .seconds(600)
        try await withTestServer(router: Self.router(), tls: tls, configuration: configuration, logger: logger) {
            _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            var bytes = clientStart()
            var garbage = ByteBuffer()
            garbage.writeBytes([0xFF, 0xFF, 0xFF])
            bytes.writeFrame(Frame(type: .headers, streamID: 1, payload: garbage))
            bytes.writeFrame(Frame(type: .message, flags: .endStream, streamID: 1, payload: ByteBuffer()))
            try await connection.send(bytes)
            let frames = try await connection.waitForFrames(timeout: .seconds(300)) {
                try trailerStatuses($0)[1] != nil
            }
            let seen = frames.map { "\($0.type)/\($0.streamID)" }
            let logged = lines.all.suffix(10).map { "\($0.message)" }.joined(separator: "; ")
            #expect(
                try trailerStatuses(frames)[1]?.reason == "MALFORMED_HEADERS",
                "frames \(seen), closed \(connection.isClosed), log: \(logged)")
            let line = try await lines.line("call failed", "method", "unknown")
            #expect(line?.metadata["status"] == "\(StatusCode.invalidArgument)", "\(String(describing: line))")
            #expect(line?.metadata["request-id"]?.isEmpty == false)
        }
    }

    @Test(
        "a call refused for too many streams is logged as failed, with the reason and the method its HEADERS named",
        arguments: [
            (NumbersMethods.healthCheck.path, NumbersMethods.healthCheck.path),
            // An unregistered path is not a label of its own (clients must not grow the metrics' label set).
            ("/numbers.v1.Numbers/NoSuchMethod", "unknown"),
        ])
    func refusedCallsAreLogged(refusedMethod: String, logged: String) async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        try await withTestServer(router: Self.router(), tls: tls, logger: logger) { _, port in
            let connection = try await RawConnection.connect(port: port, tls: tls)
            var bytes = clientStart()
            // HealthCheck holds its stream for 10 s: the 101st call is over MAX_CONCURRENT_STREAMS.
            for index in 0..<UInt32(101) {
                let method = index == 100 ? refusedMethod : NumbersMethods.healthCheck.path
                try writeCall(&bytes, stream: 2 * index + 1, method: method)
            }
            try await connection.send(bytes)
            let frames = try await connection.waitForFrames { try trailerStatuses($0)[201] != nil }
            #expect(try trailerStatuses(frames)[201]?.reason == "TOO_MANY_STREAMS")
            let line = try await lines.line("call failed", "reason", "TOO_MANY_STREAMS")
            #expect(line?.metadata["status"] == "\(StatusCode.resourceExhausted)", "\(String(describing: line))")
            // Found probing the server: such refusals were counted and logged under method "unknown".
            #expect(line?.metadata["method"] == logged, "\(String(describing: line))")
        }
    }

    @Test("the handler runs in the call's CallScope: the core's log lines about the call name its request-id")
    func handlerRunsInTheCallScope() async throws {
        var router = RPCRouter()
        router.register(NumbersMethods.healthCheck) { _, context in
            // A child task too: the saga and the Twilio adapter log from the handler's tasks.
            async let inChild = CallScope.requestID
            let seen = await inChild
            #expect(seen == CallScope.requestID && seen == context.requestID)
            return HealthCheckResponse(status: .serving, version: seen ?? "none")
        }
        try await withTestServer(router: router, tls: tls) { _, port in
            try await withNumbersClient(tls.clientConfiguration(port: port)) { client in
                let sent = try await client.healthCheck(
                    HealthCheckRequest(), options: CallOptions(requestID: "req-scope"))
                #expect(sent.version == "req-scope")
                let made = try await client.healthCheck(HealthCheckRequest())
                #expect(made.version != "none" && !made.version.isEmpty)
            }
        }
        #expect(CallScope.requestID == nil)
    }

    /// A client retrying into a refusal (RATE_LIMITED at thousands of calls a second) wrote an info line per call, on
    /// the event loop. Per connection, the first `failedCallsLoggedMax` failed calls of a window go at info, the rest
    /// at debug (still with their request id), and the next window first counts them in one info line.
    @Test("a connection's failed calls: the first 20 of a window at info, the rest at debug")
    func failedCallsAreQuietedPerWindow() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        let calls = ServerConnectionHandler.failedCallsLoggedMax + 10
        try await withTestServer(router: Self.router(), tls: tls, logger: logger) { _, port in
            var configuration = tls.clientConfiguration(port: port)
            configuration.retry = .none
            let started = ContinuousClock.now
            try await withNumbersClient(configuration) { client in
                for index in 0..<calls {
                    _ = try? await client.getAccount(
                        GetAccountRequest(accountId: "ACC_x"), options: CallOptions(requestID: "req-\(index)"))
                }
                // The server's own failure, past the cap: still at info.
                _ = try? await client.listTrunks(
                    ListTrunksRequest(accountId: "ACC_x"), options: CallOptions(requestID: "req-internal"))
            }
            let took = ContinuousClock.now - started
            let internalFailure = try await lines.line("call failed", "request-id", "req-internal")
            #expect(internalFailure?.level == .info, "\(String(describing: internalFailure))")
            let deadline = ContinuousClock.now + .seconds(60)
            var failed: [CapturingLogHandler.Line] = []
            while failed.count < calls, ContinuousClock.now < deadline {
                failed = lines.all.filter { $0.message == "call failed" && $0.metadata["request-id"] != "req-internal" }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(failed.count == calls)
            let info = failed.filter { $0.level == .info }.count
            if took < ServerConnectionHandler.failedCallsWindow - .seconds(1) {
                #expect(info == ServerConnectionHandler.failedCallsLoggedMax)
                #expect(failed.filter { $0.level == .debug }.count == 10)
                // Counted when the connection closes (no later failure started a new window).
                let summary = try await lines.line("failed calls logged at debug", "calls", "10")
                #expect(summary?.level == .info)
            } else {
                // A loaded machine took longer than a window for the calls: at most the cap per window begun.
                let windows = Int(took.components.seconds / 10) + 1
                #expect(info <= ServerConnectionHandler.failedCallsLoggedMax * windows, "\(info) in \(took)")
            }
            #expect(failed.last?.metadata["request-id"] == "req-\(calls - 1)")
        }
    }
}
