/// A broken property found by a fuzz check: an untyped error, a decode(encode(x)) that differs from x, or
/// inconsistent results. The fuzz entry point aborts on it (libFuzzer then saves the input as a crasher); the
/// replay test reports it as a failure.
public struct FuzzCheckFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The check that failed.
    public var check: String
    /// What was wrong.
    public var message: String

    /// Creates a failure.
    public init(_ check: String, _ message: String) {
        self.check = check
        self.message = message
    }

    /// `check: message`.
    public var description: String { "\(check): \(message)" }
}
