/// A fault to inject on an endpoint: what, how often, and how many times at most.
public struct FaultRule: Sendable, Equatable {
    /// The endpoint it applies to; nil means every endpoint.
    public var endpoint: Endpoint?
    /// What to inject.
    public var kind: FaultKind
    /// Probability per matching request, 0...1 (drawn from the seeded generator, so runs repeat).
    public var probability: Double
    /// How many times it may still fire; nil is unlimited. A 429 burst is `times: n` with probability 1.
    public var remaining: Int?

    /// Creates a rule; `probability` must be within 0...1 and `times` positive when given.
    public init(endpoint: Endpoint?, kind: FaultKind, probability: Double = 1, times: Int? = nil) {
        precondition((0...1).contains(probability), "probability must be within 0...1")
        precondition(times.map { $0 > 0 } ?? true, "times must be positive")
        self.endpoint = endpoint
        self.kind = kind
        self.probability = probability
        self.remaining = times
    }
}
