extension Transaction {
    /// The prefix of the actors that are numberd itself (`system:billing`, `system:grace-period`,
    /// `system:reconcile`); an API key's id (`KEY_…`) never has it.
    public static let systemActorPrefix = "system:"

    /// The id of the API key whose call caused this transaction; nil when numberd itself did (a renewal, a
    /// reconciliation) or when none was recorded (transactions posted before numberd recorded actors).
    ///
    /// ```swift
    /// let ledger = try await client.listTransactions(ListTransactionsRequest())
    /// let byKey = Dictionary(grouping: ledger.transactions) { $0.actorKeyId ?? $0.actor }
    /// ```
    public var actorKeyId: String? {
        actor.isEmpty || isSystemActor ? nil : actor
    }

    /// Whether numberd itself caused this transaction (``actor`` is `system:…`).
    public var isSystemActor: Bool { actor.hasPrefix(Self.systemActorPrefix) }
}
