/// A failure of a core operation: a status code (which RPC status it maps to), a machine-readable reason, a
/// message for humans, and details such as the shortfall of an insufficient balance.
public struct NumberError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The RPC status class of the error; the raw values are gRPC's status codes.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// gRPC status code number.
        public var rawValue: Int
        /// Creates a code from a gRPC status number.
        public init(rawValue: Int) { self.rawValue = rawValue }

        /// The request was cancelled.
        public static let cancelled = Code(rawValue: 1)
        /// Bad input.
        public static let invalidArgument = Code(rawValue: 3)
        /// Something named does not exist (or belongs to another account).
        public static let notFound = Code(rawValue: 5)
        /// It exists already.
        public static let alreadyExists = Code(rawValue: 6)
        /// The caller may not do this.
        public static let permissionDenied = Code(rawValue: 7)
        /// A limit or quota was hit.
        public static let resourceExhausted = Code(rawValue: 8)
        /// The system is not in a state that allows it (insufficient balance, trunk in use, ...).
        public static let failedPrecondition = Code(rawValue: 9)
        /// A conflicting operation is in progress; retry later.
        public static let aborted = Code(rawValue: 10)
        /// A bug or broken invariant.
        public static let `internal` = Code(rawValue: 13)
        /// A dependency (provider, store) is unavailable; retry later.
        public static let unavailable = Code(rawValue: 14)
        /// No valid credentials.
        public static let unauthenticated = Code(rawValue: 16)

        /// gRPC's upper-case name, e.g. `FAILED_PRECONDITION`.
        public var description: String {
            switch rawValue {
            case 1: "CANCELLED"
            case 3: "INVALID_ARGUMENT"
            case 5: "NOT_FOUND"
            case 6: "ALREADY_EXISTS"
            case 7: "PERMISSION_DENIED"
            case 8: "RESOURCE_EXHAUSTED"
            case 9: "FAILED_PRECONDITION"
            case 10: "ABORTED"
            case 13: "INTERNAL"
            case 14: "UNAVAILABLE"
            case 16: "UNAUTHENTICATED"
            default: "CODE_\(rawValue)"
            }
        }
    }

    /// A machine-readable reason, stable across versions (clients switch on it).
    public struct Reason: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The upper-snake-case reason.
        public var rawValue: String
        /// Creates a reason.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A field is missing, malformed or out of range.
        public static let invalidField = Reason(rawValue: "INVALID_FIELD")
        /// A limit on a size or count was exceeded.
        public static let limitExceeded = Reason(rawValue: "LIMIT_EXCEEDED")
        /// The account (or all accounts) has as many searches at the provider as it may at once: retry when one ends
        /// (unlike LIMIT_EXCEEDED, a cap that stays).
        public static let searchesBusy = Reason(rawValue: "SEARCHES_BUSY")
        /// The available balance does not cover the amount (details: required, available, shortfall).
        public static let insufficientBalance = Reason(rawValue: "INSUFFICIENT_BALANCE")
        /// The current price is above the caller's limit (details: the current `setupFee`, `monthlyFee`, `currency`
        /// and the limits given); nothing was held or bought.
        public static let priceChanged = Reason(rawValue: "PRICE_CHANGED")
        /// The number cannot be bought (taken, reserved, or gone at the provider).
        public static let numberUnavailable = Reason(rawValue: "NUMBER_UNAVAILABLE")
        /// The currency does not match the account's.
        public static let currencyMismatch = Reason(rawValue: "CURRENCY_MISMATCH")
        /// A number lacks a capability the purchase requires.
        public static let capabilityMissing = Reason(rawValue: "CAPABILITY_MISSING")
        /// A trunk with numbers cannot be deleted.
        public static let trunkInUse = Reason(rawValue: "TRUNK_IN_USE")
        /// The number has been released already.
        public static let alreadyReleased = Reason(rawValue: "ALREADY_RELEASED")
        /// An idempotency key was reused with other parameters.
        public static let idempotencyKeyReused = Reason(rawValue: "IDEMPOTENCY_KEY_REUSED")
        /// A request sent as a retry of its idempotency key's purchase found the key's record gone (expired, or
        /// dropped with a failed first attempt): nothing was done; it is a new purchase now.
        public static let idempotencyKeyGone = Reason(rawValue: "IDEMPOTENCY_KEY_GONE")
        /// The first request with this idempotency key is still running.
        public static let requestInProgress = Reason(rawValue: "REQUEST_IN_PROGRESS")
        /// The account was not found.
        public static let accountNotFound = Reason(rawValue: "ACCOUNT_NOT_FOUND")
        /// Too many purchases of the account (or in all) wait to check their numbers at the provider.
        public static let purchasesBusy = Reason(rawValue: "PURCHASES_BUSY")
        /// Too many releases and trunk changes of the account (or in all) wait for the provider.
        public static let changesBusy = Reason(rawValue: "CHANGES_BUSY")
        /// Too many statements of the account (or in all) wait to be read.
        public static let statementsBusy = Reason(rawValue: "STATEMENTS_BUSY")
        /// The provider sells no numbers of the type asked in the country (it lists no price for them, or has none
        /// of that type there): details `country`, `type`.
        public static let notOffered = Reason(rawValue: "NOT_OFFERED")
        /// The number was not found.
        public static let numberNotFound = Reason(rawValue: "NUMBER_NOT_FOUND")
        /// The trunk was not found.
        public static let trunkNotFound = Reason(rawValue: "TRUNK_NOT_FOUND")
        /// The API key was not found.
        public static let apiKeyNotFound = Reason(rawValue: "API_KEY_NOT_FOUND")
        /// Revoking the key would leave no admin key that works.
        public static let lastAdminKey = Reason(rawValue: "LAST_ADMIN_KEY")
        /// The credentials are missing, malformed, unknown or revoked.
        public static let invalidCredentials = Reason(rawValue: "INVALID_CREDENTIALS")
        /// The key's scope does not allow this.
        public static let scopeDenied = Reason(rawValue: "SCOPE_DENIED")
        /// The account is not active.
        public static let accountInactive = Reason(rawValue: "ACCOUNT_INACTIVE")
        /// The number is not in a state that allows this (past due, release pending).
        public static let numberNotActive = Reason(rawValue: "NUMBER_NOT_ACTIVE")
        /// The provider failed or could not be reached.
        public static let providerUnavailable = Reason(rawValue: "PROVIDER_UNAVAILABLE")
        /// The provider rejected our credentials or configuration.
        public static let providerMisconfigured = Reason(rawValue: "PROVIDER_MISCONFIGURED")
        /// The provider throttled us.
        public static let providerRateLimited = Reason(rawValue: "PROVIDER_RATE_LIMITED")
        /// The outcome at the provider is unknown; reconciliation will settle it.
        public static let outcomeUnknown = Reason(rawValue: "OUTCOME_UNKNOWN")
        /// The store failed; the service stopped accepting writes (fail-stop).
        public static let storeFailed = Reason(rawValue: "STORE_FAILED")
        /// The store had no room for the write (disk or quota full): nothing was changed; writes resume once there
        /// is room, reads go on meanwhile.
        public static let storeFull = Reason(rawValue: "STORE_FULL")
        /// Too many writes wait for the store's disk (it has fallen behind): nothing was changed; retry shortly.
        public static let storeBusy = Reason(rawValue: "STORE_BUSY")
        /// An amount would overflow.
        public static let amountOverflow = Reason(rawValue: "AMOUNT_OVERFLOW")
        /// The provider's price cannot be charged (negative, or our price from it out of range): nothing the caller
        /// did; the number is not sold until the price is sane.
        public static let providerPriceInvalid = Reason(rawValue: "PROVIDER_PRICE_INVALID")
        /// A page token is malformed or belongs to another query.
        public static let invalidPageToken = Reason(rawValue: "INVALID_PAGE_TOKEN")
        /// A bug or broken invariant (with code INTERNAL): nothing the caller can change.
        public static let `internal` = Reason(rawValue: "INTERNAL")

        /// The raw value.
        public var description: String { rawValue }
    }

    /// Which RPC status this maps to.
    public var code: Code
    /// Why, for machines.
    public var reason: Reason
    /// Why, for humans.
    public var message: String
    /// Structured facts, e.g. `["required": "200", "available": "150", "shortfall": "50"]`.
    public var details: [String: String]
    /// What only the operator may see: the provider's or the file system's own words (a proxy's host name, a TLS
    /// problem, a file path, a hint about credentials). The RPC layer logs it with the call's request id and never
    /// sends it; `message` stays generic.
    public var internalDetail: String?
    /// The provider answered, and what failed was recording its answer (the store had no room): reconciliation's
    /// passes must not count it as the provider's silence (``ProviderPass/isNoAnswer(_:)``).
    var recordingFailed = false

    /// Creates an error.
    public init(
        _ code: Code, _ reason: Reason, _ message: String, details: [String: String] = [:],
        internalDetail: String? = nil
    ) {
        self.code = code
        self.reason = reason
        self.message = message
        self.internalDetail = internalDetail
        self.details = details
    }

    /// `CODE REASON: message`, then the internal detail in parentheses (this text is for logs and tests; the
    /// wire carries `message` alone).
    public var description: String {
        "\(code) \(reason): \(message)" + (internalDetail.map { " (\($0))" } ?? "")
    }
}
