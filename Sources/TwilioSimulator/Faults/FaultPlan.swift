/// What the transport must do with one request, decided by the fault rules before routing.
public struct FaultPlan: Sendable, Equatable {
    /// Total delay before anything else happens (sum of fired latency rules).
    public var delayMilliseconds: Int = 0
    /// The terminal fault, or nil to answer normally.
    public var fault: FaultKind?
    /// How long a number the request creates stays out of lists, fetches and deletes (the longest fired list lag);
    /// 0 shows it at once.
    public var listLagMilliseconds: Int = 0

    /// No delay, no fault.
    public static let none = FaultPlan()
}
