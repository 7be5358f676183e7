import Foundation

/// A fact that changed the core state. Events carry every value (ids, times, amounts, balances after) so that
/// applying them is deterministic: replaying a journal rebuilds the exact state.
///
/// Journal lines hold these as JSON: a new case, or a changed case or field, is a new store format, and one an
/// older numberd would misread (see the bump rule at ``StoreFormat/current``).
public enum CoreEvent: Codable, Sendable, Hashable {
    /// An account was created.
    case accountCreated(Account)
    /// An account's status changed.
    case accountStatusChanged(accountId: String, status: Account.Status)
    /// An API key was created.
    case apiKeyCreated(ApiKey)
    /// An API key was revoked.
    case apiKeyRevoked(keyId: String, at: Date)
    /// Revoked API keys were dropped for good (the oldest, past `limits.revokedApiKeysKeptMax`).
    case apiKeysPurged(keyIds: [String])
    /// A trunk was created.
    case trunkCreated(Trunk)
    /// A trunk was deleted.
    case trunkDeleted(trunkId: String)
    /// A transaction not tied to another event (funds added, adjustment) was posted.
    case transactionPosted(LedgerTransaction)
    /// An idempotency key was recorded or its outcome updated.
    case idempotencyRecorded(IdempotencyRecord)
    /// Idempotency records older than their TTL were dropped.
    case idempotencyExpired(storageKeys: [String])
    /// A purchase began: the amount is held and the numbers reserved.
    case purchaseIntentOpened(PurchaseIntent)
    /// A purchase failed; what was bought must be released before the intent is voided.
    case purchaseIntentCompensating(intentId: String)
    /// A purchase completed: the numbers are owned, the debits posted, the hold cleared.
    case purchaseCommitted(intentId: String, numbers: [OwnedNumber], transactions: [LedgerTransaction])
    /// A purchase was abandoned: hold and reservations cleared, nothing charged.
    case purchaseIntentVoided(intentId: String)
    /// A trunk change of a number is about to be sent to the provider (store format 8): it may land there from now
    /// on, until its outcome is recorded (``OwnedNumber/routeRequest``).
    case numberRouteRequested(numberId: String, trunkId: String?, at: Date)
    /// A number's trunk changed, or was confirmed: the trunk the provider routes it to, which settles its open route
    /// request if any (the same trunk as recorded settles one that changed nothing).
    case numberTrunkChanged(numberId: String, trunkId: String?)
    /// A release was requested (the provider call follows), by `by` (nil in records before store format 3), under the
    /// idempotency key whose record is `key` (``IdempotencyRecord/storageKey``; a keyed caller's request, store format
    /// 6).
    case numberReleaseRequested(numberId: String, at: Date, by: LedgerActor?, key: String? = nil)
    /// A release request was withdrawn because the provider still has the number and refused to release it.
    case numberReleaseCancelled(numberId: String)
    /// A number was released, with its refund if any.
    case numberReleased(numberId: String, at: Date, refund: LedgerTransaction?)
    /// A monthly fee was paid: the cycle moves on.
    case numberRenewed(numberId: String, transaction: LedgerTransaction, cycleStart: Date, nextBillingDate: Date)
    /// A renewal could not be paid.
    case numberPastDue(numberId: String, at: Date)
    /// Numbers the provider may hold with nobody owning them (a voided purchase whose buy may still land, a release
    /// the provider did not confirm): watch them for orphans.
    case orphanWatchStarted([OrphanWatch])
    /// A watched number was settled by the orphan sweep.
    case orphanWatchEnded(phoneNumber: String, outcome: OrphanWatch.Outcome, at: Date)
    /// An adoption's routing of a number to a trunk is about to be sent to the provider (store format 9): it may land
    /// there from now on (``AdoptionRouteRequest``). Replaces one recorded before for the number.
    case adoptionRouteRequested(AdoptionRouteRequest)
    /// An adoption's routing of the number can no longer land (or landed and was recorded): its hold ends.
    case adoptionRouteEnded(phoneNumber: String)
}
