import CurlHTTP
import Foundation
import Logging
import Synchronization

/// Sends one logical Twilio request: Basic auth, form encoding, retries with backoff, and error mapping.
///
/// Retry rules (money is at stake, so a request that may have changed state is never sent twice):
/// - GET and DELETE (idempotent) are retried on 429/20429, on 5xx, and on connect/DNS/timeout/reset failures.
/// - POST is retried only when Twilio surely did not act: 429/20429 (Twilio documents that a throttled request
///   was not processed) and failures before any byte was sent (DNS, connect refused, TLS).
/// - POST with a 5xx answer is `.outcomeUnknown`, never retried: Twilio's 500 may come after the number was bought
///   (and nothing documents that a 503 comes before), so the saga must look the number up.
/// - POST that timed out or lost its connection after sending, or whose 2xx body cannot be read, is
///   `.outcomeUnknown`.
/// Every retry waits per ``TwilioRetryPolicy`` (full jitter, bounded; `Retry-After` honoured up to its cap).
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

    /// Sends `call`, retrying as described above. A 404 is thrown like any refusal, also on a DELETE after an attempt
    /// that may have acted (`.notFound` marked `mayStillTakeEffect`): "gone" can also be Twilio not showing a number
    /// it has just sold (its lists and deletes lag a purchase), so the caller must know it was a 404.
    func perform(_ call: Call) async throws(ProviderError) -> Answer {
        let started = ContinuousClock.now
        do {
            let answer = try await performWithRetries(call)
            record(call, outcome: "ok", since: started)
            return answer
        } catch {
            record(call, outcome: error.kind.rawValue, since: started)
            throw error
        }
    }

    /// Latency and outcome per method and resource (the path's last named part: `IncomingPhoneNumbers`,
    /// `Local`, `Countries`, `Trunks`...), never the SIDs, numbers or country codes in it (a bounded label set).
    private func record(_ call: Call, outcome: String, since started: ContinuousClock.Instant) {
        let path = call.url.split(separator: "?").first.map(String.init) ?? call.url
        let parts: [Substring] = path.split(separator: "/")
        let named = parts.last { part in
            part.count > 2 && part.first?.isUppercase == true && !part.contains(where: \.isNumber)
        }
        let resource = named.map { String($0.prefix { $0 != "." }) } ?? "other"
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        CoreMetrics.recordProviderCall(method: "\(call.method)", resource: resource, outcome: outcome, seconds: seconds)
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
        let repeatable = call.method != .post || !error.requestMayHaveBeenSent
        guard repeatable, TwilioErrorMapping.isRetryable(error) else {
            throw TwilioErrorMapping.transportError(error, method: call.method, operation: call.operation)
        }
        try await wait(afterAttempt: attempt, retryAfter: nil, call: call, reason: "\(error.code)") {
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
            try await wait(afterAttempt: attempt, retryAfter: retryAfter, call: call, reason: "HTTP 429") {
                ProviderError(
                    .rateLimited, providerCode: code,
                    message: "\(call.operation): Twilio is throttling requests (\(attempt) attempts)")
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
                afterAttempt: attempt, retryAfter: retryAfter, call: call, reason: "HTTP \(response.status)"
            ) {
                ProviderError(
                    .unavailable, providerCode: code, message: "\(call.operation): \(detail) after \(attempt) attempts")
            }
            return
        }
        throw TwilioErrorMapping.clientError(
            status: response.status, body: body, operation: call.operation, method: call.method)
    }

    /// Sleeps before the next attempt, or throws `finalError()` when the policy says stop.
    private func wait(
        afterAttempt attempt: Int, retryAfter: Int?, call: Call, reason: String,
        finalError: () -> ProviderError
    ) async throws(ProviderError) {
        guard
            let delay = retry.delayMilliseconds(
                afterAttempt: attempt, retryAfterMilliseconds: retryAfter, random: random)
        else { throw finalError() }
        CallScope.decorate(logger).info(
            "retrying Twilio request",
            metadata: [
                "operation": "\(call.operation)", "attempt": "\(attempt)", "reason": "\(reason)",
                "delayMilliseconds": "\(delay)",
            ])
        do {
            try await sleep(delay)
        } catch {
            throw ProviderError(.unavailable, message: "\(call.operation): cancelled while waiting to retry")
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
