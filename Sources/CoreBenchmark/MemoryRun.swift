import Foundation
import NumberCore

/// Memory per owned number: a `CoreState` with `count` owned numbers built in memory by applying the events a
/// purchase journals (intent opened, purchase committed with the number and its ledger debit), 100 per account;
/// then the snapshot's size, write time and reload time.
struct MemoryRun {
    struct Result {
        var numbers: Int
        var accounts: Int
        var buildSeconds: Double
        var buildCPUSeconds: Double
        var residentBefore: Int
        var residentAfter: Int
        var snapshotBytes: Int
        var snapshotSeconds: Double
        var snapshotCPUSeconds: Double
        /// Peak resident growth while the snapshot was encoded, written and read back (-1 if unmeasured).
        var snapshotPeakGrowth = -1
        var reloadSeconds: Double
        var reloadCPUSeconds: Double
        var reloadResidentGrowth: Int
        /// Live heap growth from before the reload to the reloaded store's state.
        var reloadHeapGrowth = 0
        /// Live heap growth from before the reload to a service serving the reloaded state after its first writes.
        var serviceHeapGrowth = 0
        /// Billing runs over the reloaded state (each decides under the decision lock): with nothing due, with one
        /// idempotency key expiring, with one number to renew.
        var billingIdleSeconds = 0.0
        var billingExpirySeconds = 0.0
        var billingRenewalSeconds = 0.0
        /// One run when every built number is due at once (it stops at its action limit).
        var billingBulkDueSeconds = 0.0
        /// The same, 200 runs into that catch-up (every account is out of funds: 100,000 numbers marked past due by
        /// the runs before it, in their grace period).
        var billingCatchUpSeconds = 0.0
        var snapshotError: String?
        /// `checkInvariants()` over the built state: what every numberd start now runs before it serves.
        var invariantsSeconds = 0.0

        var bytesPerNumber: Double { Double(residentAfter - residentBefore) / Double(numbers) }
    }

    static let numbersPerAccount = 100
    static let setupFee: Int64 = 100
    static let monthlyFee: Int64 = 150
    static let created = Date(timeIntervalSince1970: 1_736_937_000)
    /// When the built numbers are next due: after the billing runs below, which bill only the service's purchase.
    static let bulkDue = created.addingTimeInterval(62 * 86_400)

    static func run(directory: URL, numbers count: Int, snapshot: Bool) async throws -> Result {
        let before = Measure.residentBytes()
        let start = Measure.now()
        let cpuStart = Measure.cpuSeconds()
        let (state, accounts) = try build(count)
        let buildSeconds = Measure.now() - start
        let buildCPUSeconds = Measure.cpuSeconds() - cpuStart
        let after = Measure.residentBytes()
        guard state.phoneOwners.count == count, state.intents.isEmpty else {
            throw BenchmarkError("built \(state.phoneOwners.count) numbers of \(count)")
        }
        var result = Result(
            numbers: count, accounts: accounts, buildSeconds: buildSeconds, buildCPUSeconds: buildCPUSeconds,
            residentBefore: before, residentAfter: after, snapshotBytes: 0, snapshotSeconds: 0, snapshotCPUSeconds: 0,
            reloadSeconds: 0, reloadCPUSeconds: 0, reloadResidentGrowth: 0)
        let checkStart = Measure.now()
        let violations = state.checkInvariants()
        result.invariantsSeconds = Measure.now() - checkStart
        guard violations.isEmpty else { throw BenchmarkError("the built state breaks \(violations.prefix(3))") }
        guard snapshot else { return result }
        do {
            try await snapshotAndReload(state, directory: directory, into: &result)
        } catch {
            result.snapshotError = "\(error)"
        }
        return result
    }

    /// Builds the state event by event; returns it and the number of accounts.
    static func build(_ count: Int) throws -> (CoreState, Int) {
        let template = try intentTemplate()
        var state = CoreState()
        let accounts = (count + numbersPerAccount - 1) / numbersPerAccount
        let charge = setupFee + monthlyFee
        for accountIndex in 0..<accounts {
            let accountId = id("ACC", accountIndex)
            let funds = Int64(numbersPerAccount) * charge
            state.apply(
                .accountCreated(
                    Account(
                        id: accountId, name: "Customer \(accountIndex)", currency: "USD",
                        createdAt: created)))
            state.apply(
                .transactionPosted(
                    LedgerTransaction(
                        id: id("TXF", accountIndex), accountId: accountId, kind: .fundsAdded, amount: funds,
                        balanceAfter: funds, currency: "USD", numberId: nil, description: "Funds added",
                        createdAt: created, idempotencyKey: nil)))
            var balance = funds
            for slot in 0..<min(numbersPerAccount, count - accountIndex * numbersPerAccount) {
                let index = accountIndex * numbersPerAccount + slot
                balance -= charge
                for event in purchaseEvents(index, accountId: accountId, balanceAfter: balance, template: template) {
                    state.apply(event)
                }
            }
        }
        return (state, accounts)
    }

    /// The two events of a one-number purchase, with ids and strings shaped like the service's.
    static func purchaseEvents(
        _ index: Int, accountId: String, balanceAfter: Int64, template: PurchaseIntent
    ) -> [CoreEvent] {
        let digits = String(index % 10_000_000)
        let phone = "+1\(200 + index / 10_000_000)" + String(repeating: "0", count: 7 - digits.count) + digits
        var intent = template
        intent.id = id("PIN", index)
        intent.accountId = accountId
        intent.items[0].phoneNumber = phone
        let numberId = id("NUM", index)
        let number = OwnedNumber(
            id: numberId, accountId: accountId, phoneNumber: phone,
            friendlyName: "(\(phone.dropFirst(2).prefix(3))) "
                + "\(phone.dropFirst(5).prefix(3))-\(phone.suffix(4))", country: "US", region: "CA",
            locality: "San Francisco", postalCode: "94102", type: .local,
            capabilities: NumberCapabilities(voice: true, sms: true, mms: true), status: .active, trunkId: nil,
            setupFee: setupFee, monthlyFee: monthlyFee, currency: "USD",
            providerSid: "PN" + hex(index, width: 32),
            purchasedAt: created, billingAnchorDay: 15, cycleStart: created,
            nextBillingDate: bulkDue)
        let transaction = LedgerTransaction(
            id: id("TXN", index), accountId: accountId, kind: .purchase, amount: -(setupFee + monthlyFee),
            balanceAfter: balanceAfter, currency: "USD", numberId: numberId,
            description: "Phone number setup: \(phone)", createdAt: created, idempotencyKey: UUID().uuidString)
        return [
            .purchaseIntentOpened(intent),
            .purchaseCommitted(intentId: intent.id, numbers: [number], transactions: [transaction]),
        ]
    }

    /// `PREFIX_` + 11 characters, the service's id shape (15 bytes: stored inline in the Swift string).
    static func id(_ prefix: String, _ index: Int) -> String {
        prefix + "_" + hex(index, width: 11)
    }

    /// `value` in lower-case hex, zero-padded to `width` (String(format:) is slow on Linux).
    static func hex(_ value: Int, width: Int) -> String {
        padded(String(value, radix: 16), width: width)
    }

    /// `digits` left-padded with zeros to `width`.
    static func padded(_ digits: String, width: Int) -> String {
        String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// An open intent for one number (its memberwise initializer is internal: decoded from its JSON form).
    static func intentTemplate() throws -> PurchaseIntent {
        let json = """
            {"id":"PIN_000000000000","accountId":"ACC_000000000000","items":[{"phoneNumber":"+12000000000",\
            "setupFee":\(setupFee),"monthlyFee":\(monthlyFee)}],"country":"US","type":"local","currency":"USD",\
            "heldAmount":\(setupFee + monthlyFee),"createdAt":0,"status":"open"}
            """
        return try JSONDecoder().decode(PurchaseIntent.self, from: Data(json.utf8))
    }

    /// Writes a snapshot of `state` through the journal (one record precedes it: the snapshot must cover a durable
    /// record), then times `FileNumberStore.open` reloading it.
    static func snapshotAndReload(_ state: CoreState, directory: URL, into result: inout Result) async throws {
        var options = FileNumberStore.Options.defaults
        options.journal.logger = PurchaseRun.logger
        let opened = try FileJournal<CoreEvent, CoreState>.open(
            directory: directory, options: options.journal, initialState: CoreState(),
            apply: { state, event in try state.applyChecked(event) })
        let seq = try await opened.journal.append([
            .accountCreated(Account(id: "ACC_snapshotseq", name: "seq", currency: "USD", createdAt: created))
        ])
        let residentBeforeWrite = Measure.residentBytes()
        let peakReset = Measure.resetPeakResident()
        let start = Measure.now()
        let cpuStart = Measure.cpuSeconds()
        try await opened.journal.writeSnapshot(state, throughSeq: seq)
        result.snapshotSeconds = Measure.now() - start
        result.snapshotCPUSeconds = Measure.cpuSeconds() - cpuStart
        if peakReset { result.snapshotPeakGrowth = Measure.peakResidentBytes() - residentBeforeWrite }
        await opened.journal.close()
        result.snapshotBytes = Measure.fileBytes(in: directory, containing: "snapshot").matching
        let residentBefore = Measure.residentBytes()
        let heapBefore = Measure.heapInUse()
        let reloadStart = Measure.now()
        let reloadCPUStart = Measure.cpuSeconds()
        let store = try FileNumberStore.open(directory: directory, options: options)
        result.reloadSeconds = Measure.now() - reloadStart
        result.reloadCPUSeconds = Measure.cpuSeconds() - reloadCPUStart
        let reloaded = try await store.load()
        result.reloadResidentGrowth = Measure.residentBytes() - residentBefore
        result.reloadHeapGrowth = Measure.heapInUse() - heapBefore
        guard reloaded.phoneOwners.count == state.phoneOwners.count else {
            throw BenchmarkError("the reloaded snapshot has \(reloaded.phoneOwners.count) numbers")
        }
        // The service over it, after one credit and one purchase: every copy of the state the service keeps has
        // written to each of its tables by then, so no copy shares storage with another any more.
        // A day after the numbers were bought: none is due until `bulkDue`.
        let clock = ManualClock(created.addingTimeInterval(86_400))
        let service = try await NumberService.open(
            store: store, provider: InstantProvider(), clock: clock, logger: PurchaseRun.logger)
        let account = id("ACC", 0)
        _ = try await service.addFunds(accountId: account, amount: 10_000, idempotencyKey: "benchmark-credit")
        let bought = try await service.purchase(
            PurchaseRequest(accountId: account, phoneNumbers: ["+19995550100"], country: "US"))
        result.serviceHeapGrowth = Measure.heapInUse() - heapBefore
        try await billingRuns(service, clock: clock, firstBill: bought.numbers[0].nextBillingDate, into: &result)
        await store.close()
    }

    /// Times five billing runs over the reloaded state: nothing due; the credit's idempotency key expiring; the
    /// service's own purchase renewing (its first bill comes a month after it, before `bulkDue`); every built number
    /// due at once (a run does its action limit and says more is due); and the 200th run of that catch-up.
    static func billingRuns(
        _ service: NumberService, clock: ManualClock, firstBill: Date, into result: inout Result
    ) async throws {
        func run(at date: Date, expect check: (BillingReport) -> Bool) async throws -> Double {
            clock.set(date)
            let start = Measure.now()
            let report = try await service.runBilling()
            let seconds = Measure.now() - start
            guard check(report) else { throw BenchmarkError("unexpected billing run at \(date): \(report)") }
            return seconds
        }
        let idle = BillingReport()
        result.billingIdleSeconds = try await run(at: created.addingTimeInterval(86_400 + 60)) { $0 == idle }
        result.billingExpirySeconds = try await run(at: created.addingTimeInterval(2 * 86_400 + 60)) {
            $0.expiredKeys == 1 && $0.renewed == 0
        }
        precondition(firstBill < bulkDue, "the service's purchase must come due before the built numbers")
        result.billingRenewalSeconds = try await run(at: firstBill.addingTimeInterval(60)) { $0.renewed == 1 }
        let limit = NumberServiceConfig.defaults.billing.actionsPerRunMax
        result.billingBulkDueSeconds = try await run(at: bulkDue.addingTimeInterval(60)) {
            $0.renewed + $0.markedPastDue == limit && $0.more
        }
        for _ in 0..<198 { _ = try await service.runBilling() }
        result.billingCatchUpSeconds = try await run(at: bulkDue.addingTimeInterval(60)) {
            $0.markedPastDue == limit && $0.more
        }
    }
}
