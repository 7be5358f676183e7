/// Who caused a ledger transaction: the API key whose call posted it, or numberd itself.
///
/// Stored as one string beside the transaction (`"actor"`), so the ledger, not only the log, says who moved the money:
///
/// - an API key's id (`KEY_…`): the key that called `AddFunds`, `PurchaseNumbers` or `ReleaseNumber`. A purchase or a
///   release that reconciliation finishes later still names the key that asked for it (kept on the intent and on the
///   number until then). A key id is not a secret (the secret's random part is never stored), and it stays in the
///   ledger after the key is revoked or purged;
/// - `system:billing`: a monthly renewal;
/// - `system:grace-period`: a release numberd made after the grace period of a past-due number (such a number's cycle
///   is unpaid, so it posts no refund today; its release request names it all the same);
/// - `system:reconcile`: reconciliation finishing a purchase or a release whose asker was not recorded (one asked for
///   before numberd recorded actors, store format 3).
///
/// Absent (`nil`) on transactions posted before store format 3, and on those an embedder posts through the core
/// without naming an actor. Any string is kept as it is read, so a value a later numberd adds reads back unchanged.
///
/// ```swift
/// let actor = LedgerActor.apiKey("KEY_a1b2c3d4e5f6")
/// actor.apiKeyId  // "KEY_a1b2c3d4e5f6"
/// LedgerActor.billing.rawValue  // "system:billing"
/// ```
public struct LedgerActor: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The stored and shown form: a key id, or `system:<what>`.
    public let rawValue: String

    /// An actor as stored.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The API key `id` (`KEY_…`).
    public static func apiKey(_ id: String) -> LedgerActor { LedgerActor(rawValue: id) }

    /// Monthly renewals.
    public static let billing = LedgerActor(rawValue: "system:billing")
    /// Releases after the grace period of a past-due number.
    public static let gracePeriod = LedgerActor(rawValue: "system:grace-period")
    /// Reconciliation finishing a request whose asker was not recorded.
    public static let reconciliation = LedgerActor(rawValue: "system:reconcile")

    /// The prefix of numberd's own actors; key ids never have it (they are `KEY_…`).
    public static let systemPrefix = "system:"

    /// Whether numberd itself caused it.
    public var isSystem: Bool { rawValue.hasPrefix(Self.systemPrefix) }

    /// The API key's id, nil for numberd's own actors.
    public var apiKeyId: String? { isSystem ? nil : rawValue }

    /// The raw value.
    public var description: String { rawValue }

    /// The longest actor the core takes from a caller.
    public static let lengthMax = 64

    /// Refuses an actor a caller names (`addFunds`, `adjustBalance`, `release`) that is not a key id (`KEY_` and hex)
    /// or one of numberd's own (`system:` and lower-case letters or `-`), or is longer than ``lengthMax``: a stored
    /// actor must never be a secret passed by mistake, nor make a transaction's record larger than its estimate.
    /// What the store reads back is taken as it is (a later numberd may name more).
    static func check(_ actor: LedgerActor?) throws(NumberError) {
        guard let actor else { return }
        let raw = actor.rawValue.utf8
        let valid: Bool
        if raw.count > lengthMax {
            valid = false
        } else if actor.isSystem {
            valid =
                raw.count > systemPrefix.utf8.count
                && raw.dropFirst(systemPrefix.utf8.count).allSatisfy {
                    ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "-")
                }
        } else {
            valid =
                actor.rawValue.hasPrefix("KEY_") && raw.count > 4
                && raw.dropFirst(4).allSatisfy {
                    ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                        || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
                }
        }
        guard valid else {
            throw .invalid("actor", "an actor is a key id (KEY_ and hex) or system:<name>, at most \(lengthMax) bytes")
        }
    }
}
