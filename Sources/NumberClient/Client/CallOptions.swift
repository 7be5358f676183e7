import NIOCore

/// Per-call options.
public struct CallOptions: Sendable, Hashable {
    /// The call's deadline from now; nil = the client's `defaultTimeout`.
    public var timeout: TimeAmount?
    /// For PurchaseNumbers, AddFunds, AdjustBalance, ReleaseNumber and AdoptNumber: retries with the same key return
    /// the first result. The client makes one per call when nil, so its own retries can never charge twice. A call
    /// that ends with its outcome unknown says `outcome=unknown` and names its key in the error's `idempotencyKey` detail: call again with it to learn the
    /// outcome without doing the work twice. That is `DEADLINE_EXCEEDED` or `CANCELLED` after the request was sent,
    /// the server's `UNAVAILABLE` / `OUTCOME_UNKNOWN`, `ABORTED` / `REQUEST_IN_PROGRESS`, `INTERNAL` or `UNKNOWN`,
    /// and — whatever the last attempt met — `UNAVAILABLE` / `CONNECTION_LOST` once a connection was lost after the
    /// request went out. A call never sent (queued past its deadline, no connection) has a known outcome: nothing.
    /// A key in ``metadata`` under its wire name (`idempotency-key`) counts as this one; the two differing is refused
    /// (`INVALID_ARGUMENT` / `CONFLICTING_KEYS`, nothing sent). A key, here or there, on a call that changes something
    /// without one (CreateAccount, CreateApiKey, CreateTrunk, …: numberd keys none of them, the client never retries
    /// them once sent) is refused too, `INVALID_ARGUMENT` / `IDEMPOTENCY_KEY_NOT_TAKEN` naming the `method`, nothing
    /// sent: dropped, it would make a call again under it look safe. Reads take one and ignore it.
    public var idempotencyKey: String?
    /// Sent as `request-id` (logs, traces); the server makes one when nil.
    public var requestID: String?
    /// Extra metadata (lowercase keys). An `authorization` entry here is sent instead of the client's `apiKey` (a
    /// service acting for several accounts over one client).
    public var metadata: [String: String]

    /// Creates options.
    public init(
        timeout: TimeAmount? = nil, idempotencyKey: String? = nil, requestID: String? = nil,
        metadata: [String: String] = [:]
    ) {
        self.timeout = timeout
        self.idempotencyKey = idempotencyKey
        self.requestID = requestID
        self.metadata = metadata
    }
}
