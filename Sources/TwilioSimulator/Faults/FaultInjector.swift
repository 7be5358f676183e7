/// The set of fault rules plus the seeded generator that decides them; a pure value, driven under a lock.
public struct FaultInjector: Sendable {
    /// The rules in evaluation order.
    public private(set) var rules: [FaultRule] = []
    private var rng: SeededGenerator

    /// Creates an injector with no rules.
    public init(seed: UInt64) {
        rng = SeededGenerator(seed: seed ^ 0xFA17_FA17_FA17_FA17)
    }

    /// Appends a rule.
    public mutating func add(_ rule: FaultRule) {
        rules.append(rule)
    }

    /// Removes every rule (for `endpoint`, or all when nil).
    public mutating func clear(endpoint: Endpoint? = nil) {
        rules.removeAll { endpoint == nil || $0.endpoint == endpoint }
    }

    /// Decides the plan for one request: latencies add up, the longest list lag counts; the first terminal fault that
    /// fires wins.
    public mutating func plan(for endpoint: Endpoint) -> FaultPlan {
        var plan = FaultPlan()
        matching: for index in rules.indices where rules[index].endpoint == nil || rules[index].endpoint == endpoint {
            guard rules[index].remaining.map({ $0 > 0 }) ?? true else { continue }
            guard rng.chance(rules[index].probability) else { continue }
            if let remaining = rules[index].remaining { rules[index].remaining = remaining - 1 }
            switch rules[index].kind {
            case .latency(let milliseconds): plan.delayMilliseconds += milliseconds
            case .listLag(let milliseconds): plan.listLagMilliseconds = max(plan.listLagMilliseconds, milliseconds)
            case let kind:
                plan.fault = kind
                break matching
            }
        }
        rules.removeAll { $0.remaining == 0 }
        return plan
    }
}
