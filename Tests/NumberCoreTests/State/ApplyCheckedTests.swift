import Foundation
import Testing

@testable import NumberCore

/// A journal record can pass its checksum and still contradict the records before it (written by a faulty build, or
/// edited by hand and re-summed). Replay used to apply it through `CoreState.apply`, whose preconditions trapped: a
/// start-up or `numberd verify` crashed with "unknown number" and no file, offset or id. Replay now goes through
/// `applyChecked`, which throws a message naming the ids, and the journal names the record, file and offset.
@Suite("Checked apply of replayed events")
struct ApplyCheckedTests {
    static let now = Date.utc("2025-01-15T10:30:00Z")

    static func transaction(
        _ id: String, account: String = "ACC_1", amount: Int64, after: Int64, number: String? = nil
    ) -> LedgerTransaction {
        LedgerTransaction(
            id: id, accountId: account, kind: amount >= 0 ? .fundsAdded : .adjustment, amount: amount,
            balanceAfter: after, currency: "USD", numberId: number, description: "x", createdAt: now,
            idempotencyKey: nil)
    }

    /// Each event does not fit `InvariantTests.sound()` (ACC_1 with 367, NUM_1 owned, TXN_1 and TXN_2 posted), with a
    /// word its message must hold.
    static let misfits: [(CoreEvent, String)] = [
        (.accountCreated(Account(id: "ACC_1", name: "B", currency: "USD", createdAt: now)), "duplicate account ACC_1"),
        (.accountStatusChanged(accountId: "ACC_9", status: .suspended), "unknown account ACC_9"),
        (.transactionPosted(transaction("TXN_3", account: "ACC_9", amount: 5, after: 5)), "unknown account ACC_9"),
        (.transactionPosted(transaction("TXN_3", amount: 5, after: 999)), "TXN_3"),
        (.transactionPosted(transaction("TXN_3", amount: -400, after: -33)), "negative"),
        (.transactionPosted(transaction("TXN_3", amount: .max, after: .max)), "TXN_3"),
        (.transactionPosted(transaction("TXN_1", amount: 5, after: 372)), "duplicate transaction TXN_1"),
        (.purchaseIntentCompensating(intentId: "PIN_9"), "unknown intent PIN_9"),
        (.purchaseIntentVoided(intentId: "PIN_1"), "unknown intent PIN_1"),
        (.purchaseCommitted(intentId: "PIN_9", numbers: [], transactions: []), "unknown intent PIN_9"),
        (.numberTrunkChanged(numberId: "NUM_9", trunkId: nil), "NUM_9"),
        (.numberTrunkChanged(numberId: "NUM_1", trunkId: "TRK_9"), "TRK_9"),
        (.numberReleaseRequested(numberId: "NUM_9", at: now, by: nil), "NUM_9"),
        (.numberReleaseCancelled(numberId: "NUM_9"), "NUM_9"),
        (.numberReleased(numberId: "NUM_9", at: now, refund: nil), "unknown number NUM_9"),
        (.numberPastDue(numberId: "NUM_9", at: now), "NUM_9"),
        (
            .numberRenewed(
                numberId: "NUM_9", transaction: transaction("TXN_3", amount: -133, after: 234, number: "NUM_9"),
                cycleStart: now, nextBillingDate: now), "NUM_9"
        ),
        (.trunkDeleted(trunkId: "TRK_9"), "unknown trunk TRK_9"),
        (.apiKeyRevoked(keyId: "KEY_9", at: now), "unknown api key KEY_9"),
        (.apiKeysPurged(keyIds: ["KEY_9"]), "KEY_9"),
        (.orphanWatchEnded(phoneNumber: "+14155550199", outcome: .claimed, at: now), "+14155550199"),
    ]

    @Test("an event that does not fit throws a message naming it, and apply's trap says the same")
    func misfitsThrow() {
        for (event, words) in Self.misfits {
            var state = InvariantTests.sound()
            do {
                try state.applyChecked(event)
                Issue.record("\(event) was applied")
            } catch {
                #expect(error.description.contains(words), "\(event): \(error.description)")
            }
        }
    }

    @Test("events that fit apply the same through both paths")
    func fittingEventsAgree() throws {
        var checked = CoreState()
        var unchecked = CoreState()
        let events: [CoreEvent] = [
            .accountCreated(Account(id: "ACC_1", name: "A", currency: "USD", createdAt: Self.now)),
            .transactionPosted(Self.transaction("TXN_1", amount: 500, after: 500)),
        ]
        try checked.applyChecked(events)
        unchecked.apply(events)
        #expect(checked == unchecked)
        #expect(checked.checkInvariants() == [])
    }

    /// A renewal is the due cycle's fee, once: a duplicate record, one of another amount or kind, or one for a cycle not
    /// due passed replay and `numberd verify` (only the number's existence was checked), the balance chain intact.
    @Test("a renewal that is not the number's due cycle's fee throws; the right one applies, once")
    func renewalsAreChecked() throws {
        let due = InvariantTests.sound().numbers["NUM_1"]!.nextBillingDate
        let next = BillingCalendar.nextBillingDate(after: due, anchorDay: 15)
        func renewal(
            _ id: String, amount: Int64 = -133, after: Int64 = 234, kind: LedgerTransaction.Kind = .renewal,
            number: String? = "NUM_1", cycleStart: Date? = nil
        ) -> CoreEvent {
            var transaction = Self.transaction(id, amount: amount, after: after, number: number)
            transaction.kind = kind
            return .numberRenewed(
                numberId: "NUM_1", transaction: transaction, cycleStart: cycleStart ?? due, nextBillingDate: next)
        }
        let wrong: [(CoreEvent, String)] = [
            (renewal("TXN_3", amount: -100, after: 267), "fee 133"),
            (renewal("TXN_3", kind: .purchase), "purchase"),
            (renewal("TXN_3", number: nil), "TXN_3"),
            (renewal("TXN_3", cycleStart: due.addingTimeInterval(86_400)), "TXN_3"),
        ]
        for (event, words) in wrong {
            var state = InvariantTests.sound()
            let error = #expect(throws: CoreStateInconsistency.self, "\(event)") { try state.applyChecked(event) }
            #expect(error?.description.contains(words) == true, "\(String(describing: error))")
        }
        var state = InvariantTests.sound()
        try state.applyChecked(renewal("TXN_3"))
        #expect(state.numbers["NUM_1"]?.nextBillingDate == next && state.checkInvariants() == [])
        let again = #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked(renewal("TXN_4", after: 101))
        }
        #expect(again?.description.contains("TXN_4") == true, "the same cycle twice")
    }

    /// A purchase, renewal or refund posted on its own passed every check (a duplicate renewal charge among them):
    /// only funds added and adjustments, of no number, are posted without an event of their own.
    @Test("a transaction posted on its own is funds added or an adjustment, of no number")
    func postedOnItsOwn() throws {
        for (kind, amount, number) in [
            (LedgerTransaction.Kind.renewal, Int64(-133), Optional("NUM_1")), (.purchase, -133, "NUM_1"),
            (.refund, 5, "NUM_1"), (.fundsAdded, 5, "NUM_1"),
        ] {
            var state = InvariantTests.sound()
            var transaction = Self.transaction("TXN_3", amount: amount, after: 367 + amount, number: number)
            transaction.kind = kind
            #expect(throws: CoreStateInconsistency.self, "\(kind)") {
                try state.applyChecked(.transactionPosted(transaction))
            }
        }
        var state = InvariantTests.sound()
        var adjustment = Self.transaction("TXN_3", amount: -7, after: 360)
        adjustment.kind = .adjustment
        try state.applyChecked(.transactionPosted(adjustment))
        #expect(state.checkInvariants() == [])
    }

    /// `held += heldAmount` trapped on a hold past `Int64.max`: a damaged record crashed replay and `numberd verify`
    /// instead of being named.
    @Test("an intent whose hold overflows the account's holds throws instead of trapping")
    func holdOverflow() throws {
        func intent(_ id: String, _ phoneNumber: String, holding amount: Int64) -> PurchaseIntent {
            let item = PurchaseIntent.Item(phoneNumber: phoneNumber, setupFee: 0, monthlyFee: amount, listing: nil)
            return PurchaseIntent(
                id: id, accountId: "ACC_1", items: [item], country: "US", type: .local, trunkId: nil, currency: "USD",
                heldAmount: amount, idempotencyKey: nil, createdAt: Self.now, status: .open)
        }
        var state = InvariantTests.sound()
        try state.applyChecked(.purchaseIntentOpened(intent("PIN_2", "+14155550102", holding: 1)))
        #expect(state.accounts["ACC_1"]?.held == 1)
        let error = #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked(.purchaseIntentOpened(intent("PIN_3", "+14155550103", holding: .max)))
        }
        #expect(error?.description.contains("PIN_3") == true, "\(String(describing: error))")
    }

    @Test("a second release of a number throws")
    func releasedTwice() throws {
        var state = InvariantTests.sound()
        try state.applyChecked(.numberReleased(numberId: "NUM_1", at: Self.now, refund: nil))
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked(.numberReleased(numberId: "NUM_1", at: Self.now, refund: nil))
        }
        #expect(throws: CoreStateInconsistency.self) {
            try state.applyChecked(.numberTrunkChanged(numberId: "NUM_1", trunkId: nil))
        }
    }

    /// A data directory whose journal holds a checksum-valid record that releases a number nobody owns: opening it
    /// (what numberd's start does) and verifying it report the record instead of trapping.
    @Test("a checksum-valid record that does not fit refuses the open and verify, naming file, offset and ids")
    func inconsistentRecordInAJournal() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apply-checked-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let opened = try FileJournal<CoreEvent, CoreState>.open(
            directory: directory, options: .defaults, initialState: CoreState(),
            apply: { state, event in try state.applyChecked(event) })
        _ = try await opened.journal.append([
            .accountCreated(Account(id: "ACC_1", name: "A", currency: "USD", createdAt: Self.now))
        ])
        _ = try await opened.journal.append([.numberReleased(numberId: "NUM_404", at: Self.now, refund: nil)])
        await opened.journal.close()

        let error = #expect(throws: JournalError.self) { _ = try FileNumberStore.open(directory: directory) }
        #expect(error?.code == .replayFailed)
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("record 2"), "\(text)")
        #expect(text.contains("NUM_404"), "\(text)")
        #expect(text.contains("journal-0") && text.contains("byte offset"), "\(text)")

        let report = await verifyDataDirectory(directory)
        #expect(!report.isSound)
        #expect(report.replayError?.contains("NUM_404") == true, "\(String(describing: report.replayError))")
    }

    /// A snapshot passes its checksum with an open intent whose account it does not hold (a faulty build's, or one
    /// edited by hand and re-summed): closing the intent, by a void or a commit, force-unwrapped the account and
    /// trapped replay and `numberd verify` instead of naming the intent.
    @Test("closing an intent whose account is missing throws, naming the intent and the account")
    func intentOfMissingAccount() {
        let item = PurchaseIntent.Item(phoneNumber: "+14155550102", setupFee: 0, monthlyFee: 133, listing: nil)
        let intent = PurchaseIntent(
            id: "PIN_2", accountId: "ACC_9", items: [item], country: "US", type: .local, trunkId: nil, currency: "USD",
            heldAmount: 133, idempotencyKey: nil, createdAt: Self.now, status: .open)
        let closings: [CoreEvent] = [
            .purchaseIntentVoided(intentId: "PIN_2"),
            .purchaseCommitted(intentId: "PIN_2", numbers: [], transactions: []),
        ]
        for event in closings {
            var state = InvariantTests.sound()
            state.intents["PIN_2"] = intent
            let error = #expect(throws: CoreStateInconsistency.self, "\(event)") { try state.applyChecked([event]) }
            let text = error?.description ?? ""
            #expect(text.contains("PIN_2") && text.contains("ACC_9"), "\(text)")
        }
    }

    /// A trunk of `accountId` whose provider SID is `TK` and 32 times `digit`.
    static func trunk(_ id: String, of accountId: String, digit: String) -> Trunk {
        Trunk(
            id: id, accountId: accountId, name: id, providerTrunkSid: "TK" + String(repeating: digit, count: 32),
            createdAt: now)
    }

    /// An open intent of ACC_1 buying +14155550102, with `trunkId`.
    static func intent(trunkId: String?) -> PurchaseIntent {
        let item = PurchaseIntent.Item(phoneNumber: "+14155550102", setupFee: 0, monthlyFee: 133, listing: nil)
        return PurchaseIntent(
            id: "PIN_2", accountId: "ACC_1", items: [item], country: "US", type: .local, trunkId: trunkId,
            currency: "USD", heldAmount: 133, idempotencyKey: nil, createdAt: now, status: .open)
    }

    /// `InvariantTests.sound()` with ACC_2 and a trunk of each account: TRK_1 of ACC_1, TRK_2 of ACC_2.
    static func soundWithTrunks() throws -> CoreState {
        var state = InvariantTests.sound()
        try state.applyChecked([
            .accountCreated(Account(id: "ACC_2", name: "B", currency: "USD", createdAt: now)),
            .trunkCreated(trunk("TRK_1", of: "ACC_1", digit: "0")),
            .trunkCreated(trunk("TRK_2", of: "ACC_2", digit: "1")),
        ])
        return state
    }

    /// The commit of `intent`: its number, routed to `trunkId`, and its debit.
    static func commit(_ intent: PurchaseIntent, trunkId: String?) -> CoreEvent {
        let item = intent.items[0]
        let provisioned = ProvisionedNumber(
            sid: "PN2", phoneNumber: item.phoneNumber, friendlyName: "x", capabilities: NumberCapabilities(voice: true),
            dateCreated: now)
        let number = OwnedNumber.purchased(
            id: "NUM_2", intent: intent, item: item, provisioned: provisioned, trunkId: trunkId, at: now, textMax: 64)
        let debit = LedgerTransaction(
            id: "TXN_3", accountId: "ACC_1", kind: .purchase, amount: -133, balanceAfter: 234, currency: "USD",
            numberId: "NUM_2", description: "Phone number setup: \(item.phoneNumber)", createdAt: now,
            idempotencyKey: nil)
        return .purchaseCommitted(intentId: intent.id, numbers: [number], transactions: [debit])
    }

    /// A purchase intent's trunk was checked neither when it opened or committed nor by the invariants: a record
    /// routing the numbers bought to another account's trunk, or to one that does not exist, replayed as sound (a
    /// trunk change of the number, `numberTrunkChanged`, was refused).
    @Test("an intent or a commit naming a trunk unknown or of another account throws; the buyer's trunk commits")
    func purchaseTrunkIsTheBuyers() throws {
        for trunkId in ["TRK_2", "TRK_9"] {
            var opening = try Self.soundWithTrunks()
            let refused = #expect(throws: CoreStateInconsistency.self, "\(trunkId)") {
                try opening.applyChecked([.purchaseIntentOpened(Self.intent(trunkId: trunkId))])
            }
            #expect(refused?.description.contains(trunkId) == true, "\(String(describing: refused))")
            var committing = try Self.soundWithTrunks()
            let intent = Self.intent(trunkId: "TRK_1")
            try committing.applyChecked([.purchaseIntentOpened(intent)])
            let error = #expect(throws: CoreStateInconsistency.self, "\(trunkId)") {
                try committing.applyChecked([Self.commit(intent, trunkId: trunkId)])
            }
            #expect(error?.description.contains(trunkId) == true, "\(String(describing: error))")
        }
        var state = try Self.soundWithTrunks()
        let intent = Self.intent(trunkId: "TRK_1")
        try state.applyChecked([.purchaseIntentOpened(intent), Self.commit(intent, trunkId: "TRK_1")])
        #expect(state.numbers["NUM_2"]?.trunkId == "TRK_1")
        #expect(state.checkInvariants() == [])
    }

    /// What a snapshot may hold, though no event leads to it: an open intent naming a trunk that does not exist or is
    /// another account's. The checker did not look at an intent's trunk.
    @Test("an open intent naming a trunk unknown or of another account breaks the invariants")
    func intentTrunkChecked() throws {
        var state = try Self.soundWithTrunks()
        try state.applyChecked([.purchaseIntentOpened(Self.intent(trunkId: "TRK_1"))])
        #expect(state.checkInvariants() == [])
        for trunkId in ["TRK_2", "TRK_9"] {
            var changed = state
            changed.intents["PIN_2"]?.trunkId = trunkId
            #expect(
                changed.checkInvariants().map(\.description) == [
                    "intent-trunk: PIN_2 names trunk \(trunkId), unknown or not of ACC_1"
                ])
        }
    }
}
