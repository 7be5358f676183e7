/// A call that ended with a non-OK status: what the client sees and what the server sends in TRAILERS.
///
/// `reason` is stable and machine-readable (`INSUFFICIENT_BALANCE`, `NUMBER_UNAVAILABLE`); `details` carries values
/// a program can act on, e.g. `["required": "200", "available": "50", "shortfall": "150"]`.
public struct RPCError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The status code.
    public var code: StatusCode
    /// A message for humans.
    public var message: String
    /// A machine-readable reason, empty if none.
    public var reason: String
    /// Machine-readable details.
    public var details: [String: String]

    /// Creates an error.
    public init(code: StatusCode, message: String, reason: String = "", details: [String: String] = [:]) {
        precondition(code != .ok, "an RPCError cannot carry OK")
        self.code = code
        self.message = message
        self.reason = reason
        self.details = details
    }

    /// "FAILED_PRECONDITION (INSUFFICIENT_BALANCE): balance too low; available=50 required=200 shortfall=150".
    public var description: String { description { _, value in value } }

    /// ``description`` with each detail's value as `shown` writes it (given its key and value): a program's own
    /// rendering for people, such as amounts in major units.
    public func description(showing shown: (_ key: String, _ value: String) -> String) -> String {
        var text = code.name
        if !reason.isEmpty { text += " (\(reason))" }
        text += ": \(message)"
        if !details.isEmpty {
            text +=
                "; "
                + details.sorted { $0.key < $1.key }.map { "\($0.key)=\(shown($0.key, $0.value))" }.joined(
                    separator: " ")
        }
        return text
    }
}

extension RPCError {
    /// The wire form carried in a TRAILERS frame.
    public var status: RpcStatus {
        RpcStatus(code: code.rawValue, message: message, reason: reason, metadata: details)
    }

    /// The error a non-OK wire status stands for, or nil for OK.
    public init?(status: RpcStatus) {
        guard status.code != 0 else { return nil }
        self.init(
            code: StatusCode(rawValue: status.code), message: status.message, reason: status.reason,
            details: status.metadata)
    }
}

extension RPCError {
    /// Whether the call may or may not have been carried out (`outcome=unknown`: its connection lost after the
    /// request was sent, its deadline or cancellation after that, the provider's answer lost, …). Call again under
    /// ``idempotencyKey`` — under a new key the call could buy, credit or debit twice — or, for a call that takes no
    /// key, look before doing it again.
    public var outcomeUnknown: Bool { details["outcome"] == "unknown" }

    /// Whether the call was never sent (`outcome=not-started`): nothing was done, and calling again is safe.
    public var notStarted: Bool { details["outcome"] == "not-started" }

    /// The idempotency key of a keyed call that ended with its outcome unknown: the one to call again under.
    public var idempotencyKey: String? { details["idempotencyKey"] }
}
