import CurlHTTP
import Foundation
import Logging
import Metrics
import Synchronization

/// Sends one logical Twilio request: Basic auth, form encoding, retries with backoff, and error mapping.
///
/// Retry rules (money is at stake, so a request that may have changed state is never sent twice):
/// - GET and DELETE (idempotent) are retried on 429/20429, on 5xx, and on connect/DNS/timeout/reset failures.
/// - POST is retried only when Twilio surely did not act: 429/20429 (Twilio documents that a throttled request
///   was not processed), 408 (the request did not arrive whole in time, so it was not acted on: every method is
///   retried) and failures before any byte was sent (DNS, connect refused, TLS).
/// - POST with a 5xx answer is `.outcomeUnknown`, never retried: Twilio's 500 may come after the number was bought
///   (and nothing documents that a 503 comes before), so the saga must look the number up.
/// - POST that timed out or lost its connection after sending, or whose 2xx body cannot be read, is
///   `.outcomeUnknown`.
/// Every retry waits per ``TwilioRetryPolicy`` (full jitter, bounded; `Retry-After` honoured up to its cap), is
/// counted in `numberd_twilio_retries_total{reason}` and logged at info within ``retryLogLinesMax`` a window per
/// reason. A request its caller's cancellation ended is not retried and is counted as `cancelled`
/// (``ProviderError/cancelled``).
struct TwilioTransport: Sendable {
    /// One request to make.
    struct Call: Sendable {
        var method: HTTPMethod
        var url: String
        var form: [(String, String)]?
        /// What the call does, for messages: "buy +14155551234".
        var operation: String
        /// Credentials to send instead of the adapter's (a check of new credentials before they are used).
        var credentials: TwilioCredentials? = nil
    }

    /// The credentials requests are sent with: read once per logical request (its retries send the same), replaced
    /// as a whole by ``TwilioProvider/rotateCredentials(to:)`` for every later request.
    final class CredentialSlot: Sendable {
        private let slot: Mutex<TwilioCredentials>

        init(_ credentials: TwilioCredentials) {
            slot = Mutex(credentials)
        }

        var current: TwilioCredentials {
            slot.withLock { $0 }
        }

        func replace(with credentials: TwilioCredentials) {
            slot.withLock { $0 = credentials }
        }
    }

    /// A 2xx answer.
    struct Answer: Sendable {
        var response: HTTPResponse
    }

    let client: CurlHTTPClient
    let credentials: CredentialSlot
    let retry: TwilioRetryPolicy
    let logger: Logger
    /// Waits between attempts (real sleep; tests may inject a recorder).
    let sleep: @Sendable (Int) async throws -> Void
    /// Uniform draw for the jitter.
    let random: @Sendable (ClosedRange<Int>) -> Int
    /// Where its metrics are made: the process's bootstrapped backend unless a test gives its own.
    let metrics: any MetricsFactory
    /// The retry lines at info: while Twilio fails, every request tenants make is retried, a line each (a hundred a
    /// second in a 503 incident), so past ``retryLogLinesMax`` a window per reason they go to debug, counted.
    let retryLog = LogBudget(linesMax: TwilioTransport.retryLogLinesMax, window: TwilioTransport.retryLogWindow)

    /// Retry lines at info per reason and ``retryLogWindow``, across the adapter's requests; the rest at debug. 20.
    static let retryLogLinesMax = 20
    /// The window of ``retryLogLinesMax``. 10 s, as the server's log budgets.
    static let retryLogWindow = Duration.seconds(10)

    /// Sends `call`, retrying as described above. A 404 is thrown like any refusal, also on a DELETE after an attempt
    /// that may have acted (`.notFound` marked `mayStillTakeEffect`): "gone" can also be Twilio not showing a number
    /// it has just sold (its lists and deletes lag a purchase), so the caller must know it was a 404.
    func perform(_ call: Call) async throws(ProviderError) -> Answer {
        let started = ContinuousClock.now
        let labels = (method: "\(call.method)", resource: Self.resource(of: call.url))
        let inFlight = CoreMetrics.providerCallsInFlight(
            method: labels.method, resource: labels.resource, factory: metrics)
        inFlight.increment()
        defer { inFlight.decrement() }
        do {
            let answer = try await performWithRetries(call)
            record(labels, outcome: "ok", since: started)
            return answer
        } catch {
            // The caller's cancellation is not Twilio failing: counted apart, never as `unavailable` or
            // `outcomeUnknown`, so a tenant's own cancelled calls cannot fire the "Twilio failing" alert.
            record(labels, outcome: error.cancelled ? "cancelled" : error.kind.rawValue, since: started)
            throw error
        }
    }

    /// Latency and outcome per method and resource (``resource(of:)``).
    private func record(
        _ labels: (method: String, resource: String), outcome: String, since started: ContinuousClock.Instant
    ) {
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        CoreMetrics.recordProviderCall(
            method: labels.method, resource: labels.resource, outcome: outcome, seconds: seconds, factory: metrics)
    }

    /// The resources numberd asks Twilio for: the metrics' `resource` label takes one of these or `other`.
    static let resources: Set<String> = [
        "Accounts", "IncomingPhoneNumbers", "Local", "Mobile", "TollFree", "Countries", "Trunks", "PhoneNumbers",
        "OriginationUrls",
    ]

    /// A URL's resource: the path's last named part (`IncomingPhoneNumbers`, `Local`, `Countries`, `Trunks`...), never
    /// the SIDs, numbers or country codes in it, and `other` for any name but ``resources``: a next page's path comes
    /// from Twilio's answer, and each new word there would have been a metric series of its own (the label set stays
    /// bounded whatever Twilio sends).
    static func resource(of url: String) -> String {
        let path = url.split(separator: "?").first.map(String.init) ?? url
        let parts: [Substring] = path.split(separator: "/")
        let named = parts.last { part in
            part.count > 2 && part.first?.isUppercase == true && !part.contains(where: \.isNumber)
        }
        guard let name = named.map({ String($0.prefix { $0 != "." }) }), resources.contains(name) else {
            return "other"
        }
        return name
    }

    private func performWithRetries(_ call: Call) async throws(ProviderError) -> Answer {
        let request = httpRequest(call)
        var attempt = 0
        var mayHaveActed = false
        do throws(ProviderError) {
            while true {
                attempt += 1
                let response: HTTPResponse
                do {
                    response = try await client.execute(request)
                } catch {
                    mayHaveActed = mayHaveActed || error.requestMayHaveBeenSent
                    try await handleTransportFailure(error, call: call, attempt: attempt)
                    continue
                }
                if (200..<300).contains(response.status) { return Answer(response: response) }
                mayHaveActed = mayHaveActed || response.status >= 500
                try await handleErrorStatus(response, call: call, attempt: attempt)
            }
        } catch {
            throw Self.final(error, call: call, mayHaveActed: mayHaveActed)
        }
    }

    /// The error a DELETE gives up with is marked `mayStillTakeEffect` when an attempt may have reached Twilio
    /// (sent before a timeout or reset, or answered 5xx): a look-up right after it proves nothing, so the release
    /// must not be taken back (``NumberService`` keeps it requested and tries again), and a 404 after it may be that
    /// attempt's own doing. POSTs are marked where their errors are made; GETs change nothing.
    private static func final(_ error: ProviderError, call: Call, mayHaveActed: Bool) -> ProviderError {
        guard call.method == .delete, mayHaveActed else { return error }
        var marked = error
        marked.mayStillTakeEffect = true
        return marked
    }

    private func handleTransportFailure(_ error: HTTPClientError, call: Call, attempt: Int) async throws(ProviderError)
    {
        // The caller's cancellation removed the transfer (`.cancelled`), or broke it as it went: not retried, and not
        // the provider's failure. The error's kind stays what the failure says (a POST sent: an unknown outcome).
        if Task.isCancelled && TwilioErrorMapping.isRetryable(error) {
            var ended = TwilioErrorMapping.transportError(error, method: call.method, operation: call.operation)
            ended.cancelled = true
            throw ended
        }
        let repeatable = call.method != .post || !error.requestMayHaveBeenSent
        guard repeatable, TwilioErrorMapping.isRetryable(error) else {
            throw TwilioErrorMapping.transportError(error, method: call.method, operation: call.operation)
        }
        try await wait(
            afterAttempt: attempt, retryAfter: nil, call: call, reason: RetryReason(error.code),
            detail: "\(error.code)"
        ) {
            TwilioErrorMapping.transportError(error, method: call.method, operation: call.operation)
        }
    }

    private func handleErrorStatus(_ response: HTTPResponse, call: Call, attempt: Int) async throws(ProviderError) {
        let body = TwilioResources.decode(TwilioResources.ErrorBody.self, from: response.body)
        let code = body?.code
        // Twilio documents none on its REST API, but a `Retry-After` that comes (with a 429, or a gateway's 503 on a
        // request that may be repeated) is honoured up to the policy's cap.
        let retryAfter = TwilioRetryPolicy.retryAfterMilliseconds(response.header("Retry-After"))
        if response.status == 429 || code == 20429 {
            try await wait(
                afterAttempt: attempt, retryAfter: retryAfter, call: call, reason: .rateLimited, detail: "HTTP 429"
            ) {
                ProviderError(
                    .rateLimited, providerCode: code,
                    message: "\(call.operation): Twilio is throttling requests (\(attempt) attempts)")
            }
            return
        }
        if response.status == 408 {
            // Request Timeout: the request did not reach the server whole in time, which therefore did not act on it
            // (the simulator answers 408/20001 so). It was mapped as a refused parameter, INVALID_ARGUMENT for a valid
            // purchase, or as a misconfiguration without a code (a review).
            try await wait(
                afterAttempt: attempt, retryAfter: retryAfter, call: call, reason: .timeout, detail: "HTTP 408"
            ) {
                ProviderError(
                    .unavailable, providerCode: code,
                    message: "\(call.operation): HTTP 408: the request did not reach Twilio whole in time "
                        + "(\(attempt) attempts)")
            }
            return
        }
        if response.status >= 500 {
            let detail = "HTTP \(response.status)\(body?.message.map { ": \($0)" } ?? "")"
            guard call.method != .post else {
                // A gateway's 502/504 (or any 5xx without Twilio's own error body, which carries a five-digit Twilio
                // error code: a proxy's `{"code": 503}` is its HTTP status, as for a 4xx) comes from in front of
                // Twilio while its backend may still complete the request: a look-up that finds nothing yet proves
                // nothing. Twilio's own 5xx answered for the request: it is conclusive.
                let gateway =
                    [502, 504].contains(response.status) || (code ?? 0) < TwilioErrorMapping.twilioCodeMin
                throw TwilioErrorMapping.outcomeUnknown(
                    operation: call.operation, detail: detail, providerCode: code, mayStillTakeEffect: gateway)
            }
            try await wait(
                afterAttempt: attempt, retryAfter: retryAfter, call: call, reason: .serverError,
                detail: "HTTP \(response.status)"
            ) {
                ProviderError(
                    .unavailable, providerCode: code, message: "\(call.operation): \(detail) after \(attempt) attempts")
            }
            return
        }
        throw TwilioErrorMapping.clientError(
            status: response.status, body: body, operation: call.operation, method: call.method)
    }

    /// Sleeps before the next attempt, or throws `finalError()` when the policy says stop. The retry is counted by
    /// `reason` and logged with `detail` (the status or the transport failure), at info within ``retryLog``.
    private func wait(
        afterAttempt attempt: Int, retryAfter: Int?, call: Call, reason: RetryReason, detail: String,
        finalError: () -> ProviderError
    ) async throws(ProviderError) {
        guard
            let delay = retry.delayMilliseconds(
                afterAttempt: attempt, retryAfterMilliseconds: retryAfter, random: random)
        else { throw finalError() }
        CoreMetrics.recordProviderRetry(reason: reason.rawValue, factory: metrics)
        let decorated = CallScope.decorate(logger)
        let level = retryLog.level(
            .info, key: reason.rawValue, logger: decorated,
            held: "retries of Twilio requests logged at debug (limit per window)")
        decorated.log(
            level: level, "retrying Twilio request",
            metadata: [
                "operation": "\(call.operation)", "attempt": "\(attempt)", "reason": "\(detail)",
                "delayMilliseconds": "\(delay)",
            ])
        do {
            try await sleep(delay)
        } catch {
            // Only the calling task's cancellation ends the wait: the caller is gone, Twilio did not fail this time.
            var cancelled = ProviderError(.unavailable, message: "\(call.operation): cancelled while waiting to retry")
            cancelled.cancelled = true
            throw cancelled
        }
    }

    private func httpRequest(_ call: Call) -> HTTPRequest {
        var headers = [HTTPHeader(name: "Accept", value: "application/json")]
        var body: [UInt8]?
        if let form = call.form {
            headers.append(HTTPHeader(name: "Content-Type", value: FormURLEncoding.contentType))
            body = Array(FormURLEncoding.encode(form).utf8)
        }
        // Built once per logical request: a rotation while it is retried does not change what it sends.
        let sent = call.credentials ?? credentials.current
        // Only GETs may be re-sent by libcurl behind our back: a POST must never be, and a DELETE's retries are
        // ours to count (a 404 after a lost answer means done).
        return HTTPRequest(
            method: call.method, url: call.url, headers: headers, body: body,
            basicAuth: BasicCredentials(username: sent.username, password: sent.secret),
            allowsSilentResend: call.method == .get)
    }
}

extension TwilioTransport {
    /// Why a request is tried again, as `numberd_twilio_retries_total{reason}` says it: a fixed set derived from how
    /// the failure was classified, never Twilio's or libcurl's words, so the series stay few.
    enum RetryReason: String, CaseIterable {
        /// A 429 or Twilio's 20429: Twilio is throttling numberd.
        case rateLimited = "rate_limited"
        /// A 5xx to a request that may be repeated.
        case serverError = "server_error"
        /// The host name did not resolve.
        case dns
        /// The TCP connection, or a proxy's tunnel, could not be made.
        case connect
        /// The TLS handshake was cut short.
        case tlsHandshake = "tls_handshake"
        /// The connect or total timeout expired.
        case timeout
        /// The connection broke while sending or receiving.
        case connectionLost = "connection_lost"
        /// The answer was not valid HTTP.
        case protocolError = "protocol_error"
        /// Any other transport failure (``TwilioErrorMapping/isRetryable(_:)`` retries none today).
        case other

        /// The reason of a retried transport failure.
        init(_ code: HTTPClientError.Code) {
            switch code {
            case .dnsResolution: self = .dns
            case .connect: self = .connect
            case .tlsHandshake: self = .tlsHandshake
            case .timeout: self = .timeout
            case .connectionLost: self = .connectionLost
            case .protocolError: self = .protocolError
            default: self = .other
            }
        }
    }
}
