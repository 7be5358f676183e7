import CurlHTTP

/// How Twilio's answers and transport failures become ``ProviderError``s.
enum TwilioErrorMapping {
    /// Twilio codes meaning "you cannot have this number": taken (search→buy race), none left in the area code, or
    /// a regulatory requirement (address, identity) this service does not supply.
    static let numberUnavailableCodes: Set<Int> = [21422, 21452, 21613, 21615, 21631, 21650]
    /// Twilio's "Phone Number Requires a Bundle" (21649): the number's country (most outside the US and Canada) needs
    /// an approved regulatory Bundle and numberd sent none (or one Twilio does not accept). The operator's setting
    /// (`twilio-bundles`), not the customer's choice: `.misconfigured`.
    static let bundleRequiredCode = 21649
    /// Twilio codes about the account rather than the number, each with what the operator must do: 21404, a trial
    /// account may own only one number, so every purchase fails until the operator upgrades the account
    /// (twilio-api.md §6.2); 10001, the account is not active (suspended, or out of funds: Twilio's answer to API
    /// calls from a suspended account); 10002, a trial account does not support the request. Never the customer's
    /// choice: reported to them as INVALID_ARGUMENT, they read as their own mistake.
    static let accountCodes: [Int: String] = [
        21404: "the account is a trial account, which may own only one number; upgrade it in Twilio's console",
        10001: "the Twilio account is not active (suspended, or out of funds); reactivate or fund it in Twilio's "
            + "console",
        10002: "a trial account does not support this request; upgrade it in Twilio's console",
    ]
    /// Twilio codes meaning "the request's parameters are wrong".
    static let invalidArgumentCodes: Set<Int> = [21421, 21451, 21457, 21458, 21481, 21473, 21474]
    /// Twilio codes meaning "these credentials may not do this": a configuration problem, never retried.
    static let authenticationCodes: Set<Int> = [20003, 20005, 20008]
    /// Twilio's "The requested resource … was not found", with HTTP 404.
    static let notFoundCode = 20404
    /// Twilio's error codes have five digits (10001 and up): a proxy's `{"code": 405}` is not one of them.
    static let twilioCodeMin = 10_000

    /// The error for a non-2xx answer that is not retried (3xx, 4xx other than 408 and 429) to a request of `method`.
    static func clientError(
        status: Int, body: TwilioResources.ErrorBody?, operation: String, method: HTTPMethod = .get
    ) -> ProviderError {
        let code = body?.code
        let detail = body?.message ?? "HTTP \(status)"
        // Twilio answers its REST API with 2xx, 4xx or 5xx; a redirect (never followed) comes from something else —
        // which, in front of Twilio (a gateway), may have passed a POST or a DELETE on: a purchase must look before
        // it concludes that nothing was bought, and a release before it concludes that nothing was released.
        guard status >= 400 else {
            var error = notTwilios(status: status, body: body, operation: operation)
            error.mayStillTakeEffect = method != .get
            return error
        }
        if let code, let advice = accountCodes[code] {
            return ProviderError(
                .misconfigured, providerCode: code, message: "\(operation): \(detail) (Twilio error \(code): \(advice))"
            )
        }
        if code == bundleRequiredCode {
            return ProviderError(
                .misconfigured, providerCode: code,
                message: "\(operation): \(detail) (Twilio error 21649: the number needs an approved regulatory "
                    + "Bundle; approve one in Twilio's console and set it in twilio-bundles)")
        }
        if let code, numberUnavailableCodes.contains(code) {
            return ProviderError(.numberUnavailable, providerCode: code, message: "\(operation): \(detail)")
        }
        if let code, invalidArgumentCodes.contains(code) {
            return ProviderError(.invalidArgument, providerCode: code, message: "\(operation): \(detail)")
        }
        if status == 401 || status == 403 || code.map(authenticationCodes.contains) == true {
            return ProviderError(
                .authentication, providerCode: code,
                message: "\(operation): Twilio refused the credentials (\(detail)); check TWILIO_ACCOUNT_SID and "
                    + "TWILIO_AUTH_TOKEN or the API key, and that the account is active")
        }
        if status == 404 {
            // Only Twilio's own answer says the resource does not exist. A 404 without its 20404 body comes from
            // something else (a proxy, a web server at a wrong base URL): nothing is known about the resource, and
            // a release must never read it as done.
            guard code == notFoundCode else {
                return ProviderError(
                    .misconfigured, providerCode: code,
                    message: "\(operation): HTTP 404 that is not Twilio's (no 20404 error body): check the Twilio "
                        + "base URL and any proxy in front of it")
            }
            return ProviderError(.notFound, providerCode: code, message: "\(operation): \(detail)")
        }
        // Twilio refusing a parameter says which with its error code. A 4xx without one — a 405 or a bare 400 from a
        // proxy or a web server at a wrong base URL — is nothing the customer's input decides (the adapter checks
        // that before sending): the operator's setup is.
        guard let code, code >= twilioCodeMin else {
            return notTwilios(status: status, body: body, operation: operation)
        }
        // A method the resource does not take (Twilio's own 405 / 20004) is the adapter's request, never the customer's.
        if status == 405 {
            return ProviderError(
                .misconfigured, providerCode: code,
                message: "\(operation): HTTP 405: \(detail) (Twilio error \(code): the adapter sent a method this "
                    + "resource does not take; check the Twilio base URL and any proxy in front of it)")
        }
        return ProviderError(.invalidArgument, providerCode: code, message: "\(operation): HTTP \(status): \(detail)")
    }

    /// An answer that is not Twilio's to the request (a redirect, a 4xx without Twilio's error code): `.misconfigured`.
    private static func notTwilios(status: Int, body: TwilioResources.ErrorBody?, operation: String) -> ProviderError {
        let said = body?.message.map { " \"\($0.prefix(200))\"" } ?? ""
        return ProviderError(
            .misconfigured, providerCode: body?.code,
            message: "\(operation): HTTP \(status)\(said) is not Twilio's answer to the request (Twilio refuses "
                + "with its error code, and never redirects): check the Twilio base URL and any proxy in front of it")
    }

    /// The error for a transport failure that is not retried (or no longer). A transfer the calling task's
    /// cancellation removed (`.cancelled`) is marked ``ProviderError/cancelled``: its kind is what it would be
    /// otherwise — `.unavailable`, or for a POST that may have been sent `.outcomeUnknown`, which the saga settles
    /// by a look-up as any lost answer —, but it is the caller's doing, not the provider's failure.
    static func transportError(_ error: HTTPClientError, method: HTTPMethod, operation: String) -> ProviderError {
        var mapped = transportFailure(error, method: method, operation: operation)
        mapped.cancelled = error.code == .cancelled
        mapped.answerTooLarge = error.code == .responseTooLarge
        return mapped
    }

    private static func transportFailure(
        _ error: HTTPClientError, method: HTTPMethod, operation: String
    ) -> ProviderError {
        if method == .post && error.requestMayHaveBeenSent {
            return outcomeUnknown(
                operation: operation, detail: "\(error.code): \(error.message)", mayStillTakeEffect: true)
        }
        switch error.code {
        case .invalidRequest:
            // The adapter checks what a caller gives before it builds a request, so one the HTTP client refuses (a
            // base URL that is not https://, a header with a line break) is numberd's setup, not the customer's input.
            return ProviderError(
                .misconfigured,
                message: "\(operation): the HTTP client refused the request (\(error.message)); check the Twilio "
                    + "base URL")
        case .tlsVerification:
            return ProviderError(
                .unavailable, message: "\(operation): TLS to Twilio failed (check the CA file): \(error.message)")
        case .tlsConfiguration:
            // numberd's own setup (its CA file missing or unreadable): no retry helps, its operator must fix it.
            return ProviderError(
                .misconfigured,
                message: "\(operation): numberd's TLS setup for Twilio could not be used (check the CA file): "
                    + error.message)
        case .tlsHandshake:
            return ProviderError(
                .unavailable, message: "\(operation): TLS handshake with Twilio failed: \(error.message)")
        default:
            return ProviderError(.unavailable, message: "\(operation): \(error.code): \(error.message)")
        }
    }

    /// A state-changing request may or may not have taken effect: the caller must look, not repeat.
    static func outcomeUnknown(
        operation: String, detail: String, providerCode: Int? = nil, mayStillTakeEffect: Bool = false
    ) -> ProviderError {
        ProviderError(
            .outcomeUnknown, providerCode: providerCode,
            message: "\(operation): outcome unknown (\(detail)); look the number up before trying again",
            mayStillTakeEffect: mayStillTakeEffect)
    }

    /// Transport failures worth another attempt when the request may be repeated: a TLS handshake cut short (a reset
    /// in the middle of it, `curl: (35)`) among them — nothing was sent; a certificate refused is not retried.
    static func isRetryable(_ error: HTTPClientError) -> Bool {
        switch error.code {
        case .dnsResolution, .connect, .timeout, .connectionLost, .protocolError, .tlsHandshake: true
        default: false
        }
    }
}
