import Foundation

/// What a request with an idempotency key did, so a retry returns the first result.
public struct IdempotencyRecord: Codable, Sendable, Hashable {
    /// Which operation the key was used for.
    public enum Operation: String, Codable, Sendable, CaseIterable {
        /// `PurchaseNumbers`.
        case purchase
        /// `AddFunds`.
        case addFunds = "add_funds"
        /// `AdjustBalance` (store format 4).
        case adjustment
        /// `ReleaseNumber` (store format 5).
        case release
    }

    /// The result of the first request.
    public enum Outcome: Codable, Sendable, Hashable {
        /// A purchase intent is open.
        case pending(intentId: String)
        /// The purchase committed these numbers and transactions.
        case purchased(numberIds: [String], transactionIds: [String])
        /// Funds were added in this transaction.
        case fundsAdded(transactionId: String)
        /// The balance was adjusted in this transaction (store format 4).
        case adjusted(transactionId: String)
        /// The number's release was requested under the key, with these renewals of the cycles begun before it — those
        /// its request's decision posted, after any an earlier request under the key posted before the provider refused
        /// it (``NumberService/billedBeforeRelease``; store format 5). What a retry gets is the number's state: the
        /// release's result once it is recorded, `REQUEST_IN_PROGRESS` while it is still releasing, or — the provider
        /// refused it and the release was withdrawn — a new release.
        case releaseRequested(numberId: String, renewalIds: [String])
    }

    /// The transaction a funds-added or adjusted outcome names; nil for a purchase's.
    var postedTransactionId: String? {
        switch outcome {
        case .fundsAdded(let transactionId), .adjusted(let transactionId): transactionId
        case .pending, .purchased, .releaseRequested: nil
        }
    }

    /// The account the key belongs to.
    public var accountId: String
    /// The key.
    public var key: String
    /// The operation.
    public var operation: Operation
    /// SHA-256 hex of the canonical request parameters.
    public var fingerprint: String
    /// When it was first used, or when its purchase committed or its release was recorded if that came later; it is
    /// kept at least the configured TTL after this.
    public var createdAt: Date
    /// The result.
    public var outcome: Outcome

    /// Whether `number`'s release was asked for by this record's request: the number names this record as its
    /// request's (``OwnedNumber/releaseRequestKey``, store format 6). A release another request asked for — the
    /// grace period's, another caller's, made after this key's was withdrawn, even in the same instant while numberd's
    /// clock holds — is not.
    func askedForRelease(of number: OwnedNumber) -> Bool {
        number.releaseRequestedAt != nil && number.releaseRequestKey == storageKey
    }

    /// The state's dictionary key: account and key.
    var storageKey: String { IdempotencyRecord.storageKey(accountId: accountId, key: key) }

    /// The state's dictionary key for an account's key.
    static func storageKey(accountId: String, key: String) -> String { accountId + "\u{1F}" + key }
}
