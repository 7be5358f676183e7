extension CoreEvent {
    /// The estimate of the largest event a billing run decides per action (a renewal or a release).
    static let billingActionBytesEstimate = 2_048
    /// The estimate per key of an `idempotencyExpired` event, and of the event around them.
    static let expiredKeyBytesEstimate = 320
    static let expiredKeysEventBytesEstimate = 256
    /// The estimate per number of a purchase's commit: the number (the `numberRouteRequested` a re-route without an
    /// answer adds beside it is the same again) and its transaction.
    static let purchasedNumberBytesEstimate = 1_536
    static let purchaseTransactionBytesEstimate = 1_024
    /// The most numbers one purchase may name so that its intent and its commit each fit a journal record of
    /// `recordBytesMax` (``NumberServiceConfig/validate()``): one that did not stopped every write after Twilio had
    /// sold the numbers, and again at each restart's reconciliation.
    static func purchaseNumbersMax(recordBytesMax: Int) -> Int {
        let committed = 2 * purchasedNumberBytesEstimate + purchaseTransactionBytesEstimate
        // The intent's record holds its key's `idempotencyRecorded` (1,536) too.
        return min((recordBytesMax - 512) / committed, (recordBytesMax - 1_024 - 1_536) / 1_536)
    }

    /// A generous estimate of the event's JSON size in bytes, so the group commit can cap a journal record
    /// without encoding twice. Text fields are bounded by the service's limits, in Unicode scalars of up to four
    /// UTF-8 bytes each (names 200, descriptions 500, trunk SIDs 64, the provider's text 64: the configuration
    /// cannot raise them, ``NumberServiceConfig/validate()``), and origination SIP URIs of at most 255 ASCII bytes
    /// (``Validation/originationSipUriBytesMax``, fixed); the figures are measured sizes of the largest allowed
    /// values, rounded up (`EventSizeTests`). An estimate below the real size could let a group commit exceed the
    /// journal's record limit, which stops every write.
    var bytesEstimate: Int {
        switch self {
        case .accountStatusChanged, .apiKeyRevoked, .trunkDeleted:
            return 1_024
        case .transactionPosted:
            return 3_072
        case .idempotencyRecorded(let record):
            // A release's record names the renewals its request posted (ids of at most 64 bytes each, quoted).
            guard case .releaseRequested(_, let renewalIds) = record.outcome else { return 1_536 }
            return 1_536 + renewalIds.count * 72
        case .accountCreated, .apiKeyCreated, .numberRouteRequested, .numberTrunkChanged, .numberReleaseRequested,
            .numberReleaseCancelled, .numberPastDue, .purchaseIntentCompensating, .purchaseIntentVoided:
            return 1_536
        case .trunkCreated:
            // A name and a SID at their limits, and an origination SIP URI of up to 255 ASCII bytes.
            return 2_048
        case .apiKeysPurged(let keyIds):
            return 256 + keyIds.count * 64
        case .idempotencyExpired(let keys):
            return Self.expiredKeysEventBytesEstimate + keys.count * Self.expiredKeyBytesEstimate
        case .purchaseIntentOpened(let intent):
            return 1_024 + intent.items.count * 1_536
        case .purchaseCommitted(_, let numbers, let transactions):
            return 512 + numbers.count * Self.purchasedNumberBytesEstimate
                + transactions.count * Self.purchaseTransactionBytesEstimate
        case .numberReleased, .numberRenewed:
            return Self.billingActionBytesEstimate
        case .orphanWatchStarted(let watches):
            return 256 + watches.count * 512
        case .orphanWatchEnded, .adoptionRouteEnded:
            return 512
        case .adoptionRouteRequested:
            return 1_024
        }
    }
}
