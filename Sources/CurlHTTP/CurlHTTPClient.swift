import CCurl
import Foundation
import Logging

/// An HTTPS client over the system libcurl that never blocks the caller's thread.
///
/// Transfers run on libcurl's multi interface on one dedicated thread per client, which caches connections (and
/// reuses them for the same host) and reuses easy handles. At most `concurrentTransfersMax` transfers run at once;
/// up to `queuedRequestsMax` more wait; beyond that a request fails at once with `.queueFull`. Cancelling the
/// calling task removes its transfer. TLS peer and host-name verification are always on.
///
/// ```swift
/// try await withCurlHTTPClient(configuration: .defaults) { client in
///     let response = try await client.execute(HTTPRequest(method: .get, url: "https://example.com/"))
///     print(response.status, response.metrics.reusedConnection)
/// }
/// ```
///
/// Call ``shutdown()`` when done (``withCurlHTTPClient(configuration:_:)`` does): it stops the thread.
public final class CurlHTTPClient: Sendable {
    /// The configuration the client runs with.
    public let configuration: HTTPClientConfiguration
    private let engine: CurlEngine

    /// Starts a client and its thread. Traps on an invalid configuration (e.g. a zero limit); throws
    /// `.internalError` if libcurl cannot be initialised. `logger` hears when libcurl itself fails (its running
    /// requests fail then, `.internalError`) and when it works again.
    public convenience init(
        configuration: HTTPClientConfiguration = .defaults, logger: Logger = Logger(label: "numberd.http")
    ) throws(HTTPClientError) {
        try self.init(configuration: configuration, logger: logger, multiCalls: .system)
    }

    /// The same, driving transfers with `multiCalls` (a test's, to make libcurl's multi calls fail).
    init(
        configuration: HTTPClientConfiguration, logger: Logger, multiCalls: MultiCalls
    ) throws(HTTPClientError) {
        configuration.validate()
        guard CurlGlobal.initialized else {
            throw HTTPClientError(
                code: .internalError, message: "curl_global_init failed", requestMayHaveBeenSent: false)
        }
        guard let raw = curl_multi_init() else {
            throw HTTPClientError(
                code: .internalError, message: "curl_multi_init failed", requestMayHaveBeenSent: false)
        }
        _ = numberd_curl_multi_setopt_long(raw, CURLMOPT_MAXCONNECTS, configuration.limits.idleConnectionsMax)
        let engine = CurlEngine(
            configuration: configuration, multi: MultiHandle(raw: raw), multiCalls: multiCalls, logger: logger)
        self.configuration = configuration
        self.engine = engine
        let thread = Thread {
            CurlLoop(engine: engine).run()
        }
        thread.name = "CurlHTTP"
        thread.start()
    }

    deinit {
        engine.beginShutdown()
    }

    /// Sends `request` and returns the response, whatever its status.
    ///
    /// Throws ``HTTPClientError`` when there is no response: `.invalidRequest` (checked before queueing),
    /// `.queueFull`, `.shutDown`, `.cancelled`, `.dnsResolution`, `.connect`, `.tlsVerification`, `.tlsHandshake`,
    /// `.tlsConfiguration`, `.timeout`, `.responseTooLarge`, `.connectionLost`, `.protocolError`, `.internalError`.
    public func execute(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        try request.validate(limits: configuration.limits)
        let job = CurlJob(request: request)
        let engine = self.engine
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                job.attach(continuation)
                if job.isCancelled {
                    job.fail(.cancelled, "the request was cancelled before it was queued")
                } else {
                    engine.enqueue(job)
                }
            }
        } onCancel: {
            engine.cancel(job)
        }
        return try result.get()
    }

    /// How many requests are running and queued now.
    public var load: HTTPClientLoad { engine.load }

    /// Stops the client: queued and running requests fail with `.shutDown`, the thread ends and libcurl's handles
    /// (with their cached connections) are freed. Returns when that is done. Calling it again is harmless.
    public func shutdown() async {
        engine.beginShutdown()
        await engine.waitUntilStopped()
    }
}

/// Runs `body` with a new client and shuts the client down afterwards, whether `body` returns or throws.
@discardableResult
public func withCurlHTTPClient<Result: Sendable>(
    configuration: HTTPClientConfiguration = .defaults,
    _ body: (CurlHTTPClient) async throws -> Result
) async throws -> Result {
    let client = try CurlHTTPClient(configuration: configuration)
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}
