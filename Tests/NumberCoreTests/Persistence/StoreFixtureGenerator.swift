import Foundation
import Testing

@testable import NumberCore

/// Writes the store fixture of ``StoreFormat/current`` (`Fixtures/store-format-N`) through today's ``FileNumberStore``.
/// Not run by default: only with `NUMBERD_WRITE_STORE_FIXTURE=1`, and only when that folder does not exist yet. A
/// fixture is never regenerated: it pins what one format's files look like (see `Fixtures/README.md`).
@Suite("Store fixture generator")
struct StoreFixtureGenerator {
    static let enabled = ProcessInfo.processInfo.environment["NUMBERD_WRITE_STORE_FIXTURE"] == "1"

    @Test("writes Fixtures/store-format-N (NUMBERD_WRITE_STORE_FIXTURE=1 only)", .enabled(if: enabled))
    func writeFixture() async throws {
        let folder = StoreFixture.folder(format: StoreFormat.current.format)
        try #require(
            !FileManager.default.fileExists(atPath: folder.path),
            "\(folder.path) exists: a fixture is never regenerated")
        // Every record must fit: the store traps on one that does not (it applies with `apply`).
        var check = CoreState()
        for record in StoreFixtureEvents.beforeSnapshot + StoreFixtureEvents.afterSnapshot {
            try check.applyChecked(record)
        }
        #expect(check.checkInvariants() == [])
        let store = folder.appendingPathComponent("store")
        let writer = try FileNumberStore.open(directory: store)
        for record in StoreFixtureEvents.beforeSnapshot { try await Self.commit(record, to: writer) }
        try await writer.writeSnapshot()
        for record in StoreFixtureEvents.afterSnapshot { try await Self.commit(record, to: writer) }
        await writer.close()
        try FileManager.default.removeItem(at: store.appendingPathComponent("LOCK"))
        // The state a reopen reads, in today's canonical encoding (dictionaries in key order).
        let reader = try FileNumberStore.open(directory: store)
        let state = try await reader.load()
        await reader.close()
        try FileManager.default.removeItem(at: store.appendingPathComponent("LOCK"))
        #expect(state == check)
        let json = try JournalCodec.encodeJSON(state) + [UInt8(ascii: "\n")]
        try Data(json).write(to: folder.appendingPathComponent(StoreFixture.expectedStateName))
    }

    static func commit(_ events: [CoreEvent], to store: FileNumberStore) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            store.commit(events) { continuation.resume(with: $0) }
        }
    }
}

/// The records of the fixtures: every ``CoreEvent`` kind, and at the snapshot every table of ``CoreState`` non-empty
/// (every status and scope and outcome, optional fields both set and not). Each record is one step as the service
/// takes it. Changing them changes nothing once a fixture is written: they are kept to show what the newest holds.
/// Formats 1 and 2 were written before actors existed; format 3's records name them (``LedgerActor``: the admin key
/// adds funds, the account key buys and releases, an admin key buys for the account, billing renews, the grace
/// period releases, and some left without one, as records of older formats read). Format 4 adds keyed adjustments
/// (``adjustments``, and the last record after the snapshot), whose idempotency records carry the fingerprint
/// `NumberService.adjustBalance` computes, so a retry through the service replays them. Format 5 adds a keyed release
/// (``keyedReleases``: its request before the snapshot, its record after), whose idempotency record names the
/// operation `"release"` and the outcome `"releaseRequested"`; format 6's request names that record (`"key"`). Format
/// 7's main trunk, made by numberd at the provider, records its origination SIP URI; the registered one has none.
/// Format 8 adds route requests (``routeRequests``, and two records after the snapshot). Format 9 adds adoption
/// routings (``adoptionRoutes``: two recorded before the snapshot, one of them ended after it). Format 10 adds watches
/// claimed by an owned number (``claimedWatches``: one cleared by its number's release after the snapshot). Format
/// 11 adds watches counting the landed numbers a replaced watch was still to release (``countedWatches``, and one
/// released after the snapshot).
enum StoreFixtureEvents {
    static let t0 = Date(timeIntervalSince1970: 1_736_937_000)  // 2025-01-15T10:30:00Z

    static func at(days: Double = 0, seconds: Double = 0) -> Date { t0.addingTimeInterval(days * 86_400 + seconds) }

    static let acme = "ACC_FX7Q2M4RTBA"
    static let beta = "ACC_FX3K6N2WLCB"
    static let trunk = "TRK_FX5MAINSIPA"
    /// Where the main trunk, which numberd made at the provider, sends its calls (store format 7).
    static let originationSipUri = "sip:pbx.acme.example:5060;transport=tcp"
    static let stagingTrunk = "TRK_FX6STAGINGB"
    static let setupFee: Int64 = 100
    static let monthlyFee: Int64 = 115

    static func hex(_ seed: Character, _ count: Int) -> String { String(repeating: seed, count: count) }

    /// The keys that act in the fixture (created in ``accountsAndKeys``).
    static let adminKey = LedgerActor.apiKey("KEY_a1b2c3d4e5f6")
    static let serviceKey = LedgerActor.apiKey("KEY_0a1b2c3d4e5f")

    static func transaction(
        _ id: String, _ account: String, _ kind: LedgerTransaction.Kind, _ amount: Int64, after: Int64,
        number: String? = nil, key: String? = nil, _ description: String, at date: Date, by actor: LedgerActor? = nil
    ) -> LedgerTransaction {
        LedgerTransaction(
            id: id, accountId: account, kind: kind, amount: amount, balanceAfter: after, currency: "USD",
            numberId: number, description: description, createdAt: date, idempotencyKey: key, actor: actor)
    }

    static func listing(_ phone: String, locality: String?, type: NumberType = .local) -> AvailableNumber {
        AvailableNumber(
            phoneNumber: phone, friendlyName: "(415) 555-\(phone.suffix(4))", locality: locality,
            region: locality == nil ? nil : "CA", postalCode: locality == nil ? nil : "94105", country: "US",
            type: type, capabilities: NumberCapabilities(voice: true, sms: true, mms: type == .local))
    }

    static func item(_ phone: String, listing: Bool = false) -> PurchaseIntent.Item {
        PurchaseIntent.Item(
            phoneNumber: phone, setupFee: setupFee, monthlyFee: monthlyFee,
            listing: listing ? Self.listing(phone, locality: "San Francisco") : nil)
    }

    static func intent(
        _ id: String, _ phones: [String], key: String?, trunk: String? = nil, type: NumberType = .local,
        at date: Date, listing: Bool = false, by actor: LedgerActor? = nil
    ) -> PurchaseIntent {
        PurchaseIntent(
            id: id, accountId: acme, items: phones.map { item($0, listing: listing) }, country: "US", type: type,
            trunkId: trunk, currency: "USD", heldAmount: Int64(phones.count) * (setupFee + monthlyFee),
            idempotencyKey: key, createdAt: date, status: .open, actor: actor)
    }

    static func pending(_ key: String, _ intent: String, at date: Date) -> CoreEvent {
        .idempotencyRecorded(
            IdempotencyRecord(
                accountId: acme, key: key, operation: .purchase, fingerprint: hex("c", 64), createdAt: date,
                outcome: .pending(intentId: intent)))
    }

    static func number(
        _ id: String, _ phone: String, sid: Character, trunk: String?, type: NumberType = .local, locality: String?,
        at date: Date
    ) -> OwnedNumber {
        OwnedNumber(
            id: id, accountId: acme, phoneNumber: phone, friendlyName: "(415) 555-\(phone.suffix(4))", country: "US",
            region: locality == nil ? nil : "CA", locality: locality, postalCode: locality == nil ? nil : "94105",
            type: type, capabilities: NumberCapabilities(voice: true, sms: locality != nil), status: .active,
            trunkId: trunk, setupFee: setupFee, monthlyFee: monthlyFee, currency: "USD",
            providerSid: "PN" + hex(sid, 32), purchasedAt: date, billingAnchorDay: 15, cycleStart: date,
            nextBillingDate: date.addingTimeInterval(31 * 86_400))
    }

    static func watch(_ phone: String, _ intent: String, at date: Date) -> OrphanWatch {
        OrphanWatch(phoneNumber: phone, accountId: acme, intentId: intent, since: date)
    }

    static func key(
        _ id: String, _ name: String, _ scope: ApiKey.Scope, _ account: String?, hash: Character, at date: Date
    ) -> CoreEvent {
        .apiKeyCreated(
            ApiKey(id: id, name: name, scope: scope, accountId: account, secretHash: hex(hash, 64), createdAt: date))
    }

    static let beforeSnapshot: [[CoreEvent]] =
        accountsAndKeys + fundsAndTrunks + purchases + billing + openIntents + adjustments + keyedReleases
        + routeRequests + adoptionRoutes + claimedWatches + countedWatches

    /// Store format 11: voided purchases' watches that replaced another watch of the number count what it was still to
    /// release (``OrphanWatch/earlierBuys``). The account bought `+14155550106`, watched since `PIN_FXINTENT003`'s
    /// void, again twice, each purchase voided with its POST unanswered: the second void's watch counts two more. After
    /// the snapshot the sweep releases one landed number and the watch goes on counting one.
    static let countedWatches: [[CoreEvent]] = [
        [.purchaseIntentOpened(intent("PIN_FXINTENT009", ["+14155550106"], key: nil, at: at(days: 53, seconds: 700)))],
        [
            .purchaseIntentVoided(intentId: "PIN_FXINTENT009"),
            .orphanWatchStarted([countedWatch("PIN_FXINTENT009", at: at(days: 53, seconds: 710), earlierBuys: 1)]),
        ],
        [.purchaseIntentOpened(intent("PIN_FXINTENT010", ["+14155550106"], key: nil, at: at(days: 53, seconds: 720)))],
        [
            .purchaseIntentVoided(intentId: "PIN_FXINTENT010"),
            .orphanWatchStarted([countedWatch("PIN_FXINTENT010", at: at(days: 53, seconds: 730), earlierBuys: 2)]),
        ],
    ]

    /// The watch of `+14155550106` started by `intent`'s void at `date`, with `earlierBuys` more to release.
    static func countedWatch(_ intent: String, at date: Date, earlierBuys: Int?) -> OrphanWatch {
        OrphanWatch(
            phoneNumber: "+14155550106", accountId: acme, intentId: intent, since: date, buyTrunkSid: "",
            earlierBuys: earlierBuys)
    }

    /// Store format 10: voided purchases' watches claimed by the number the account bought again while their POSTs
    /// could still land (``OrphanWatch/claimedBy``; the service writes them in the purchase's commit record). The one
    /// beside `NUM_FXNUMBER001` watches again once that number is released after the snapshot; the one beside
    /// `NUM_FXNUMBER002` stays claimed.
    static let claimedWatches: [[CoreEvent]] = [
        [
            .orphanWatchStarted([
                OrphanWatch(
                    phoneNumber: "+14155550101", accountId: acme, intentId: "PIN_FXINTENT007",
                    since: at(days: 53, seconds: 600), buyTrunkSid: "TK" + hex("a", 32), claimedBy: "NUM_FXNUMBER001")
            ])
        ],
        [
            .orphanWatchStarted([
                OrphanWatch(
                    phoneNumber: "+14155550102", accountId: acme, intentId: "PIN_FXINTENT008",
                    since: at(days: 53, seconds: 660), buyTrunkSid: "", claimedBy: "NUM_FXNUMBER002")
            ])
        ],
    ]

    /// Store format 9: adoption routings recorded before they are sent (to the main trunk), both open at the snapshot,
    /// one ended after it; the other stays recorded.
    static let adoptionRoutes: [[CoreEvent]] = [
        [
            .adoptionRouteRequested(
                AdoptionRouteRequest(
                    phoneNumber: "+14155550177", accountId: acme, trunkId: trunk, at: at(days: 53, seconds: 500)))
        ],
        [
            .adoptionRouteRequested(
                AdoptionRouteRequest(
                    phoneNumber: "+14155550178", accountId: acme, trunkId: trunk, at: at(days: 53, seconds: 560)))
        ],
    ]

    /// Store format 8: a trunk change recorded before it is sent, open at the snapshot (to the main trunk) and settled
    /// after it; then one off the trunk (no `trunkId`) left open under the number's grace release.
    static let routeRequests: [[CoreEvent]] = [
        [.numberRouteRequested(numberId: "NUM_FXNUMBER002", trunkId: trunk, at: at(days: 53, seconds: 400))]
    ]

    static let accountsAndKeys: [[CoreEvent]] = [
        [.accountCreated(Account(id: acme, name: "Acme Voice", currency: "USD", createdAt: at(seconds: 0)))],
        [
            .accountCreated(
                Account(id: beta, name: "Beta \"Calls\" \u{e9}", currency: "USD", createdAt: at(seconds: 60)))
        ],
        [key("KEY_a1b2c3d4e5f6", "bootstrap admin", .admin, nil, hash: "1", at: at(seconds: 120))],
        [key("KEY_0a1b2c3d4e5f", "svc", .account, acme, hash: "2", at: at(seconds: 130))],
        [key("KEY_f6e5d4c3b2a1", "dashboard", .readOnly, acme, hash: "3", at: at(seconds: 140))],
        [key("KEY_123456abcdef", "old", .account, beta, hash: "4", at: at(seconds: 150))],
        [.apiKeyRevoked(keyId: "KEY_123456abcdef", at: at(seconds: 300))],
        [.apiKeyRevoked(keyId: "KEY_f6e5d4c3b2a1", at: at(seconds: 310))],
        [.apiKeysPurged(keyIds: ["KEY_123456abcdef"])],
    ]

    static let fundsAndTrunks: [[CoreEvent]] = [
        [
            .transactionPosted(
                transaction(
                    "TXN_FXFUNDS0001", acme, .fundsAdded, 10_000, after: 10_000, key: "fund-1", "Funds added",
                    at: at(seconds: 400), by: adminKey)),
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: acme, key: "fund-1", operation: .addFunds, fingerprint: hex("a", 64),
                    createdAt: at(seconds: 400), outcome: .fundsAdded(transactionId: "TXN_FXFUNDS0001"))),
        ],
        [
            .transactionPosted(
                transaction(
                    "TXN_FXFUNDS0002", beta, .fundsAdded, 500, after: 500, key: "fund-b", "Funds added",
                    at: at(seconds: 410), by: adminKey)),
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: beta, key: "fund-b", operation: .addFunds, fingerprint: hex("b", 64),
                    createdAt: at(seconds: 410), outcome: .fundsAdded(transactionId: "TXN_FXFUNDS0002"))),
        ],
        [.idempotencyExpired(storageKeys: [IdempotencyRecord.storageKey(accountId: beta, key: "fund-b")])],
        [
            .transactionPosted(
                transaction(
                    "TXN_FXADJUST001", acme, .adjustment, -25, after: 9_975, "Goodwill correction", at: at(seconds: 420)
                ))
        ],
        [
            .trunkCreated(
                Trunk(
                    id: trunk, accountId: acme, name: "Production SIP Trunk", providerTrunkSid: "TK" + hex("d", 32),
                    createdAt: at(seconds: 500), providerManaged: true, originationSipUri: originationSipUri))
        ],
        [
            .trunkCreated(
                Trunk(
                    id: stagingTrunk, accountId: acme, name: "Staging", providerTrunkSid: "TK" + hex("e", 32),
                    createdAt: at(seconds: 510)))
        ],
        [.trunkDeleted(trunkId: stagingTrunk)],
    ]

    static let purchases: [[CoreEvent]] = [
        [
            .purchaseIntentOpened(
                intent(
                    "PIN_FXINTENT001", ["+14155550101", "+14155550102"], key: "buy-1", trunk: trunk,
                    at: at(seconds: 600), listing: true, by: serviceKey)),
            pending("buy-1", "PIN_FXINTENT001", at: at(seconds: 600)),
        ],
        [
            .purchaseCommitted(
                intentId: "PIN_FXINTENT001",
                numbers: [
                    number(
                        "NUM_FXNUMBER001", "+14155550101", sid: "1", trunk: trunk, locality: "San Francisco",
                        at: at(seconds: 602)),
                    number(
                        "NUM_FXNUMBER002", "+14155550102", sid: "2", trunk: nil, locality: nil, at: at(seconds: 602)),
                ],
                transactions: [
                    transaction(
                        "TXN_FXBUY000001", acme, .purchase, -215, after: 9_760, number: "NUM_FXNUMBER001", key: "buy-1",
                        "Purchase +14155550101", at: at(seconds: 602), by: serviceKey),
                    transaction(
                        "TXN_FXBUY000002", acme, .purchase, -215, after: 9_545, number: "NUM_FXNUMBER002", key: "buy-1",
                        "Purchase +14155550102", at: at(seconds: 602), by: serviceKey),
                ])
        ],
        [
            .purchaseIntentOpened(
                intent("PIN_FXINTENT002", ["+14155550103"], key: "buy-2", at: at(seconds: 700), by: serviceKey)),
            pending("buy-2", "PIN_FXINTENT002", at: at(seconds: 700)),
        ],
        [.purchaseIntentCompensating(intentId: "PIN_FXINTENT002")],
        [
            .purchaseIntentVoided(intentId: "PIN_FXINTENT002"),
            .orphanWatchStarted([watch("+14155550103", "PIN_FXINTENT002", at: at(seconds: 710))]),
        ],
        [
            .orphanWatchEnded(
                phoneNumber: "+14155550103", outcome: .released(sid: "PN" + hex("3", 32)), at: at(seconds: 800))
        ],
        [
            .purchaseIntentOpened(
                intent(
                    "PIN_FXINTENT003", ["+14155550104", "+14155550105", "+14155550106"], key: nil, at: at(seconds: 900))
            )
        ],
        [
            .purchaseIntentVoided(intentId: "PIN_FXINTENT003"),
            .orphanWatchStarted([
                watch("+14155550104", "PIN_FXINTENT003", at: at(seconds: 910)),
                watch("+14155550105", "PIN_FXINTENT003", at: at(seconds: 910)),
                watch("+14155550106", "PIN_FXINTENT003", at: at(seconds: 910)),
            ]),
        ],
        [.orphanWatchEnded(phoneNumber: "+14155550104", outcome: .claimed, at: at(seconds: 1_000))],
        [.orphanWatchEnded(phoneNumber: "+14155550105", outcome: .expired, at: at(days: 1, seconds: 1_000))],
        [.numberTrunkChanged(numberId: "NUM_FXNUMBER002", trunkId: trunk)],
        [.numberTrunkChanged(numberId: "NUM_FXNUMBER002", trunkId: nil)],
    ]

    static let billing: [[CoreEvent]] = [
        [
            .numberRenewed(
                numberId: "NUM_FXNUMBER001",
                transaction: transaction(
                    "TXN_FXRENEW0001", acme, .renewal, -115, after: 9_430, number: "NUM_FXNUMBER001",
                    "Renewal +14155550101", at: at(days: 31, seconds: 602), by: .billing),
                cycleStart: at(days: 31, seconds: 602), nextBillingDate: at(days: 59, seconds: 602))
        ],
        [.numberPastDue(numberId: "NUM_FXNUMBER002", at: at(days: 31, seconds: 603))],
        [.numberReleaseRequested(numberId: "NUM_FXNUMBER001", at: at(days: 36), by: serviceKey)],
        [.numberReleaseCancelled(numberId: "NUM_FXNUMBER001")],
        [
            .purchaseIntentOpened(
                intent(
                    "PIN_FXINTENT004", ["+18005550107"], key: "buy-4", trunk: trunk, type: .tollFree, at: at(days: 37),
                    by: adminKey)),
            pending("buy-4", "PIN_FXINTENT004", at: at(days: 37)),
        ],
        [
            .purchaseCommitted(
                intentId: "PIN_FXINTENT004",
                numbers: [
                    number(
                        "NUM_FXNUMBER003", "+18005550107", sid: "7", trunk: trunk, type: .tollFree, locality: nil,
                        at: at(days: 37, seconds: 5))
                ],
                transactions: [
                    transaction(
                        "TXN_FXBUY000003", acme, .purchase, -215, after: 9_215, number: "NUM_FXNUMBER003", key: "buy-4",
                        "Purchase +18005550107", at: at(days: 37, seconds: 5), by: adminKey)
                ])
        ],
        [.numberReleaseRequested(numberId: "NUM_FXNUMBER003", at: at(days: 52), by: serviceKey)],
        [
            .numberReleased(
                numberId: "NUM_FXNUMBER003", at: at(days: 52, seconds: 2),
                refund: transaction(
                    "TXN_FXREFUND001", acme, .refund, 57, after: 9_272, number: "NUM_FXNUMBER003",
                    "Refund +18005550107", at: at(days: 52, seconds: 2), by: serviceKey))
        ],
    ]

    static let openIntents: [[CoreEvent]] = [
        [
            .purchaseIntentOpened(
                intent(
                    "PIN_FXINTENT005", ["+14155550108"], key: "buy-5", trunk: trunk, at: at(days: 53), listing: true,
                    by: serviceKey)
            ),
            pending("buy-5", "PIN_FXINTENT005", at: at(days: 53)),
        ],
        [.purchaseIntentOpened(intent("PIN_FXINTENT006", ["+14155550109"], key: nil, at: at(days: 53, seconds: 1)))],
        [.purchaseIntentCompensating(intentId: "PIN_FXINTENT006")],
        [.accountStatusChanged(accountId: beta, status: .suspended)],
    ]

    /// A keyed adjustment (store format 4): its transaction and its idempotency record, as `adjustBalance` posts them.
    static func keyedAdjustment(
        _ id: String, _ amount: Int64, after: Int64, key: String, _ reason: String, at date: Date
    ) -> [CoreEvent] {
        [
            .transactionPosted(
                transaction(id, acme, .adjustment, amount, after: after, key: key, reason, at: date, by: adminKey)),
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: acme, key: key, operation: .adjustment,
                    fingerprint: Crypto.sha256Hex("adjustment|\(amount)|\(reason)"), createdAt: date,
                    outcome: .adjusted(transactionId: id))),
        ]
    }

    static let adjustments: [[CoreEvent]] = [
        keyedAdjustment(
            "TXN_FXADJUST002", 28, after: 9_300, key: "fix-1", "Outage credit, ticket 4711",
            at: at(days: 53, seconds: 60))
    ]

    /// A keyed release (store format 5; its request names the key's record from format 6), as `release` requests it: the number's billing date had not come, so no
    /// renewal; still releasing at the snapshot (in doubt), recorded after it (``afterSnapshot``'s last record).
    static let keyedReleases: [[CoreEvent]] = [
        [
            .numberReleaseRequested(
                numberId: "NUM_FXNUMBER001", at: at(days: 53, seconds: 200), by: serviceKey,
                key: IdempotencyRecord.storageKey(accountId: acme, key: "release-1")),
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: acme, key: "release-1", operation: .release,
                    fingerprint: Crypto.sha256Hex("release|NUM_FXNUMBER001"), createdAt: at(days: 53, seconds: 200),
                    outcome: .releaseRequested(numberId: "NUM_FXNUMBER001", renewalIds: []))),
        ]
    ]

    /// After the snapshot: what opening the store replays on top of it.
    static let afterSnapshot: [[CoreEvent]] = [
        [
            .transactionPosted(
                transaction(
                    "TXN_FXFUNDS0003", acme, .fundsAdded, 2_000, after: 11_300, key: "fund-2", "Funds added",
                    at: at(days: 54), by: adminKey)),
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: acme, key: "fund-2", operation: .addFunds, fingerprint: hex("f", 64),
                    createdAt: at(days: 54), outcome: .fundsAdded(transactionId: "TXN_FXFUNDS0003"))),
        ],
        [.numberTrunkChanged(numberId: "NUM_FXNUMBER002", trunkId: trunk)],
        [.numberRouteRequested(numberId: "NUM_FXNUMBER002", trunkId: nil, at: at(days: 54, seconds: 30))],
        [.numberReleaseRequested(numberId: "NUM_FXNUMBER002", at: at(days: 54, seconds: 60), by: .gracePeriod)],
        [
            .purchaseIntentVoided(intentId: "PIN_FXINTENT006"),
            .orphanWatchStarted([watch("+14155550109", "PIN_FXINTENT006", at: at(days: 54, seconds: 120))]),
        ],
        [key("KEY_00ff00ff00ff", "beta reader", .readOnly, beta, hash: "5", at: at(days: 54, seconds: 180))],
        [.adoptionRouteEnded(phoneNumber: "+14155550178")],
        keyedAdjustment(
            "TXN_FXADJUST003", -300, after: 11_000, key: "fix-2", "Duplicate top-up reversed",
            at: at(days: 54, seconds: 240)),
        [
            .numberReleased(
                numberId: "NUM_FXNUMBER001", at: at(days: 53, seconds: 200),
                refund: transaction(
                    "TXN_FXREFUND002", acme, .refund, 24, after: 11_024, number: "NUM_FXNUMBER001",
                    "Prorated refund for 6 days remaining in billing cycle", at: at(days: 54, seconds: 300),
                    by: serviceKey))
        ],
        // The sweep released one landed number (``OrphanWatch/released(sid:at:)``): one more to release.
        [.orphanWatchStarted([countedWatch("PIN_FXINTENT010", at: at(days: 53, seconds: 730), earlierBuys: 1)])],
    ]
}

/// Where the fixtures are, and what each holds.
enum StoreFixture {
    /// The state file beside a fixture's `store` folder.
    static let expectedStateName = "expected-state.json"

    /// `Tests/NumberCoreTests/Fixtures/store-format-<format>`.
    static func folder(format: Int) -> URL { folder(named: "store-format-\(format)") }

    /// `Tests/NumberCoreTests/Fixtures/<name>`: a format's fixture, or a later one of the same format
    /// (`store-format-7b`, see `Fixtures/README.md`).
    static func folder(named name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(name)", isDirectory: true)
    }
}
