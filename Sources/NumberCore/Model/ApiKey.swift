import Foundation

/// An API key: the secret is shown once at creation; only its SHA-256 is kept.
public struct ApiKey: Codable, Sendable, Hashable {
    /// What a key may do.
    public enum Scope: String, Codable, Sendable, CaseIterable {
        /// Everything, on every account.
        case admin
        /// Reads and writes on its own account.
        case account
        /// Reads on its own account.
        case readOnly = "read_only"
    }

    /// `KEY_…`; also embedded in the secret so the key is found without comparing against every hash.
    public var id: String
    /// A label for humans.
    public var name: String
    /// What it may do.
    public var scope: Scope
    /// The account it is bound to; nil for admin keys.
    public var accountId: String?
    /// Lower-case hex SHA-256 of the secret.
    public var secretHash: String
    /// When it was created.
    public var createdAt: Date
    /// When it was revoked, if it was.
    public var revokedAt: Date?

    /// Creates a key record.
    public init(
        id: String, name: String, scope: Scope, accountId: String?, secretHash: String, createdAt: Date,
        revokedAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.scope = scope
        self.accountId = accountId
        self.secretHash = secretHash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    /// Whether this key may act on `accountId`, writing (`write`) or only reading.
    public func permits(accountId: String, write: Bool) -> Bool {
        guard revokedAt == nil else { return false }
        switch scope {
        case .admin: return true
        case .account: return self.accountId == accountId
        case .readOnly: return !write && self.accountId == accountId
        }
    }
}

/// A newly created key with its secret, which is never available again.
public struct CreatedApiKey: Sendable, Hashable {
    /// The stored record.
    public var key: ApiKey
    /// `nk_`, the key id without its `KEY_` prefix, then 64 hex digits: give it to the caller once.
    public var secret: String
}

/// A new key's id and secret, drawn by ``NumberService/drawApiKey()`` and not recorded: it opens nothing until
/// ``NumberService/createApiKey(_:name:scope:accountId:evenAtKeyLimit:)`` records it.
public struct DrawnApiKey: Sendable, Hashable {
    /// The id the key will have (`KEY_…`).
    public let id: String
    /// `nk_`, the key id without its `KEY_` prefix, then 64 hex digits.
    public let secret: String
}
