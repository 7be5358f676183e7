import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import NumberCore

/// A store whose disk is full: a write that finds no room (`ENOSPC` half-way through the journal's write) is refused
/// with `RESOURCE_EXHAUSTED` / `STORE_FULL` and changes nothing, reads go on, writes resume by themselves once there is
/// room — no fail-stop, no restart. A write that records what the provider already did (a purchase bought, a number
/// released, a trunk changed) is an unknown outcome instead, which reconciliation or the caller's retry settles.
@Suite("a store with no room refuses writes and goes on")
struct StoreFullTests {
    /// A service over a file store whose journal writes can be made to find no room.
    final class Disk: Sendable {
        let fileSystem = FaultInjectingFileSystem()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-full-\(UUID())")
        let provider = FakeProvider()
        let clock = ManualClock(Harness.start)
        let fatal = FatalRecorder()
        let config: NumberServiceConfig
        let store: FileNumberStore
        let service: NumberService

        init(retryMilliseconds: Int = 0, retryMaxMilliseconds: Int? = nil) async throws {
            var config = NumberServiceConfig.defaults
            config.commits.noRoomRetryMilliseconds = retryMilliseconds
            config.commits.noRoomRetryMaxMilliseconds = retryMaxMilliseconds ?? max(retryMilliseconds, 30_000)
            self.config = config
            let journal = fatal.options(fileSystem: fileSystem)
            store = try FileNumberStore.open(
                directory: directory, options: FileNumberStore.Options(journal: journal, snapshotEveryRecords: 10_000))
            service = try await NumberService.open(
                store: store, provider: provider, clock: clock, config: config,
                logger: Logger(label: "full", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        /// From now on (or from the `occurrence`-th journal write on), every journal write puts part of its bytes in
        /// the file and then finds no room.
        func fill(occurrence: Int = 1, repeats: Bool = true) {
            fileSystem.addRule(
                .init(
                    .write, pathContains: "journal-", occurrence: occurrence, repeats: repeats,
                    action: .partialWriteThenFail(bytes: 40, errno: ENOSPC)))
        }

        func makeRoom() { fileSystem.removeAllRules() }

        /// A USD account with 10 000 minor units.
        func fundedAccount(_ name: String) async throws -> Account {
            let account = try await service.createAccount(name: name, currency: "USD")
            _ = try await service.addFunds(accountId: account.id, amount: 10_000)
            return account
        }

        /// The checks every test ends with: no fail-stop, sound states, the claims of calls handed back, and a
        /// restart that recovers exactly what the service acknowledged (nothing of a refused write).
        func check(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            #expect(fatal.recorded.isEmpty, "no room is not a fail-stop", sourceLocation: sourceLocation)
            #expect(service.storeFailure == nil, sourceLocation: sourceLocation)
            let durable = service.durableState()
            #expect(durable.checkInvariants() == [], sourceLocation: sourceLocation)
            let decided = service.decisionState()
            #expect(decided.work.kept && decided.checkInvariants() == [], sourceLocation: sourceLocation)
            #expect(
                decided.keepingWorkIndexes(false) == durable, "nothing decided is left pending",
                sourceLocation: sourceLocation)
            let local = service.local.withLock { $0 }
            #expect(local.liveIntents.isEmpty && local.liveReleases.isEmpty, sourceLocation: sourceLocation)
            #expect(local.withdrawableReleases.isEmpty && local.routing.isEmpty, sourceLocation: sourceLocation)
            await store.close()
            let reopened = try FileNumberStore.open(
                directory: directory,
                options: FileNumberStore.Options(journal: JournalOptions(fatal: { _ in }), snapshotEveryRecords: 10_000)
            )
            let recovered = try await reopened.load()
            #expect(
                recovered == durable.keepingWorkIndexes(true), "the restart recovers what was acknowledged",
                sourceLocation: sourceLocation)
            #expect(reopened.recovery.tornFiles.isEmpty, sourceLocation: sourceLocation)
            await reopened.close()
        }
    }

    @Test("a write with no room changes nothing; reads go on; writes resume once there is room")
    func refusedThenResumed() async throws {
        let disk = try await Disk()
        let account = try await disk.service.createAccount(name: "Full", currency: "USD")
        _ = try await disk.service.addFunds(accountId: account.id, amount: 1_000, idempotencyKey: "first")
        disk.fill()
        let writes = disk.fileSystem.count(.write)
        let refused = await numberError {
            _ = try await disk.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "second")
        }
        #expect(refused?.code == .resourceExhausted && refused?.reason == .storeFull, "\(String(describing: refused))")
        #expect(disk.fileSystem.count(.write) == writes + 1)
        #expect(disk.store.noRoomSince != nil, "what numberd_store_no_room_since_timestamp_seconds shows")
        #expect(try disk.service.balance(accountId: account.id).balance == 1_000)
        #expect(disk.service.decisionState().accounts[account.id]?.balance == 1_000)
        #expect(try disk.service.listTransactions(accountId: account.id).transactions.count == 1)

        // Room again (no pause here): the same request, under the same key, is carried out.
        disk.makeRoom()
        let credit = try await disk.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "second")
        #expect(credit.balanceAfter == 1_500)
        #expect(try disk.service.balance(accountId: account.id).balance == 1_500)
        #expect(disk.store.noRoomSince == nil)
        try await disk.check()
    }

    @Test("after a write with no room, writes are refused at once for the pause; decisions that write nothing go on")
    func writesPause() async throws {
        let disk = try await Disk(retryMilliseconds: 60_000)
        let account = try await disk.service.createAccount(name: "Paused", currency: "USD")
        disk.provider.stock(["+15550100009"])
        disk.fill()
        let refused = await numberError {
            _ = try await disk.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "first")
        }
        #expect(refused?.reason == .storeFull)
        // Room again, but within the pause: refused at once, without a write.
        disk.makeRoom()
        let writes = disk.fileSystem.count(.write)
        let paused = await numberError {
            _ = try await disk.service.addFunds(accountId: account.id, amount: 500, idempotencyKey: "first")
        }
        #expect(paused?.reason == .storeFull)
        #expect(disk.fileSystem.count(.write) == writes, "the pause does not touch the disk")
        // A decision that writes nothing still runs to its own answer (the purchase's hold finds no balance).
        let unfunded = await numberError {
            _ = try await disk.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: ["+15550100009"], country: "US"))
        }
        #expect(unfunded?.reason == .insufficientBalance, "\(String(describing: unfunded))")
        #expect(try disk.service.balance(accountId: account.id).balance == 0)
        try await disk.check()
    }

    @Test(
        "decisions queued behind the refused write are refused with it; the decision state goes back to the durable one"
    )
    func queuedDecisionsAreRefusedWithIt() async throws {
        let disk = try await Disk()
        let account = try await disk.service.createAccount(name: "Queue", currency: "USD")
        _ = try await disk.service.addFunds(accountId: account.id, amount: 100)
        // The next journal write is slow, then finds no room: the credits decided meanwhile queue behind it.
        disk.fileSystem.addRule(.init(.write, pathContains: "journal-", action: .delay(milliseconds: 150)))
        disk.fill(repeats: false)
        let outcomes = await withTaskGroup(of: Result<Int64, NumberError>.self) { group in
            for index in 0..<10 {
                group.addTask {
                    do throws(NumberError) {
                        let credit = try await disk.service.addFunds(
                            accountId: account.id, amount: 10, idempotencyKey: "credit-\(index)")
                        return .success(credit.amount)
                    } catch {
                        return .failure(error)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var credited: Int64 = 0
        var refused = 0
        for outcome in outcomes {
            switch outcome {
            case .success(let amount): credited += amount
            case .failure(let error):
                #expect(error.reason == .storeFull)
                refused += 1
            }
        }
        #expect(refused >= 2, "the refused write's decision and those queued behind it")
        #expect(try disk.service.balance(accountId: account.id).balance == 100 + credited)
        // The state decisions see is the durable one again: a credit now lands on it.
        let next = try await disk.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "after")
        #expect(next.balanceAfter == 100 + credited + 1)
        try await disk.check()
    }

    @Test("a purchase whose hold finds no room buys nothing and can be made again")
    func purchaseHoldRefused() async throws {
        let disk = try await Disk()
        let account = try await disk.fundedAccount("Buyer")
        disk.provider.stock(["+15550100001"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+15550100001"], country: "US", idempotencyKey: "buy-1")
        disk.fill()
        let refused = await numberError { _ = try await disk.service.purchase(request) }
        #expect(refused?.reason == .storeFull)
        #expect(disk.provider.calls(.buy) == 0, "nothing is bought without a durable hold")
        #expect(disk.service.durableState().intents.isEmpty)
        disk.makeRoom()
        let bought = try await disk.service.purchase(request)
        #expect(bought.numbers.map(\.phoneNumber) == ["+15550100001"])
        try await disk.check()
    }

    @Test("a purchase bought but not recorded is an unknown outcome that reconciliation commits, charged once")
    func purchaseCommitRefused() async throws {
        let disk = try await Disk()
        let account = try await disk.fundedAccount("Buyer")
        disk.provider.stock(["+15550100002"])
        let request = PurchaseRequest(
            accountId: account.id, phoneNumbers: ["+15550100002"], country: "US", idempotencyKey: "buy-2")
        // The hold is written; the commit after the buy finds no room.
        disk.fill(occurrence: 2)
        let unknown = await numberError { _ = try await disk.service.purchase(request) }
        #expect(unknown?.code == .unavailable && unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
        #expect(unknown?.details["intentId"] != nil)
        #expect(disk.provider.owned("+15550100002") != nil, "bought at the provider")
        let held = try disk.service.balance(accountId: account.id)
        #expect(held.balance == 10_000 && held.available < 10_000, "the hold stands until the purchase is settled")
        #expect(disk.service.durableState().intents.count == 1)

        disk.makeRoom()
        let report = await disk.service.reconcile()
        #expect(report.committed.count == 1, "\(report)")
        let replay = try await disk.service.purchase(request)
        #expect(replay.replayed && replay.numbers.map(\.phoneNumber) == ["+15550100002"])
        // Charged once, the price the search would have shown: a US local number, $1.15 at cost + 15 %, no setup fee.
        let ledger = disk.service.durableState().transactions[account.id, default: []]
        #expect(ledger.filter { $0.kind == .purchase }.map(\.amount) == [-133])
        #expect(replay.transactions.map(\.amount) == [-133])
        let charged = try disk.service.balance(accountId: account.id)
        #expect(charged.balance == 10_000 - 133)
        #expect(charged.available == charged.balance)
        #expect(disk.provider.buyCount("+15550100002") == 1)
        try await disk.check()
    }

    @Test("a release refused before the provider leaves the number as it was; one not recorded after it is reconciled")
    func releaseRefused() async throws {
        let disk = try await Disk()
        let account = try await disk.fundedAccount("Owner")
        disk.provider.stock(["+15550100003"])
        let number = try await disk.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+15550100003"], country: "US")
        ).numbers[0]
        disk.clock.advance(by: 86_400 * 3)

        // The request finds no room: nothing is released, nothing claimed stays behind.
        disk.fill()
        let refused = await numberError {
            _ = try await disk.service.release(accountId: account.id, numberId: number.id)
        }
        #expect(refused?.reason == .storeFull)
        #expect(disk.provider.calls(.release) == 0)
        #expect(disk.service.durableState().numbers[number.id]?.releaseRequestedAt == nil)
        #expect(disk.service.local.withLock { $0.liveReleases.isEmpty && $0.withdrawableReleases.isEmpty })

        // The request is written, the release at the provider done, its record finds no room.
        disk.makeRoom()
        disk.fill(occurrence: 2)
        let unknown = await numberError {
            _ = try await disk.service.release(accountId: account.id, numberId: number.id)
        }
        #expect(unknown?.code == .unavailable && unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
        #expect(disk.provider.owned("+15550100003") == nil, "released at the provider")
        #expect(disk.service.durableState().numbers[number.id]?.listingStatus == .releasing)

        disk.makeRoom()
        let balanceBefore = try disk.service.balance(accountId: account.id).balance
        let report = await disk.service.reconcile()
        #expect(report.releasesCompleted == [number.id], "\(report)")
        let refunds = try disk.service.listTransactions(accountId: account.id).transactions.filter {
            $0.kind == .refund
        }
        #expect(refunds.count == 1 && refunds[0].amount > 0)
        #expect(try disk.service.balance(accountId: account.id).balance == balanceBefore + refunds[0].amount)
        try await disk.check()
    }

    @Test("a trunk change made at the provider and not recorded is an unknown outcome; the number is free to retry")
    func trunkChangeRefused() async throws {
        let disk = try await Disk()
        let account = try await disk.fundedAccount("Router")
        let trunk = try await disk.service.createTrunk(
            accountId: account.id, name: "Main", providerTrunkSid: trunkSid(1))
        disk.provider.stock(["+15550100004"])
        let number = try await disk.service.purchase(
            PurchaseRequest(accountId: account.id, phoneNumbers: ["+15550100004"], country: "US")
        ).numbers[0]
        // A change decided while another write is pending waits for it; that write finds no room, so the change is
        // refused before the provider is asked, and its claim on the number is handed back.
        disk.fill(repeats: false)
        let writes = disk.fileSystem.count(.write)
        disk.fileSystem.pause(.write)
        let pending = Task { try await disk.service.addFunds(accountId: account.id, amount: 1) }
        try await waitUntil { disk.fileSystem.count(.write) != writes }
        let change = Task { () async -> NumberError? in
            await numberError {
                _ = try await disk.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunk.id)
            }
        }
        // Its checks (a decision that writes nothing) wait for the pending write, which then finds no room.
        try await waitUntil { disk.service.coordinator.waiterCount >= 2 }
        disk.fileSystem.resume(.write)
        let waited = await change.value
        #expect(waited?.reason == .storeFull, "\(String(describing: waited))")
        let pendingError = await numberError { _ = try await pending.value }
        #expect(pendingError?.reason == .storeFull, "it found no room: \(String(describing: pendingError))")
        #expect(disk.provider.calls(.setTrunk) == 0)
        #expect(disk.service.local.withLock { $0.routing.isEmpty }, "the claim is handed back")

        disk.makeRoom()
        // With no room from the start, the change's request is refused before anything is sent.
        disk.fill()
        let full = await numberError {
            _ = try await disk.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunk.id)
        }
        #expect(full?.reason == .storeFull && disk.provider.calls(.setTrunk) == 0, "\(String(describing: full))")
        #expect(disk.service.local.withLock { $0.routing.isEmpty }, "the claim is handed back")
        // Room for its request (recorded before it is sent), none for its outcome's record.
        disk.makeRoom()
        disk.fill(occurrence: 2)
        let unknown = await numberError {
            _ = try await disk.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunk.id)
        }
        #expect(unknown?.code == .unavailable && unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
        #expect(disk.service.durableState().numbers[number.id]?.trunkId == nil)
        #expect(disk.service.durableState().numbers[number.id]?.routeRequest?.trunkId == trunk.id, "left open")
        #expect(disk.service.local.withLock { $0.routing.isEmpty }, "the claim is handed back")
        // Until a change of it is recorded, the trunk it asked for is held (it cannot be deleted under the number).
        #expect(
            disk.service.local.withLock {
                $0.unsettledRoutes.entries == [number.id: UnsettledRoutes.Entry(untilSettled: [trunk.id])]
            })
        disk.makeRoom()
        let routed = try await disk.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunk.id)
        #expect(routed.number.trunkId == trunk.id)
        #expect(disk.service.local.withLock { $0.unsettledRoutes.entries.isEmpty })
        #expect(disk.provider.owned("+15550100004")?.trunkSid == trunkSid(1))
        try await disk.check()
    }

    @Test("a billing run whose last record (expired keys) finds no room still reports the renewals it recorded")
    func billingKeysRefused() async throws {
        let h = try await Self.unpaused()
        let account = try await h.account(funds: 100_000)
        _ = try await h.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "expires")
        _ = try await h.buy(["+15550100010"], for: account.id)
        h.clock.advance(by: 86_400 * 40)
        h.memoryStore.refuseForRoom(after: 1)
        let report = try await h.service.runBilling()
        #expect(report.renewed == 1, "\(report)")
        #expect(report.expiredKeys == 0)
        let later = try await h.service.runBilling()
        #expect(later.expiredKeys == 1, "the next run drops them: \(later)")
        try await h.check()
    }

    /// A memory harness whose writes resume at once after a refusal (``Harness/init``'s `providerDatesByClock`).
    static func unpaused(providerDatesByClock: Bool = false) async throws -> Harness {
        var config = NumberServiceConfig.defaults
        config.commits.noRoomRetryMilliseconds = 0
        return try await Harness(.memory, config: config, providerDatesByClock: providerDatesByClock)
    }

    /// A review: a release reconciliation carried out at Twilio whose record found no room was counted as the
    /// provider's silence, so every pass during a full disk was an "incomplete" run blaming Twilio.
    @Test("a release done at the provider whose record finds no room is not counted as the provider's failure")
    func unrecordedReleaseIsNotAProviderFailure() async throws {
        let h = try await Self.unpaused()
        let account = try await h.account(funds: 10_000)
        let number = try await h.buy(["+15550100031"], for: account.id).numbers[0]
        h.provider.inject(.timeOut, on: .release)
        _ = await numberError { _ = try await h.service.release(accountId: account.id, numberId: number.id) }
        #expect(h.service.durableState().numbers[number.id]?.releaseRequestedAt != nil, "pending")
        h.memoryStore.refuseForRoom()
        let report = await h.service.reconcile()
        #expect(report.unresolved == [number.id], "\(report)")
        #expect(report.providerFailures == 0, "Twilio answered; the store had no room: \(report)")
        let recorded = await h.service.reconcile()
        #expect(recorded.releasesCompleted == [number.id], "\(recorded)")
        try await h.check()
    }

    @Test("a compensation whose mark finds no room leaves the items to reconciliation and releases a substitute")
    func compensationMarkRefused() async throws {
        let h = try await Self.unpaused(providerDatesByClock: true)
        let account = try await h.account(funds: 10_000)
        // The second number's buy fails outright: the first, bought, must be released; its mark finds no room.
        let phones = ["+15550100021", "+15550100022"]
        h.provider.stock(phones)
        h.provider.inject(.fail(.numberUnavailable), on: .buy, phoneNumber: phones[1])
        h.memoryStore.refuseForRoom(after: 1)
        let failed = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        }
        // Left open for reconciliation, whose look-ups decide: not an answer of failure yet.
        #expect(
            failed?.reason == .outcomeUnknown && failed?.details["intentId"] != nil, "\(String(describing: failed))")
        #expect(failed?.message.contains("will be reconciled") == true)
        #expect(h.provider.owned(phones[0]) != nil, "an item is left to reconciliation without the durable mark")
        #expect(h.service.durableState().intents.count == 1)
        let report = await h.service.reconcile()
        #expect(report.voided.count == 1, "\(report)")
        #expect(h.provider.ownedPhoneNumbers.isEmpty)

        // A number sold in place of the one asked for is no item: it is released even without the mark.
        let asked = "+15550100023"
        let substitute = "+15550100024"
        h.provider.stock([asked, substitute])
        h.provider.sellInstead(substitute, for: asked)
        h.memoryStore.refuseForRoom(after: 1)
        _ = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [asked], country: "US"))
        }
        #expect(h.provider.owned(substitute) == nil, "the substitute is released")
        _ = await h.service.reconcile()
        #expect(h.service.durableState().intents.isEmpty)
        #expect(try h.service.balance(accountId: account.id).available == 10_000)
        try await h.check()
    }

    /// A read-only review of interleavings: a compensation whose mark — which watches a number sold in place of the
    /// one asked for — found no room, and whose DELETE of that number failed too (a 5xx, or Twilio's 404 just after
    /// the purchase), remembered the number nowhere: no item of the intent (reconciliation looks at those only), no
    /// watch, and the next sweep lifted its block. It stayed paid at Twilio by nobody. Now it is watched in a record of
    /// its own; after a restart, reconciliation and a sweep, it is released.
    @Test(
        "a substitute whose DELETE fails after the mark found no room is watched, and the sweep releases it",
        arguments: [false, true])
    func unmarkedSubstituteIsWatched(notFound: Bool) async throws {
        var h = try await Self.unpaused(providerDatesByClock: true)
        let account = try await h.account(funds: 10_000)
        let asked = "+15550100025"
        let substitute = "+15550100026"
        h.provider.stock([asked, substitute])
        h.provider.sellInstead(substitute, for: asked)
        h.provider.inject(.fail(notFound ? ProviderError.Kind.notFound : .unavailable), on: .release)
        h.memoryStore.refuseForRoom(after: 1)
        let failed = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: [asked], country: "US"))
        }
        #expect(failed?.reason == .outcomeUnknown, "\(String(describing: failed))")
        #expect(h.provider.owned(substitute) != nil, "its DELETE failed")
        #expect(h.service.durableState().orphanWatch[substitute]?.accountId == account.id)
        try await h.restart()
        #expect(await h.service.reconcile().voided.count == 1)
        #expect(await h.service.sweepOrphans().released == [substitute])
        #expect(h.provider.ownedPhoneNumbers.isEmpty)
        #expect(try h.service.balance(accountId: account.id).available == 10_000)
        try await h.check()
    }

    /// The same when the store fails (an I/O error, not a full disk): the failed write's decision stays in the
    /// decision state, which read "not open" and answered the provider's failure while the intent stayed open on disk.
    @Test(
        "a compensation whose write fails (the store stopped) answers OUTCOME_UNKNOWN, bought or not",
        arguments: [1, 2])
    func compensationWriteFailed(numbers: Int) async throws {
        let h = try await Self.unpaused()
        let account = try await h.account(funds: 10_000)
        let phones = Array(["+15550100041", "+15550100042"].prefix(numbers))
        h.provider.stock(phones)
        // The last number's buy fails outright; with two, the first was bought and must be undone.
        h.provider.inject(.fail(.numberUnavailable), on: .buy, phoneNumber: phones.last!)
        h.memoryStore.failAfterCommits(1)  // the intent is written; the mark (or the void) is not
        let failed = await numberError {
            _ = try await h.service.purchase(
                PurchaseRequest(accountId: account.id, phoneNumbers: phones, country: "US"))
        }
        #expect(failed?.reason == .outcomeUnknown, "\(String(describing: failed))")
        #expect(h.service.durableState().intents.count == 1, "open on disk, for reconciliation after a restart")
    }

    @Test("a withdrawal that finds no room is tried again past the pause; one that never finds room is OUTCOME_UNKNOWN")
    func withdrawalRefused() async throws {
        let h = try await Self.unpaused()
        let account = try await h.account(funds: 10_000)
        let numbers = try await h.buy(["+15550100031", "+15550100032"], for: account.id).numbers
        h.clock.advance(by: 86_400 * 3)
        // Refused outright with the number still ours; the withdrawal's first two records find no room.
        h.provider.inject(.fail(.unavailable), on: .release)
        h.memoryStore.refuseForRoom(after: 1, times: 2)
        let refused = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: numbers[0].id)
        }
        #expect(refused?.reason == .providerUnavailable, "\(String(describing: refused))")
        #expect(h.service.durableState().numbers[numbers[0].id]?.releaseRequestedAt == nil, "withdrawn")

        h.provider.inject(.fail(.unavailable), on: .release)
        h.memoryStore.refuseForRoom(after: 1, times: NumberService.withdrawalAttemptsMax)
        let unknown = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: numbers[1].id)
        }
        #expect(unknown?.reason == .outcomeUnknown, "\(String(describing: unknown))")
        #expect(h.service.durableState().numbers[numbers[1].id]?.releaseRequestedAt != nil, "still requested")
        let report = await h.service.reconcile()
        #expect(report.releasesCompleted == [numbers[1].id], "\(report)")
        try await h.check()
    }

    /// What one random call came to.
    enum Outcome: Sendable {
        case done
        case refused
        case unknown
    }

    @Test(
        "random credits, purchases and releases while writes find no room now and then: acknowledged kept, refused gone",
        arguments: [UInt64(1), 2, 3, 4])
    func randomized(seed: UInt64) async throws {
        let disk = try await Disk()
        var generator = SplitMix64(seed: seed)
        let account = try await disk.fundedAccount("Random")
        let outcomes = await Self.randomRounds(
            service: disk.service, provider: disk.provider, accountId: account.id, rounds: 12, generator: &generator
        ) { generator in
            // One journal write among the next few finds no room (or none this round).
            disk.makeRoom()
            if Int.random(in: 0..<3, using: &generator) > 0 {
                disk.fill(occurrence: Int.random(in: 1...2, using: &generator), repeats: false)
            }
        }
        disk.makeRoom()
        try await Self.expectSettled(disk.service, disk.provider, accountId: account.id, outcomes)
        try await disk.check()
    }

    @Test(
        "the same over the in-memory store, sixteen seeds: acknowledged kept, refused gone, the provider agreeing",
        arguments: (UInt64(1)...16).map { $0 })
    func randomizedInMemory(seed: UInt64) async throws {
        let h = try await Self.unpaused()
        var generator = SplitMix64(seed: seed)
        let account = try await h.account(funds: 10_000)
        let outcomes = await Self.randomRounds(
            service: h.service, provider: h.provider, accountId: account.id, rounds: 12, generator: &generator
        ) { generator in
            if Int.random(in: 0..<3, using: &generator) > 0 {
                h.memoryStore.refuseForRoom(after: Int.random(in: 0...1, using: &generator))
            }
        }
        h.memoryStore.refuseForRoom(after: 0, times: 0)
        try await Self.expectSettled(h.service, h.provider, accountId: account.id, outcomes)
        try await h.check()
    }

    /// What the random calls came to: each credit's by its key, each purchase's by its number (bought once at most),
    /// each release's by the number's id — a list: a number whose release is in doubt may be asked again in a later
    /// round — and how many calls of any kind were refused for room.
    struct Outcomes {
        var credits: [String: Outcome] = [:]
        var purchases: [String: Outcome] = [:]
        var releases: [String: [Outcome]] = [:]
        var refusals = 0
    }

    /// One random call.
    enum Call: Sendable {
        case credit(key: String)
        case purchase(phone: String)
        case release(numberId: String)
    }

    /// Rounds of four credits, up to three purchases and two releases at once, `inject` choosing each round's refusal.
    static func randomRounds(
        service: NumberService, provider: FakeProvider, accountId: String, rounds: Int,
        generator: inout SplitMix64, inject: (inout SplitMix64) -> Void
    ) async -> Outcomes {
        let phones = (0..<(rounds * 3)).map { "+1555020\(String(format: "%04d", $0))" }
        provider.stock(phones)
        var nextPhone = 0
        var result = Outcomes()
        for round in 0..<rounds {
            inject(&generator)
            let owned = service.durableState().numbers.values.filter { $0.status == .active }.map(\.id)
            let toRelease = owned.shuffled(using: &generator).prefix(2)
            let toBuy = phones[nextPhone..<min(nextPhone + 3, phones.count)]
            nextPhone += toBuy.count
            let outcomes = await withTaskGroup(of: (Call, Outcome).self) { group in
                for index in 0..<4 {
                    let key = "credit-\(round)-\(index)"
                    group.addTask {
                        (
                            .credit(key: key),
                            await outcome {
                                _ = try await service.addFunds(accountId: accountId, amount: 7, idempotencyKey: key)
                            }
                        )
                    }
                }
                for phone in toBuy {
                    group.addTask {
                        (
                            .purchase(phone: phone),
                            await outcome {
                                _ = try await service.purchase(
                                    PurchaseRequest(accountId: accountId, phoneNumbers: [phone], country: "US"))
                            }
                        )
                    }
                }
                for id in toRelease {
                    group.addTask {
                        (
                            .release(numberId: id),
                            await outcome { _ = try await service.release(accountId: accountId, numberId: id) }
                        )
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            for (call, outcome) in outcomes {
                switch call {
                case .credit(let key): result.credits[key] = outcome
                case .purchase(let phone): result.purchases[phone] = outcome
                case .release(let numberId): result.releases[numberId, default: []].append(outcome)
                }
                if case .refused = outcome { result.refusals += 1 }
            }
        }
        return result
    }

    /// After reconciliation: every acknowledged credit recorded, no refused one; every acknowledged purchase's number
    /// held (or released by a release asked for) and charged once, none of a refused one; every acknowledged release
    /// recorded with its refund, a number whose every release was refused still held, unrefunded; an unknown outcome
    /// either way, as the ledger has it; something refused at all; and nothing paid at the provider without an owner
    /// or an open purchase.
    static func expectSettled(
        _ service: NumberService, _ provider: FakeProvider, accountId: String, _ outcomes: Outcomes
    ) async throws {
        _ = await service.reconcile()
        let state = service.durableState()
        let ledger = state.transactions[accountId, default: []]
        let recorded = Set(ledger.compactMap(\.idempotencyKey))
        for (key, outcome) in outcomes.credits {
            switch outcome {
            case .done: #expect(recorded.contains(key), "acknowledged credit \(key) lost")
            case .refused: #expect(!recorded.contains(key), "refused credit \(key) recorded")
            case .unknown: break
            }
        }
        let numbers = state.numbers.values.filter { $0.accountId == accountId }
        for (phone, outcome) in outcomes.purchases {
            let bought = numbers.filter { $0.phoneNumber == phone }
            #expect(bought.count <= 1, "\(phone) bought \(bought.count) times")
            switch outcome {
            case .done: #expect(bought.count == 1, "acknowledged purchase of \(phone) lost")
            case .refused:
                #expect(bought.isEmpty, "refused purchase of \(phone) recorded")
                #expect(provider.owned(phone) == nil, "refused purchase of \(phone) bought at the provider")
            case .unknown: break
            }
            // Whatever the outcome, a number recorded is charged once, its setup fee and first month; one released
            // was released by a call the test made.
            for number in bought {
                let debits = ledger.filter { $0.kind == .purchase && $0.numberId == number.id }.map(\.amount)
                #expect(debits == [-(number.setupFee + number.monthlyFee)], "\(phone) charged \(debits)")
                #expect(
                    number.status != .released || outcomes.releases[number.id] != nil,
                    "\(phone) released by nobody's call")
            }
        }
        #expect(
            numbers.allSatisfy { outcomes.purchases[$0.phoneNumber] != nil }, "a number recorded that nobody bought")
        for (numberId, heard) in outcomes.releases {
            let number = try #require(state.numbers[numberId])
            let refunds = ledger.filter { $0.kind == .refund && $0.numberId == numberId }
            if heard.contains(.done) {
                #expect(number.status == .released, "acknowledged release of \(numberId) lost")
            }
            if heard.allSatisfy({ $0 == .refused }) {
                #expect(number.status != .released, "refused release of \(numberId) recorded")
                #expect(number.releaseRequestedAt == nil, "refused release of \(numberId) left requested")
                #expect(provider.owned(number.phoneNumber)?.sid == number.providerSid, "released at the provider")
            }
            // Released or not, the ledger agrees: the refund of the paid cycle's whole days left at the request
            // (the clock stands still: no renewal came between), credited once and linked; none while it is held.
            if number.status == .released, let releasedAt = number.releasedAt {
                let refund = BillingCalendar.proratedRefund(
                    monthlyFee: number.monthlyFee, cycleStart: number.cycleStart,
                    nextBillingDate: number.nextBillingDate, releaseAt: releasedAt
                ).amount
                #expect(refunds.map(\.amount) == (refund > 0 ? [refund] : []), "\(numberId) refunded \(refunds)")
                #expect(number.refundTransactionId == refunds.first?.id)
                #expect(provider.owned(number.phoneNumber) == nil, "released here, still paid at the provider")
            } else {
                #expect(refunds.isEmpty, "\(numberId) refunded while held")
            }
        }
        #expect(outcomes.refusals > 0, "no write found no room: the test tested nothing")
        let claimed = Set(state.phoneOwners.keys).union(state.reservations.keys)
        #expect(provider.ownedPhoneNumbers.subtracting(claimed).isEmpty)
        #expect(Set(state.phoneOwners.keys).isSubset(of: provider.ownedPhoneNumbers))
    }

    /// A call's outcome: done, refused for lack of room (nothing changed), or anything else (its outcome settled by
    /// reconciliation, or a refusal of its own).
    static func outcome(_ call: () async throws -> Void) async -> Outcome {
        do {
            try await call()
            return .done
        } catch let error as NumberError where error.reason == .storeFull {
            return .refused
        } catch {
            return .unknown
        }
    }

    @Test("refusals in a row double the pause up to its limit; a write that goes through resets it")
    func pauseBacksOff() async throws {
        #expect(StateCoordinator.nextPause(after: nil, first: .seconds(1), max: .seconds(30)) == .seconds(1))
        #expect(StateCoordinator.nextPause(after: .seconds(1), first: .seconds(1), max: .seconds(30)) == .seconds(2))
        #expect(StateCoordinator.nextPause(after: .seconds(16), first: .seconds(1), max: .seconds(30)) == .seconds(30))
        #expect(StateCoordinator.nextPause(after: .zero, first: .zero, max: .zero) == .zero)
        var config = NumberServiceConfig.defaults
        #expect(config.commits.noRoomRetryMilliseconds == 1_000 && config.commits.noRoomRetryMaxMilliseconds == 30_000)
        config.commits.noRoomRetryMaxMilliseconds = 999
        #expect(config.validate() == ["commits.noRoomRetryMaxMilliseconds must be in noRoomRetryMilliseconds...600000"])
        config.commits.noRoomRetryMaxMilliseconds = 600_001
        #expect(config.validate().count == 1)
        config.commits.noRoomRetryMaxMilliseconds = 600_000
        #expect(config.validate().isEmpty)

        let disk = try await Disk(retryMilliseconds: 1, retryMaxMilliseconds: 4)
        let account = try await disk.fundedAccount("Backoff")
        disk.fill()
        var pauses: [Duration?] = []
        for index in 0..<4 {
            // Past the longest pause: each credit tries the disk and is refused there.
            try await Task.sleep(for: .milliseconds(20))
            let refused = await numberError {
                _ = try await disk.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "k\(index)")
            }
            #expect(refused?.reason == .storeFull)
            pauses.append(disk.service.coordinator.noRoomPause)
        }
        #expect(pauses == [.milliseconds(1), .milliseconds(2), .milliseconds(4), .milliseconds(4)])
        disk.makeRoom()
        try await Task.sleep(for: .milliseconds(20))
        _ = try await disk.service.addFunds(accountId: account.id, amount: 1, idempotencyKey: "after")
        #expect(disk.service.coordinator.noRoomPause == nil)
        try await disk.check()
    }
}
