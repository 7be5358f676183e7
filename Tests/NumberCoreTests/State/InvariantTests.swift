import Foundation
import Testing

@testable import NumberCore

@Suite("Invariant checker")
struct InvariantTests {
    /// A sound state: one account with funds and a number bought through an intent.
    static func sound() -> CoreState {
        var state = CoreState()
        let now = Date.utc("2025-01-15T10:30:00Z")
        state.apply(.accountCreated(Account(id: "ACC_1", name: "A", currency: "USD", createdAt: now)))
        state.apply(
            .transactionPosted(
                LedgerTransaction(
                    id: "TXN_1", accountId: "ACC_1", kind: .fundsAdded, amount: 500, balanceAfter: 500, currency: "USD",
                    numberId: nil, description: "funds", createdAt: now, idempotencyKey: nil)))
        let item = PurchaseIntent.Item(phoneNumber: "+14155550100", setupFee: 0, monthlyFee: 133, listing: nil)
        let intent = PurchaseIntent(
            id: "PIN_1", accountId: "ACC_1", items: [item], country: "US", type: .local, trunkId: nil, currency: "USD",
            heldAmount: 133, idempotencyKey: nil, createdAt: now, status: .open)
        state.apply(.purchaseIntentOpened(intent))
        let provisioned = ProvisionedNumber(
            sid: "PN1", phoneNumber: "+14155550100", friendlyName: "x", capabilities: NumberCapabilities(voice: true),
            dateCreated: now)
        let number = OwnedNumber.purchased(
            id: "NUM_1", intent: intent, item: item, provisioned: provisioned, trunkId: nil, at: now, textMax: 64)
        let debit = LedgerTransaction(
            id: "TXN_2", accountId: "ACC_1", kind: .purchase, amount: -133, balanceAfter: 367, currency: "USD",
            numberId: "NUM_1", description: "Phone number setup: +14155550100", createdAt: now, idempotencyKey: nil)
        state.apply(.purchaseCommitted(intentId: "PIN_1", numbers: [number], transactions: [debit]))
        return state
    }

    @Test("a sound state has no violations and survives a JSON round trip")
    func sound() throws {
        let state = Self.sound()
        #expect(state.checkInvariants() == [])
        let decoded = try JSONDecoder().decode(CoreState.self, from: JSONEncoder().encode(state))
        #expect(decoded == state)
    }

    /// A damaged or hand-edited record's anchor day (0, 32), or a date far outside the calendar, reached a
    /// precondition (or an integer conversion) in `BillingCalendar` at the first billing run — at start, start after
    /// start: a crash loop instead of the start's refusal of a state whose invariants do not hold.
    @Test("a billing anchor day outside 1...31, or a cycle outside the years 1970...9999, breaks the billing cycle")
    func billingCycle() {
        for day in [0, 32, -1, Int.max] {
            var state = Self.sound()
            state.numbers["NUM_1"]!.billingAnchorDay = day
            #expect(
                state.checkInvariants().map(\.description) == [
                    "billing-cycle: NUM_1 has billing anchor day \(day), not 1...31"
                ])
        }
        for start in [-86_400 * 400.0, 253_402_300_800, 1e15] {
            var state = Self.sound()
            state.numbers["NUM_1"]!.cycleStart = Date(timeIntervalSince1970: start)
            state.numbers["NUM_1"]!.nextBillingDate = Date(timeIntervalSince1970: start + 86_400 * 28)
            // (The billing-date index, built with the number, disagrees too.)
            #expect(
                state.checkInvariants().map(\.description).contains(
                    "billing-cycle: NUM_1 has a cycle outside the years 1970...9999"), "\(start)")
        }
        // The edges are sound: anchors 1 and 31, the cycle's own dates.
        for day in [1, 31] {
            var state = Self.sound()
            state.numbers["NUM_1"]!.billingAnchorDay = day
            #expect(state.checkInvariants() == [])
        }
    }

    @Test("a balance that disagrees with the ledger")
    func balance() {
        var state = Self.sound()
        state.accounts["ACC_1"]!.balance += 1
        #expect(state.checkInvariants().map(\.rule).contains("balance-equals-ledger"))
    }

    @Test("a negative balance")
    func negative() {
        var state = Self.sound()
        state.transactions["ACC_1"]![0].amount = -500
        state.transactions["ACC_1"]![0].balanceAfter = -500
        state.transactions["ACC_1"]![1].balanceAfter = -633
        state.accounts["ACC_1"]!.balance = -633
        #expect(state.checkInvariants().map(\.rule).contains("balance-non-negative"))
    }

    @Test("holds larger than the balance")
    func holds() {
        var state = Self.sound()
        state.accounts["ACC_1"]!.held = 10_000
        #expect(state.checkInvariants().map(\.rule).contains("holds"))
    }

    /// Store formats 10 and 11 let a watch stand beside the number that claimed it and count the numbers it may still
    /// have to release; a damaged record (a hand edit, a faulty build) that watches a number its owner did not claim, or
    /// counts nothing, or counts in a released number's watch, is reported (and refused when applied).
    @Test("a watch beside an owned number it is not claimed by, or a count of none or in a released number's watch")
    func damagedWatches() throws {
        let at = Date.utc("2025-01-16T00:00:00Z")
        func violations(_ watch: OrphanWatch) -> [String] {
            var state = Self.sound()
            state.apply(.accountCreated(Account(id: "ACC_2", name: "B", currency: "USD", createdAt: at)))
            state.orphanWatch[watch.phoneNumber] = watch
            return state.checkInvariants().map(\.rule)
        }
        func watch(
            _ phone: String, _ account: String, _ startedBy: String, claimedBy: String? = nil, count: Int? = nil
        )
            -> OrphanWatch
        {
            OrphanWatch(
                phoneNumber: phone, accountId: account, intentId: startedBy, since: at, claimedBy: claimedBy,
                earlierBuys: count)
        }
        let owned = "+14155550100"
        #expect(violations(watch(owned, "ACC_1", "PIN_9", claimedBy: "NUM_1")) == [])
        #expect(violations(watch(owned, "ACC_1", "PIN_9")) == ["orphan-watch"], "owned, claimed by none")
        #expect(violations(watch(owned, "ACC_2", "PIN_9", claimedBy: "NUM_1")) == ["orphan-watch"], "another account's")
        #expect(violations(watch(owned, "ACC_1", "PIN_9", claimedBy: "NUM_2")) == ["orphan-watch"], "another number")
        #expect(violations(watch("+14155550199", "ACC_1", "PIN_9", claimedBy: "NUM_1")) == ["orphan-watch"])
        #expect(violations(watch("+14155550199", "ACC_1", "PIN_9", count: 2)) == [])
        #expect(violations(watch("+14155550199", "ACC_1", "PIN_9", count: 0)) == ["orphan-watch"], "a count of none")
        #expect(violations(watch("+14155550199", "ACC_1", "NUM_9", count: 1)) == ["orphan-watch"], "a NUM_ watch's")
        // Applied as a record, a claim by a number that does not own the phone is refused.
        var state = Self.sound()
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked([.orphanWatchStarted([watch(owned, "ACC_1", "PIN_9")])])
        }
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked([.orphanWatchStarted([watch("+14155550199", "ACC_1", "PIN_9", claimedBy: "NUM_1")])])
        }
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked([.orphanWatchStarted([watch("+14155550199", "ACC_1", "PIN_9", count: 0)])])
        }
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked([.orphanWatchStarted([watch("+14155550199", "ACC_1", "NUM_9", count: 1)])])
        }
        try state.applyChecked([.orphanWatchStarted([watch(owned, "ACC_1", "PIN_9", claimedBy: "NUM_1")])])
        #expect(state.checkInvariants() == [])
    }

    @Test("a number owned twice")
    func ownedTwice() {
        var state = Self.sound()
        var copy = state.numbers["NUM_1"]!
        copy.id = "NUM_2"
        state.numbers["NUM_2"] = copy
        state.accountNumbers["ACC_1"]!.append("NUM_2")
        #expect(state.checkInvariants().map(\.rule).contains("owned-once"))
    }

    @Test("a second refund")
    func secondRefund() {
        var state = Self.sound()
        let at = Date.utc("2025-01-20T00:00:00Z")
        let refund = LedgerTransaction(
            id: "TXN_3", accountId: "ACC_1", kind: .refund, amount: 10, balanceAfter: 377, currency: "USD",
            numberId: "NUM_1", description: "r", createdAt: at, idempotencyKey: nil)
        state.apply(.numberReleased(numberId: "NUM_1", at: at, refund: refund))
        #expect(state.checkInvariants() == [])
        var again = refund
        again.id = "TXN_4"
        again.balanceAfter = 387
        state.forcePost(again)
        #expect(state.checkInvariants().map(\.rule).contains("one-refund"))
    }

    /// The worst bug classes the checker (and `numberd verify`) used to let through: a number owned without its
    /// debit, a debit of another amount, a refund larger than a month, money about another account's number.
    @Test("a number without its purchase debit, or with a wrong one; a refund over a month; another account's number")
    func ledgerLinks() {
        var noDebit = Self.sound()
        noDebit.transactions["ACC_1"]![1].kind = .adjustment
        #expect(noDebit.checkInvariants().map(\.rule) == ["number-debit"])
        var wrongDebit = Self.sound()
        wrongDebit.transactions["ACC_1"]![1].amount = -132
        wrongDebit.transactions["ACC_1"]![1].balanceAfter = 368
        wrongDebit.accounts["ACC_1"]!.balance = 368
        #expect(wrongDebit.checkInvariants().map(\.rule) == ["number-debit"])
        var bigRefund = Self.sound()
        let at = Date.utc("2025-01-20T00:00:00Z")
        bigRefund.apply(
            .numberReleased(
                numberId: "NUM_1", at: at,
                refund: LedgerTransaction(
                    id: "TXN_3", accountId: "ACC_1", kind: .refund, amount: 134, balanceAfter: 501, currency: "USD",
                    numberId: "NUM_1", description: "r", createdAt: at, idempotencyKey: nil)))
        #expect(bigRefund.checkInvariants().map(\.rule) == ["refund-range"])
        var foreign = Self.sound()
        foreign.apply(.accountCreated(Account(id: "ACC_2", name: "B", currency: "USD", createdAt: at)))
        foreign.forcePost(
            LedgerTransaction(
                id: "TXN_4", accountId: "ACC_2", kind: .adjustment, amount: 5, balanceAfter: 5, currency: "USD",
                numberId: "NUM_1", description: "a", createdAt: at, idempotencyKey: nil))
        #expect(foreign.checkInvariants().map(\.rule) == ["transaction-number"])
    }

    /// A pending key record whose intent is gone blocks its key for good (pending records never expire).
    @Test("an idempotency record that points nowhere")
    func idempotencyLinks() {
        let at = Date.utc("2025-01-15T10:30:00Z")
        var state = Self.sound()
        state.apply(
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: "ACC_1", key: "k", operation: .addFunds, fingerprint: "f", createdAt: at,
                    outcome: .fundsAdded(transactionId: "TXN_1"))))
        #expect(state.checkInvariants() == [])
        state.apply(
            .idempotencyRecorded(
                IdempotencyRecord(
                    accountId: "ACC_1", key: "p", operation: .purchase, fingerprint: "f", createdAt: at,
                    outcome: .pending(intentId: "PIN_9"))))
        #expect(state.checkInvariants().map(\.rule) == ["idempotency-record"])
    }

    @Test("a reservation without an intent")
    func strayReservation() {
        var state = Self.sound()
        state.reservations["+14155550199"] = "PIN_9"
        #expect(state.checkInvariants().map(\.rule).contains("reservation"))
    }

    /// Rules on a ledger's kinds: credits positive and debits not, an adjustment never 0, a purchase, renewal or refund
    /// tied to a number, a renewal of the number's fee, a refund the one its number names. Each used to pass the checker.
    @Test("a transaction of the wrong sign for its kind, without its number, or not its number's refund is reported")
    func ledgerKindRules() {
        let now = Date.utc("2025-01-20T00:00:00Z")
        func with(_ kind: LedgerTransaction.Kind, _ amount: Int64, number: String?) -> [String] {
            var state = Self.sound()
            let account = state.accounts["ACC_1"]!
            state.forcePost(
                LedgerTransaction(
                    id: "TXN_9", accountId: "ACC_1", kind: kind, amount: amount,
                    balanceAfter: account.balance + amount, currency: "USD", numberId: number, description: "x",
                    createdAt: now, idempotencyKey: nil))
            return state.checkInvariants().map(\.rule)
        }
        #expect(with(.fundsAdded, -5, number: nil).contains("kind-sign"))
        #expect(with(.refund, 0 + 5, number: nil).contains("transaction-number"), "a refund of no number")
        #expect(with(.adjustment, 0, number: nil).contains("kind-sign"))
        #expect(with(.renewal, 5, number: "NUM_1").contains("kind-sign"))
        #expect(with(.renewal, -100, number: "NUM_1").contains("renewal-fee"))
        #expect(with(.refund, 5, number: "NUM_1").contains("one-refund"), "NUM_1 names no refund")
        #expect(with(.adjustment, -5, number: nil) == [], "a debit adjustment is sound")
        #expect(with(.renewal, -133, number: "NUM_1") == [], "a renewal of the fee is sound")
    }

    /// `state` written and read back as a snapshot's state is (``JournalCodec``): the derived indexes — the held
    /// numbers among them — are rebuilt from the tables, as at a start from a snapshot.
    static func reloaded(_ state: CoreState) throws -> CoreState {
        try JournalCodec.decode(CoreState.self, try JournalCodec.encodeJSON(state)[...])
    }

    /// A snapshot's `accountNumbers` was read as it was, and the held numbers rebuilt from it, so their checks compared
    /// the lists with themselves: an id listed twice, another account's number in a list (shown to that account, its
    /// fee in its monthly cost) or a list kept under no account passed `numberd verify` and every start.
    @Test("a number list with an id twice, another account's number, or under no account is reported after a reload")
    func numberLists() throws {
        let at = Date.utc("2025-01-20T00:00:00Z")
        #expect(try Self.reloaded(Self.sound()).checkInvariants() == [])

        var twice = Self.sound()
        twice.accountNumbers["ACC_1"]!.append("NUM_1")
        #expect(
            try Self.reloaded(twice).checkInvariants().map(\.description) == [
                "number-list: ACC_1 lists NUM_1 more than once",
                "number-list: ACC_1's list has 2 entries for its 1 numbers",
            ])

        var foreign = Self.sound()
        foreign.apply(.accountCreated(Account(id: "ACC_2", name: "B", currency: "USD", createdAt: at)))
        foreign.accountNumbers["ACC_2"] = ["NUM_1"]
        let reloadedForeign = try Self.reloaded(foreign)
        #expect(reloadedForeign.held.totals(of: "ACC_2").monthlyCost(nil) == 133, "the damage the check is for")
        #expect(
            reloadedForeign.checkInvariants().map(\.description) == [
                "number-list: ACC_2 lists NUM_1, a number of ACC_1",
                "number-list: ACC_2's list has 1 entries for its 0 numbers",
            ])

        var unknown = Self.sound()
        unknown.accountNumbers["ACC_9"] = ["NUM_9"]
        #expect(
            try Self.reloaded(unknown).checkInvariants().map(\.description) == [
                "number-list-account: a list of 1 numbers is kept under ACC_9, no account",
                "number-list: ACC_9 lists NUM_9, no number",
                "number-list: ACC_9's list has 1 entries for its 0 numbers",
            ])
    }

    /// Nothing compared a transaction's account with the ledger it is kept in, nor saw a ledger kept under no account
    /// (the balance check reads only the accounts' own ledgers).
    @Test("a transaction in another account's ledger, or a ledger under no account, is reported after a reload")
    func ledgerKeys() throws {
        let at = Date.utc("2025-01-20T00:00:00Z")
        var misfiled = Self.sound()
        misfiled.apply(.accountCreated(Account(id: "ACC_2", name: "B", currency: "USD", createdAt: at)))
        misfiled.forcePost(
            LedgerTransaction(
                id: "TXN_3", accountId: "ACC_1", kind: .fundsAdded, amount: 5, balanceAfter: 372, currency: "USD",
                numberId: nil, description: "f", createdAt: at, idempotencyKey: nil))
        misfiled.transactions["ACC_1"]![2].accountId = "ACC_2"
        #expect(
            try Self.reloaded(misfiled).checkInvariants().map(\.description) == [
                "transaction-account: TXN_3 of ACC_2 is in ACC_1's ledger"
            ])

        var orphan = Self.sound()
        orphan.transactions["ACC_9"] = [
            LedgerTransaction(
                id: "TXN_9", accountId: "ACC_9", kind: .fundsAdded, amount: 5, balanceAfter: 5, currency: "USD",
                numberId: nil, description: "f", createdAt: at, idempotencyKey: nil)
        ]
        #expect(
            try Self.reloaded(orphan).checkInvariants().map(\.description) == [
                "ledger-account: a ledger of 1 transactions is kept under ACC_9, no account"
            ])
    }

    /// `-charge` trapped for a setup fee of `Int64.min` (and `-fee` for a monthly fee of it): a damaged record crashed
    /// `numberd verify` and every start instead of being named. The checker's sums report overflow, not trap.
    @Test("a fee of Int64.min is reported, not a trap")
    func extremeFees() {
        var setup = Self.sound()
        setup.numbers["NUM_1"]!.setupFee = .min
        setup.numbers["NUM_1"]!.monthlyFee = 0
        #expect(setup.checkInvariants().map(\.rule).contains("number-debit"))

        var monthly = Self.sound()
        monthly.numbers["NUM_1"]!.setupFee = 0
        monthly.numbers["NUM_1"]!.monthlyFee = .min
        monthly.forcePost(
            LedgerTransaction(
                id: "TXN_3", accountId: "ACC_1", kind: .renewal, amount: -5, balanceAfter: 362, currency: "USD",
                numberId: "NUM_1", description: "r", createdAt: Date.utc("2025-02-15T10:30:00Z"),
                idempotencyKey: nil))
        let rules = monthly.checkInvariants().map(\.rule)
        #expect(rules.contains("number-debit") && rules.contains("renewal-fee"), "\(rules)")
    }

    /// Before SIDs were checked and kept in lower case, a trunk could be registered as any letters and digits, or with
    /// upper-case hex digits. Neither breaks the state: the SID index is keyed by the lower-cased form, and a SID not
    /// of Twilio's form is a warning of `numberd verify`, not a failure (refusing the store would be an outage).
    @Test("an old trunk SID in upper case is indexed in lower case; one not of Twilio's form is a warning only")
    func oldTrunkSids() {
        var state = Self.sound()
        let now = Date.utc("2025-01-15T10:30:00Z")
        let upper = "TK" + String(repeating: "ABCDEF01", count: 4)
        state.apply(
            .trunkCreated(
                Trunk(id: "TRK_1", accountId: "ACC_1", name: "old", providerTrunkSid: upper, createdAt: now)))
        state.apply(
            .trunkCreated(
                Trunk(id: "TRK_2", accountId: "ACC_1", name: "typo", providerTrunkSid: "TKpbx1", createdAt: now)))
        #expect(state.providerTrunks["TK" + String(repeating: "abcdef01", count: 4)] == ["TRK_1"])
        #expect(state.providerTrunks["TKpbx1"] == ["TRK_2"])
        #expect(state.checkInvariants() == [])
        #expect(
            state.checkWarnings().map(\.description) == [
                "trunk-sid-form: TRK_2 has provider trunk SID TKpbx1, not TK and 32 hex digits"
            ])
        #expect(Self.sound().checkWarnings() == [])
        state.apply(.trunkDeleted(trunkId: "TRK_1"))
        #expect(state.providerTrunks[Trunk.sidKey(upper)] == nil && state.checkInvariants() == [])
    }
}

extension CoreState {
    /// Appends `transaction` to its account's ledger and sets the balance to its balance after, with no check at all:
    /// how a test makes a ledger that no event could (the apply path refuses one), for the checker to find.
    mutating func forcePost(_ transaction: LedgerTransaction) {
        transactions[transaction.accountId, default: []].append(transaction)
        accounts[transaction.accountId]?.balance = transaction.balanceAfter
        transactionAccounts[transaction.id] = TransactionLocation(
            accountId: transaction.accountId, index: transactions[transaction.accountId]!.count - 1)
    }
}
