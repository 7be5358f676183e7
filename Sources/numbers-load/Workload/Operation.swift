/// One kind of call the harness makes. `purchase` buys a number found by a search and `release` gives it back at
/// once, so inventory and balances stay steady over a long run; release is recorded as its own operation.
enum Operation: String, CaseIterable, Codable, Sendable, Hashable, Comparable {
    case search
    case purchase
    case release
    case list
    case get
    case balance
    /// A raw TLS request/response without the RPC layer (the transport ceiling).
    case raw

    /// Operations a mix may name (release follows purchase by itself; raw is its own mode).
    static let mixable: [Operation] = [.search, .purchase, .list, .get, .balance]

    static func < (lhs: Operation, rhs: Operation) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
