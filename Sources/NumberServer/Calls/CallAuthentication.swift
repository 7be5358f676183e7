import Synchronization

/// Whether a call's caller proved who it is (``CallContext/markAuthenticated()``), read by its connection when the
/// call ends: only such calls renew the connection's flood budgets and reset its count of failed authentications.
final class CallAuthentication: Sendable {
    private let proved = Atomic<Bool>(false)

    init() {}

    /// The caller proved an API key.
    func mark() { proved.store(true, ordering: .relaxed) }

    /// Whether the caller proved an API key.
    var isProved: Bool { proved.load(ordering: .relaxed) }

    /// Makes it unproved again, for the next synchronous call of the connection (one at a time on its event loop).
    func reset() { proved.store(false, ordering: .relaxed) }
}
