import CurlHTTP
import Foundation
import Testing

@Suite("CurlHTTPClient failures say what failed")
struct CurlHTTPClientFailureTests {
    static let bodyMax = 1 << 20

    @Test func bodyAtTheLimitIsAccepted() async throws {
        try await withServerAndClient(configure: { $0.limits.responseBodyLengthMax = Self.bodyMax }) { server, client in
            let response = try await client.execute(
                HTTPRequest(method: .get, url: server.url("/bytes?n=\(Self.bodyMax)")))
            #expect(response.body.count == Self.bodyMax)
        }
    }

    @Test(arguments: ["/bytes", "/chunked"])
    func bodyOverTheLimitAborts(path: String) async throws {
        try await withServerAndClient(configure: { $0.limits.responseBodyLengthMax = Self.bodyMax }) { server, client in
            let started = ContinuousClock.now
            let error = await expectFailure(.responseTooLarge) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("\(path)?n=\(Self.bodyMax + 1)")))
            }
            #expect(error?.message.contains("responseBodyLengthMax") == true)
            // Aborted at the limit, not at the 120 s total timeout (slack for a loaded machine).
            #expect(ContinuousClock.now - started < .seconds(100))
            // The client still works afterwards (the aborted connection was dropped, not reused half-read).
            let after = try await client.execute(HTTPRequest(method: .get, url: server.url("/bytes?n=10")))
            #expect(after.body.count == 10)
        }
    }

    @Test func headersOverTheLimitAbort() async throws {
        try await withServerAndClient(configure: { $0.limits.responseHeadersLengthMax = 4_096 }) { server, client in
            let fitting = try await client.execute(HTTPRequest(method: .get, url: server.url("/headers?n=20")))
            #expect(fitting.status == 200)
            let error = await expectFailure(.responseTooLarge) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/headers?n=60")))
            }
            #expect(error?.message.contains("responseHeadersLengthMax") == true)
        }
    }

    @Test func stalledServerTimesOut() async throws {
        try await withServerAndClient { server, client in
            // Warm the connection first, so the timeout surely hits after the request went out.
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            let started = ContinuousClock.now
            let error = await expectFailure(.timeout) {
                try await client.execute(
                    HTTPRequest(method: .get, url: server.url("/stall?s=300"), timeoutMilliseconds: 500))
            }
            #expect(error?.requestMayHaveBeenSent == true)
            #expect(error?.message.contains("waiting for the response") == true)
            // The request's 500 ms, not the server's answer after 300 s (slack for a loaded machine).
            #expect(ContinuousClock.now - started < .seconds(200))
        }
    }

    @Test func handshakeThatNeverCompletesTimesOutBeforeSending() async throws {
        // A socket that listens but never accepts: TCP connects (backlog), the TLS ClientHello gets no answer.
        let (socket, port) = try loopbackSocket(listening: true)
        defer { close(socket) }
        var configuration = HTTPClientConfiguration.defaults
        configuration.timeouts.connectMilliseconds = 300
        configuration.timeouts.totalMilliseconds = 600_000
        try await withCurlHTTPClient(configuration: configuration) { client in
            let started = ContinuousClock.now
            let error = await expectFailure(.timeout) {
                try await client.execute(HTTPRequest(method: .post, url: "https://127.0.0.1:\(port)/x", body: [1]))
            }
            #expect(error?.requestMayHaveBeenSent == false)
            #expect(error?.message.contains("timed out connecting") == true)
            // The connect timeout ended it, not the 600 s total one (generous: a loaded CI machine is slow).
            #expect(ContinuousClock.now - started < .seconds(300))
        }
    }

    @Test func configuredTotalTimeoutApplies() async throws {
        try await withServerAndClient(configure: { $0.timeouts.totalMilliseconds = 300 }) { server, client in
            await expectFailure(.timeout) {
                try await client.execute(HTTPRequest(method: .post, url: server.url("/stall?s=20"), body: [1, 2, 3]))
            }
        }
    }

    @Test func connectionRefused() async throws {
        // Bound, not listening, held to the end: a port closed again could be taken by another test's server.
        let (socket, port) = try loopbackSocket(listening: false)
        defer { close(socket) }
        try await withCurlHTTPClient { client in
            let error = await expectFailure(.connect) {
                try await client.execute(HTTPRequest(method: .post, url: "https://127.0.0.1:\(port)/x"))
            }
            #expect(error?.requestMayHaveBeenSent == false)
            #expect(error?.message.contains("127.0.0.1:\(port)/x") == true)
        }
    }

    @Test func unresolvableHost() async throws {
        try await withCurlHTTPClient { client in
            let error = await expectFailure(.dnsResolution) {
                try await client.execute(HTTPRequest(method: .get, url: "https://no-such-host.invalid/"))
            }
            #expect(error?.requestMayHaveBeenSent == false)
        }
    }

    @Test func wrongCAFailsVerification() async throws {
        let server = try await TestHTTPSServer.shared()
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = server.certificates.otherCAFile
        try await withCurlHTTPClient(configuration: configuration) { client in
            let error = await expectFailure(.tlsVerification) {
                try await client.execute(HTTPRequest(method: .post, url: server.url("/echo")))
            }
            #expect(error?.requestMayHaveBeenSent == false)
            #expect(error?.message.contains("X509 error 20") == true)
        }
    }

    /// A CA file replaced in place (a restarted twilio-sim's new CA, an egress proxy's rotated one) is read for the
    /// next connection: libcurl (7.87+) otherwise kept the first store it read from that path for 24 hours, failing
    /// every call until numberd restarted.
    @Test func caFileReplacedInPlaceIsReadForTheNextConnection() async throws {
        let server = try await TestHTTPSServer.shared()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let trusted = directory.appendingPathComponent("trusted.pem")
        try Data(contentsOf: URL(fileURLWithPath: server.certificates.otherCAFile)).write(to: trusted)
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = trusted.path
        try await withCurlHTTPClient(configuration: configuration) { client in
            await expectFailure(.tlsVerification) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            }
            // Replaced as a deployment does it: a new file renamed over the old one.
            let next = directory.appendingPathComponent("next.pem")
            try Data(contentsOf: URL(fileURLWithPath: server.certificates.caFile)).write(to: next)
            #expect(rename(next.path, trusted.path) == 0)
            let response = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            #expect(response.status == 200)
        }
    }

    @Test func systemStoreDoesNotTrustTheTestCA() async throws {
        let server = try await TestHTTPSServer.shared()
        try await withCurlHTTPClient { client in
            await expectFailure(.tlsVerification) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            }
        }
    }

    @Test func hostNameMismatchFailsVerification() async throws {
        try await withServerAndClient { server, client in
            // The certificate names only IP 127.0.0.1.
            let error = await expectFailure(.tlsVerification) {
                try await client.execute(HTTPRequest(method: .get, url: "https://localhost:\(server.port)/echo"))
            }
            #expect(error?.message.contains("host name") == true)
        }
    }

    @Test func missingCAFileIsATLSError() async throws {
        let server = try await TestHTTPSServer.shared()
        var configuration = HTTPClientConfiguration.defaults
        configuration.tls.caFilePath = "/nonexistent/ca.pem"
        try await withCurlHTTPClient(configuration: configuration) { client in
            await expectFailure(.tlsConfiguration) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            }
        }
    }

    @Test(arguments: [
        HTTPRequest(method: .get, url: "http://127.0.0.1/"),
        HTTPRequest(method: .get, url: "https://"),
        HTTPRequest(method: .get, url: "https://127.0.0.1/a b"),
        HTTPRequest(
            method: .get, url: "https://127.0.0.1/", headers: [HTTPHeader(name: "X", value: "a\r\nInjected: 1")]),
        HTTPRequest(method: .get, url: "https://127.0.0.1/", headers: [HTTPHeader(name: "Bad Name", value: "1")]),
        HTTPRequest(method: .get, url: "https://127.0.0.1/", timeoutMilliseconds: 0),
        HTTPRequest(method: .post, url: "https://127.0.0.1/", body: [UInt8](repeating: 0, count: 1_025)),
    ])
    func invalidRequestsAreRejectedBeforeQueueing(request: HTTPRequest) async throws {
        var configuration = HTTPClientConfiguration.defaults
        configuration.limits.requestBodyLengthMax = 1_024
        try await withCurlHTTPClient(configuration: configuration) { client in
            let error = await expectFailure(.invalidRequest) { try await client.execute(request) }
            #expect(error?.requestMayHaveBeenSent == false)
        }
    }

    @Test func requestBodyAtTheLimitIsSent() async throws {
        try await withServerAndClient(configure: { $0.limits.requestBodyLengthMax = 1_024 }) { server, client in
            let body = [UInt8](repeating: 7, count: 1_024)
            let echo = try Echo.decode(
                try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"), body: body)))
            #expect(echo.bodyBytes == body)
        }
    }
}

/// A TCP socket bound to 127.0.0.1 on a free port, optionally listening (and never accepting).
func loopbackSocket(listening: Bool) throws -> (Int32, Int) {
    let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw ToolError(description: "socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
            bind(socket, generic, length) == 0 && getsockname(socket, generic, &length) == 0
        }
    }
    guard bound, !listening || listen(socket, 8) == 0 else {
        close(socket)
        throw ToolError(description: "bind or listen failed")
    }
    return (socket, Int(UInt16(bigEndian: address.sin_port)))
}

@Suite("CurlHTTPClient never re-sends a POST by itself")
struct CurlHTTPClientResendTests {
    /// How many requests for `path` the fresh server has seen.
    static func hits(_ path: String, _ server: TestHTTPSServer, _ client: CurlHTTPClient) async throws -> Int {
        let response = try await client.execute(HTTPRequest(method: .get, url: server.url("/hits?path=\(path)")))
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Int]
        return try #require(object?["hits"])
    }

    @Test func postWhoseAnswerIsLostIsSentOnceAndReportedMaybeSent() async throws {
        try await withServerAndClient(freshServer: true) { server, client in
            // Warm a keep-alive connection: it is exactly the case where libcurl would silently re-send (the POST
            // goes out on it, the server drops it unanswered, and libcurl's second send is refused).
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            let error = await expectFailure(.connectionLost) {
                try await client.execute(HTTPRequest(method: .post, url: server.url("/drop-post"), body: [1]))
            }
            #expect(error?.requestMayHaveBeenSent == true)
            #expect(try await Self.hits("/drop-post", server, client) == 1)
        }
    }

    @Test func postWhoseAnswerIsLostAndWhoseReconnectFailsIsReportedMaybeSent() async throws {
        try await withServerAndClient(freshServer: true) { server, client in
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            // libcurl's retry opens a new connection first, which is refused: the refused second send never comes,
            // and the failure is a connect error, but the POST went out once.
            var error: HTTPClientError?
            do {
                _ = try await client.execute(HTTPRequest(method: .post, url: server.url("/drop-and-refuse"), body: [1]))
            } catch let failure as HTTPClientError {
                error = failure
            }
            #expect(error != nil)
            #expect(error?.requestMayHaveBeenSent == true, "\(String(describing: error))")
        }
    }

    @Test func postReusesAKeptAliveConnection() async throws {
        // A limit no loaded machine's pause between the two requests reaches (the default is 20 s).
        try await withServerAndClient(
            freshServer: true, configure: { $0.timeouts.nonRepeatableReuseIdleSeconds = 600 }
        ) { server, client in
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            let response = try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"), body: [1]))
            #expect(response.status == 200)
            #expect(response.metrics.newConnections == 0, "a POST needs no TLS handshake of its own")
        }
    }

    @Test func postOpensANewConnectionWhenReuseIsOff() async throws {
        try await withServerAndClient(
            freshServer: true, configure: { $0.timeouts.nonRepeatableReuseIdleSeconds = 0 }
        ) { server, client in
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            let response = try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"), body: [1]))
            #expect(response.metrics.newConnections == 1)
            // GETs still reuse.
            let get = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            #expect(get.metrics.newConnections == 0)
        }
    }

    @Test func postDoesNotReuseAConnectionIdleLongerThanTheLimit() async throws {
        try await withServerAndClient(
            freshServer: true, configure: { $0.timeouts.nonRepeatableReuseIdleSeconds = 1 }
        ) { server, client in
            let started = ContinuousClock.now
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            let soon = try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"), body: [1]))
            // Reused if it was idle under the limit, which only a loaded machine makes it miss: both requests took
            // under 1 s in all, so the connection was idle for less.
            if ContinuousClock.now - started < .seconds(1) {
                #expect(soon.metrics.newConnections == 0)
            }
            // libcurl counts whole seconds: idle 2+ s is over a limit of 1.
            try await Task.sleep(for: .milliseconds(2_300))
            let late = try await client.execute(HTTPRequest(method: .post, url: server.url("/echo"), body: [1]))
            #expect(late.metrics.newConnections == 1)
        }
    }

    @Test func requestThatAllowsSilentResendMayBeSentTwice() async throws {
        try await withServerAndClient(freshServer: true) { server, client in
            _ = try await client.execute(HTTPRequest(method: .get, url: server.url("/echo")))
            await expectFailure(.connectionLost) {
                try await client.execute(HTTPRequest(method: .get, url: server.url("/drop-get")))
            }
            // libcurl re-sent the GET once on a new connection, which was dropped too.
            #expect(try await Self.hits("/drop-get", server, client) == 2)
        }
    }

    @Test func defaultsFollowTheMethod() {
        #expect(!HTTPRequest(method: .post, url: "https://x/").allowsSilentResend)
        #expect(!HTTPRequest(method: .patch, url: "https://x/").allowsSilentResend)
        #expect(HTTPRequest(method: .get, url: "https://x/").allowsSilentResend)
        #expect(!HTTPRequest(method: .delete, url: "https://x/", allowsSilentResend: false).allowsSilentResend)
    }
}
