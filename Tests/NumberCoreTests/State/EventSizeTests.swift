import Foundation
import Testing

@testable import NumberCore

@Suite("Event size estimates and journal record bounds")
struct EventSizeTests {
    /// The size the journal writes (its streaming encoder).
    static func size(_ events: [CoreEvent]) throws -> Int { try JSONLineEncoder.encode(events).count }

    /// Text of `count` Unicode scalars of four UTF-8 bytes each: the most bytes a field counted in scalars can hold
    /// (a quote or backslash is two bytes in JSON, a control character is refused).
    static func widest(_ count: Int) -> String { String(repeating: "\u{1F4DE}", count: count) }

    /// Events of most kinds with every text field at its limit and the largest counts (20 numbers per purchase).
    static func maximalEvents() -> [CoreEvent] {
        let limits = NumberServiceConfig.defaults.limits
        let long = widest(limits.nameLengthMax)
        let description = widest(limits.descriptionLengthMax)
        let key = String(repeating: "k", count: 128)
        // Actors are key ids numberd drew (`KEY_` and 12 characters) or its own names, the longest of which this is.
        let apiKeyId = "KEY_0123456789ab"
        let longestActor = LedgerActor.gracePeriod
        let at = Date(timeIntervalSince1970: 1_736_937_000.123)
        let account = Account(id: "ACC_0123456789ab", name: long, currency: "USD", createdAt: at)
        let transaction = LedgerTransaction(
            id: "TXN_0123456789ab", accountId: account.id, kind: .fundsAdded, amount: .max, balanceAfter: .max,
            currency: "USD", numberId: "NUM_0123456789ab", description: description, createdAt: at, idempotencyKey: key,
            actor: .apiKey(apiKeyId))
        // The transactions numberd writes itself (purchase, renewal, refund) carry its own short descriptions.
        let ownTransaction = LedgerTransaction(
            id: "TXN_0123456789ab", accountId: account.id, kind: .refund, amount: .max, balanceAfter: .max,
            currency: "USD", numberId: "NUM_0123456789ab",
            description: "Prorated refund for \(Int.max) days remaining in billing cycle", createdAt: at,
            idempotencyKey: key, actor: longestActor)
        // An origination SIP URI is printable ASCII without quotes or backslashes: one byte each in JSON.
        let origination = "sip:" + String(repeating: "a", count: Validation.originationSipUriBytesMax - 4)
        let trunk = Trunk(
            id: "TRK_0123456789ab", accountId: account.id, name: long,
            providerTrunkSid: widest(limits.providerSidLengthMax), createdAt: at, providerManaged: true,
            originationSipUri: origination)
        let apiKey = ApiKey(
            id: "KEY_0123456789ab", name: long, scope: .readOnly, accountId: account.id,
            secretHash: String(repeating: "f", count: 64), createdAt: at, revokedAt: at)
        // The provider's text at its bound.
        let providerText = widest(limits.providerTextLengthMax)
        let listing = AvailableNumber(
            phoneNumber: "+123456789012345", friendlyName: providerText, locality: providerText, region: providerText,
            postalCode: providerText, country: "US", type: .tollFree,
            capabilities: NumberCapabilities(voice: true, sms: true, mms: true, fax: true))
        let item = PurchaseIntent.Item(
            phoneNumber: "+123456789012345", setupFee: .max, monthlyFee: .max, listing: listing)
        let intent = PurchaseIntent(
            id: "PIN_0123456789ab", accountId: account.id, items: Array(repeating: item, count: 20), country: "US",
            type: .tollFree, trunkId: "TRK_0123456789ab", currency: "USD", heldAmount: .max, idempotencyKey: key,
            createdAt: at, status: .open, actor: longestActor)
        var number = OwnedNumber.purchased(
            id: "NUM_0123456789ab", intent: intent, item: item,
            provisioned: ProvisionedNumber(
                sid: "PN" + String(repeating: "0", count: 32), phoneNumber: item.phoneNumber,
                friendlyName: providerText, trunkSid: "TK" + String(repeating: "0", count: 32),
                capabilities: listing.capabilities, dateCreated: at), trunkId: "TRK_0123456789ab", at: at, textMax: 64)
        number.pastDueSince = at
        number.releaseRequestedAt = at
        number.releaseRequestedBy = longestActor
        let record = IdempotencyRecord(
            accountId: account.id, key: key, operation: .purchase, fingerprint: String(repeating: "a", count: 64),
            createdAt: at,
            outcome: .purchased(
                numberIds: Array(repeating: number.id, count: 20),
                transactionIds: Array(repeating: transaction.id, count: 20)))
        // A release's record naming as many renewals as a release's decision may post.
        let releaseRecord = IdempotencyRecord(
            accountId: account.id, key: key, operation: .release, fingerprint: String(repeating: "a", count: 64),
            createdAt: at,
            outcome: .releaseRequested(
                numberId: number.id,
                renewalIds: Array(repeating: "TXN_" + String(repeating: "f", count: 60), count: 510)))
        return [
            .accountCreated(account), .transactionPosted(transaction), .idempotencyRecorded(record),
            .idempotencyRecorded(releaseRecord),
            .trunkCreated(trunk), .apiKeyCreated(apiKey),
            .purchaseIntentOpened(intent),
            .purchaseCommitted(
                intentId: intent.id, numbers: Array(repeating: number, count: 20),
                transactions: Array(repeating: ownTransaction, count: 20)),
            .numberReleaseRequested(numberId: number.id, at: at, by: longestActor),
            .numberReleased(numberId: number.id, at: at, refund: ownTransaction),
            .numberRenewed(numberId: number.id, transaction: ownTransaction, cycleStart: at, nextBillingDate: at),
            .idempotencyExpired(storageKeys: Array(repeating: account.id + "\u{1F}" + key, count: 50)),
            .apiKeysPurged(keyIds: Array(repeating: "KEY_0123456789ab", count: 50)),
        ]
    }

    @Test("estimates are at least the real JSON size of events with maximal text fields")
    func estimatesBound() async throws {
        for event in Self.maximalEvents() {
            let real = try Self.size([event])
            #expect(
                real <= event.bytesEstimate,
                "\(real) > \(event.bytesEstimate) for \(String(describing: event).prefix(60))")
        }
    }

    @Test("the largest decisions fit a journal record: a billing run at its action limit, a full purchase")
    func largestDecisionsFit() async throws {
        let limit = JournalOptions.defaults.limits.recordBytesMax
        let actions = NumberServiceConfig.defaults.billing.actionsPerRunMax
        let renewal = CoreEvent.numberRenewed(
            numberId: "NUM_0123456789ab",
            transaction: LedgerTransaction(
                id: "TXN_0123456789ab", accountId: "ACC_0123456789ab", kind: .renewal, amount: -133, balanceAfter: 0,
                currency: "USD", numberId: "NUM_0123456789ab", description: "Monthly fee: +123456789012345",
                createdAt: Date(), idempotencyKey: nil, actor: .billing),
            cycleStart: Date(), nextBillingDate: Date())
        #expect(renewal.bytesEstimate * actions <= limit)
        #expect(try Self.size(Array(repeating: renewal, count: actions)) <= limit)
        #expect(NumberServiceConfig.defaults.commits.commitBytesEstimateMax <= limit)
    }

    /// A review: a purchase naming more numbers than one journal record holds bought them all at Twilio, then its
    /// commit was refused by the journal, which stops every write — and again at each restart's reconciliation.
    @Test("the configuration refuses a purchase larger than a journal record holds; the largest allowed fits")
    func largestPurchaseFits() {
        let limit = JournalOptions.defaults.limits.recordBytesMax
        let most = CoreEvent.purchaseNumbersMax(recordBytesMax: limit)
        var config = NumberServiceConfig.defaults
        config.limits.purchaseNumbersMax = most
        #expect(config.validate().isEmpty)
        config.limits.purchaseNumbersMax = most + 1
        #expect(config.validate() == ["limits.purchaseNumbersMax must be at most \(most) (a purchase's record)"])
        // Each number, its transaction, and the trunk change a re-route without an answer opens beside it.
        let routeOpened = CoreEvent.numberRouteRequested(numberId: "NUM_1", trunkId: nil, at: Date()).bytesEstimate
        let perNumber: Int =
            CoreEvent.purchasedNumberBytesEstimate + CoreEvent.purchaseTransactionBytesEstimate + routeOpened
        let empty = CoreEvent.purchaseCommitted(intentId: "PIN_1", numbers: [], transactions: [])
        #expect(empty.bytesEstimate + most * perNumber <= limit)
        #expect(1_024 + 1_536 + most * 1_536 <= limit, "the intent's record, its key's record with it")
    }
}
