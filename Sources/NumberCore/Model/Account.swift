import Foundation

/// A customer account with a prepaid balance in one currency.
public struct Account: Codable, Sendable, Hashable {
    /// Whether the account may act.
    public enum Status: String, Codable, Sendable {
        /// Normal.
        case active
        /// Frozen by an administrator: reads only.
        case suspended
    }

    /// `ACC_…`.
    public var id: String
    /// Display name.
    public var name: String
    /// ISO 4217 code, e.g. "USD"; every amount of the account is in its minor units.
    public var currency: String
    /// The balance in minor units; always the sum of the account's transactions, never negative.
    public var balance: Int64
    /// The sum of the open purchase intents' holds.
    public var held: Int64
    /// Whether the account may act.
    public var status: Status
    /// When it was created.
    public var createdAt: Date

    /// What can be spent now: balance minus holds.
    public var available: Int64 { balance - held }

    /// Creates an account.
    public init(
        id: String, name: String, currency: String, balance: Int64 = 0, held: Int64 = 0, status: Status = .active,
        createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.currency = currency
        self.balance = balance
        self.held = held
        self.status = status
        self.createdAt = createdAt
    }
}

/// An account's balance as `GetBalance` reports it.
public struct BalanceSummary: Codable, Sendable, Hashable {
    /// The account.
    public var accountId: String
    /// The balance in minor units.
    public var balance: Int64
    /// The amount held by purchases in progress.
    public var held: Int64
    /// Balance minus holds.
    public var available: Int64
    /// ISO 4217 code.
    public var currency: String

    /// Creates a summary.
    public init(accountId: String, balance: Int64, held: Int64, available: Int64, currency: String) {
        self.accountId = accountId
        self.balance = balance
        self.held = held
        self.available = available
        self.currency = currency
    }
}
