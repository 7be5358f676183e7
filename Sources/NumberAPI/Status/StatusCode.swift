/// The status of a finished call: gRPC's codes, with the same numbers and meanings.
public struct StatusCode: Hashable, Sendable, CustomStringConvertible {
    /// The wire number (0...16).
    public let rawValue: Int32

    /// Wraps a wire number; numbers outside 0...16 are kept and mean `unknown` to callers that switch on them.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Success.
    public static let ok = StatusCode(rawValue: 0)
    /// The call was cancelled, usually by the caller.
    public static let cancelled = StatusCode(rawValue: 1)
    /// An error that fits no other code.
    public static let unknown = StatusCode(rawValue: 2)
    /// The request is wrong whatever the state (bad field, bad format).
    public static let invalidArgument = StatusCode(rawValue: 3)
    /// The deadline passed before the call finished.
    public static let deadlineExceeded = StatusCode(rawValue: 4)
    /// Something named in the request does not exist (or is not visible to the caller).
    public static let notFound = StatusCode(rawValue: 5)
    /// What the request creates exists already.
    public static let alreadyExists = StatusCode(rawValue: 6)
    /// The caller is known but may not do this.
    public static let permissionDenied = StatusCode(rawValue: 7)
    /// A limit was hit: rate, quota, size, concurrency.
    public static let resourceExhausted = StatusCode(rawValue: 8)
    /// The state does not allow it now (insufficient balance, trunk in use, already released).
    public static let failedPrecondition = StatusCode(rawValue: 9)
    /// A conflict with a concurrent operation; retry the whole sequence.
    public static let aborted = StatusCode(rawValue: 10)
    /// A value out of its valid range.
    public static let outOfRange = StatusCode(rawValue: 11)
    /// The server does not implement the method.
    public static let unimplemented = StatusCode(rawValue: 12)
    /// A bug or a broken invariant on the server.
    public static let `internal` = StatusCode(rawValue: 13)
    /// Try again later (draining, provider down).
    public static let unavailable = StatusCode(rawValue: 14)
    /// Data was lost or corrupted.
    public static let dataLoss = StatusCode(rawValue: 15)
    /// No valid credentials.
    public static let unauthenticated = StatusCode(rawValue: 16)

    private static let names: [Int32: String] = [
        0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
        6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
        10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS",
        16: "UNAUTHENTICATED",
    ]

    /// The gRPC name, e.g. `FAILED_PRECONDITION`.
    public var name: String { Self.names[rawValue] ?? "CODE_\(rawValue)" }

    /// The gRPC name.
    public var description: String { name }

    /// Every code defined by gRPC, in number order.
    public static let all: [StatusCode] = (0...16).map { StatusCode(rawValue: Int32($0)) }
}
