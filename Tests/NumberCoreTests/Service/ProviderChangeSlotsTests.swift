import Foundation
import Testing

@testable import NumberCore

/// How many of one account's releases and trunk changes ask the provider at once. Each is a request on the HTTP client
/// every account shares: one tenant releasing thousands of numbers at once filled its queue, and every other
/// account's provider calls waited behind them or failed. At most `providerChangesInFlightPerAccountMax` of an
/// account's run at once, the others waiting their turn before anything is recorded.
@Suite("Releases and trunk changes ask the provider in turn, per account")
struct ProviderChangeSlotsTests {
    static let phones = (0..<12).map { "+1415555\(String(format: "%04d", 200 + $0))" }

    /// A release of `numberId`, started in a task of its own.
    static func releasing(_ h: Harness, _ account: String, _ numberId: String) -> Task<ReleaseResult, any Error> {
        Task { try await h.service.release(accountId: account, numberId: numberId) }
    }

    /// A release of `numberId` held at the provider (every release hangs until the test resumes the "release" gate),
    /// once it holds the account's one provider-change slot.
    static func holdingTheSlot(
        _ h: Harness, _ account: String, _ numberId: String
    ) async throws -> Task<ReleaseResult, any Error> {
        h.provider.inject(.hangThenDo(gate: "release"), on: .release)
        let first = releasing(h, account, numberId)
        try await waitUntil { h.service.providerChanges.counts(account) == (holding: 1, waiting: 0) }
        return first
    }

    @Test("at most 8 of an account's releases at the provider at once; another account's are not held up")
    func releasesInTurn() async throws {
        let h = try await Harness(.memory)
        let busy = try await h.account(funds: 100_000, name: "Busy")
        let other = try await h.account(funds: 100_000, name: "Other")
        let numbers = try await h.buy(Array(Self.phones[0..<9]), for: busy.id).numbers
        let elsewhere = try await h.buy([Self.phones[9]], for: other.id).numbers[0]
        h.provider.inject(.hangThenDo(gate: "release"), on: .release, times: 10)
        let releases = numbers.map { Self.releasing(h, busy.id, $0.id) }
        try await waitUntil { h.service.providerChanges.counts(busy.id) == (holding: 8, waiting: 1) }
        let otherRelease = Self.releasing(h, other.id, elsewhere.id)
        try await waitUntil { h.provider.calls(.release) == 9 }
        #expect(h.service.providerChanges.counts(busy.id) == (holding: 8, waiting: 1))
        // The one waiting is not requested yet: nothing is recorded before its turn.
        let requested = h.service.durableState().numbers.values.filter { $0.releaseRequestedAt != nil }
        #expect(requested.count == 9, "8 of the busy account's and the other's")
        h.provider.resume("release")
        for release in releases { #expect(try await release.value.refund >= 0) }
        #expect(try await otherRelease.value.number.id == elsewhere.id)
        #expect(h.service.providerChanges.counts(busy.id) == (holding: 0, waiting: 0))
        #expect(h.provider.calls(.release) == 10)
        try await h.check()
    }

    @Test(
        "a trunk change waits behind the account's releases; a caller gone while waiting starts nothing",
        arguments: StoreKind.allCases)
    func trunkChangesShareTheSlotsAndCancel(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 100_000)
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "main", providerTrunkSid: trunkSid(1))
        let numbers = try await h.buy(Array(Self.phones[0..<3]), for: account.id).numbers
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let change = Task {
            try await h.service.setTrunk(accountId: account.id, numberId: numbers[1].id, trunkId: trunk.id)
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        let gone = Self.releasing(h, account.id, numbers[2].id)
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 2) }
        gone.cancel()
        let cancelled = await numberError { _ = try await gone.value }
        #expect(cancelled?.code == .cancelled, "\(String(describing: cancelled))")
        #expect(h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1))
        #expect(h.provider.calls(.setTrunk) == 0, "the change waits for the release")
        h.provider.resume("release")
        _ = try await first.value
        #expect(try await change.value.number.trunkId == trunk.id)
        #expect(h.provider.calls(.release) == 1, "the cancelled release asked nothing")
        let untouched = try #require(h.service.durableState().numbers[numbers[2].id])
        #expect(untouched.status == .active && untouched.releaseRequestedAt == nil)
        try await h.check()
    }

    @Test(
        "past the waiting limit a release or trunk change is refused CHANGES_BUSY at once; refusals never wait",
        arguments: StoreKind.allCases)
    func queueFull(kind: StoreKind) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        config.limits.providerChangesWaitingPerAccountMax = 0
        let h = try await Harness(kind, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<3]), for: account.id).numbers
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "main", providerTrunkSid: trunkSid(1))
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let release = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: numbers[1].id)
        }
        let change = await numberError {
            _ = try await h.service.setTrunk(accountId: account.id, numberId: numbers[2].id, trunkId: trunk.id)
        }
        for refused in [release, change] {
            #expect(
                refused?.code == .resourceExhausted && refused?.reason == .changesBusy
                    && refused?.details["max"] == "0",
                "\(String(describing: refused))")
        }
        // What the decision would refuse is answered as such, not CHANGES_BUSY and not after a wait.
        let unknown = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: "NUM_000000000000")
        }
        #expect(unknown?.reason == .numberNotFound, "\(String(describing: unknown))")
        let dryRun = try await h.service.release(accountId: account.id, numberId: numbers[1].id, dryRun: true)
        #expect(dryRun.dryRun, "a dry run asks the provider nothing and takes no slot")
        h.provider.resume("release")
        _ = try await first.value
        #expect(h.provider.calls(.release) == 1 && h.provider.calls(.setTrunk) == 0)
        try await h.check()
    }

    /// A release waiting for its turn has recorded nothing, so billing would renew the number meanwhile — at midnight
    /// before a billing date, a customer releasing many numbers would pay a month for each one still waiting.
    @Test("billing leaves a number whose release waits its turn alone; a second release of it is refused at once")
    func waitingReleaseIsNotRenewed() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "main", providerTrunkSid: trunkSid(1))
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let waiting = Self.releasing(h, account.id, numbers[1].id)
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        // Another release of it, or a trunk change, is refused without waiting.
        let again = await numberError {
            _ = try await h.service.release(accountId: account.id, numberId: numbers[1].id)
        }
        #expect(again?.reason == .numberNotActive, "\(String(describing: again))")
        let routed = await numberError {
            _ = try await h.service.setTrunk(accountId: account.id, numberId: numbers[1].id, trunkId: trunk.id)
        }
        #expect(routed?.reason == .numberNotActive, "\(String(describing: routed))")
        // Its billing date passes while it waits: no renewal.
        h.clock.set(numbers[1].nextBillingDate.addingTimeInterval(60))
        let balance = try h.service.balance(accountId: account.id).balance
        let report = try await h.service.runBilling()
        #expect(report.renewed == 0 && report.markedPastDue == 0, "\(report)")
        #expect(try h.service.balance(accountId: account.id).balance == balance)
        h.provider.resume("release")
        _ = try await first.value
        let released = try await waiting.value
        // Its request, made once it had a slot, bills the cycle begun while it waited, then refunds its days left.
        #expect(released.number.status == .released && released.renewalCharge == released.number.monthlyFee)
        #expect(released.refund > 0 && released.refund < released.number.monthlyFee)
        #expect(h.service.durableState().transactions[account.id]?.count { $0.kind == .renewal } == 1)
        try await h.check()
    }

    /// Every waiting release kept billing off its number, so a release asked for after the billing date hid a due
    /// number for as long as it waited: a tenant keeping its slots busy, and asking again each time its release was
    /// refused after the wait (a wrong `expected_next_billing_date`), kept a number unbilled for days. Only a release
    /// asked for before the date (`waitingReleaseIsNotRenewed`) keeps the run off it.
    @Test("billing renews a number whose release, asked for after its billing date, still waits its turn")
    func releaseAskedAfterTheDateHidesNoRenewal() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        // Its billing date has passed when its release is asked for, and the release waits behind the first.
        h.clock.set(numbers[1].nextBillingDate.addingTimeInterval(60))
        let waiting = Self.releasing(h, account.id, numbers[1].id)
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        let balance = try h.service.balance(accountId: account.id).balance
        let report = try await h.service.runBilling()
        #expect(report.renewed == 1 && report.markedPastDue == 0, "\(report)")
        let renewed = try #require(h.service.durableState().numbers[numbers[1].id])
        #expect(renewed.nextBillingDate > numbers[1].nextBillingDate && renewed.releaseRequestedAt == nil)
        #expect(try h.service.balance(accountId: account.id).balance == balance - numbers[1].monthlyFee)
        h.provider.resume("release")
        _ = try await first.value
        let released = try await waiting.value
        // The run paid the cycle begun before the release was asked for: the release charges nothing more, and
        // refunds that cycle's days left.
        #expect(released.number.status == .released && released.renewalCharge == 0 && released.renewals.isEmpty)
        #expect(released.refund > 0)
        #expect(h.service.durableState().transactions[account.id]?.count { $0.kind == .renewal } == 1)
        try await h.check()
    }

    /// A trunk change that passed its check before the wait was claimed once its turn came even if a release of the
    /// number had been asked for meanwhile (the claim looked only at running changes): the change ran for a number
    /// being given up, and the release behind it was refused after its wait. The claim now refuses what the check
    /// before the wait refuses.
    @Test("a trunk change whose turn comes while a release of its number waits is refused, nothing sent")
    func changeRefusedForAWaitingRelease() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let trunk = try await h.service.createTrunk(accountId: account.id, name: "main", providerTrunkSid: trunkSid(1))
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let change = Task {
            try await h.service.setTrunk(accountId: account.id, numberId: numbers[1].id, trunkId: trunk.id)
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        // Asked for after the change passed its check: it waits behind the change.
        let release = Self.releasing(h, account.id, numbers[1].id)
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 2) }
        h.provider.resume("release")
        _ = try await first.value
        let refused = await numberError { _ = try await change.value }
        #expect(
            refused?.code == .aborted && refused?.reason == .numberNotActive
                && refused?.message.hasPrefix("a release of") == true,
            "\(String(describing: refused))")
        #expect(h.provider.calls(.setTrunk) == 0, "nothing sent to the provider")
        let released = try await release.value
        #expect(released.number.status == .released && released.number.trunkId == nil)
        #expect(h.provider.calls(.release) == 2)
        try await h.check()
    }

    @Test("a key revoked while its release waits for its turn: refused at the decision, nothing requested or charged")
    func keyRevokedWhileWaiting() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let key = try await h.service.createApiKey(name: "leaked", scope: .account, accountId: account.id).key
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let waiting = Task {
            try await h.service.release(accountId: account.id, numberId: numbers[1].id, actor: .apiKey(key.id))
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        _ = try await h.service.revokeApiKey(keyId: key.id)
        h.provider.resume("release")
        _ = try await first.value
        let refused = await numberError { _ = try await waiting.value }
        #expect(refused?.reason == .invalidCredentials, "\(String(describing: refused))")
        let kept = try h.service.number(accountId: account.id, numberId: numbers[1].id).number
        #expect(kept.status == .active && kept.releaseRequestedAt == nil && h.provider.calls(.release) == 1)
        let ledger = h.service.durableState().transactions[account.id] ?? []
        #expect(ledger.filter { $0.numberId == numbers[1].id }.map(\.kind) == [.purchase], "nothing charged")
        try await h.check()
    }

    /// Found by the authorization review: only a release and a purchase looked at their key again once their turn
    /// came; a trunk change, a trunk creation and a trunk deletion queued by a leaked key were carried out after its
    /// revocation (calls rerouted to the holder's SIP endpoint).
    @Test(
        "a key revoked while its trunk change, trunk creation or trunk deletion waits for its turn: nothing is sent",
        arguments: ["setTrunk", "createTrunk", "deleteTrunk"])
    func keyRevokedWhileTrunkWorkWaits(operation: String) async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let trunk = try await h.service.createTrunk(
            accountId: account.id, name: "pbx", providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
        let key = try await h.service.createApiKey(name: "leaked", scope: .account, accountId: account.id).key
        let callsBefore = [FakeProvider.Operation.setTrunk, .createTrunk, .deleteTrunk].map { h.provider.calls($0) }
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let (service, accountId, numberId, keyId) = (h.service, account.id, numbers[1].id, key.id)
        let waiting = Task { () async throws -> Void in
            switch operation {
            case "setTrunk":
                _ = try await service.setTrunk(
                    accountId: accountId, numberId: numberId, trunkId: trunk.id, authorizedBy: keyId)
            case "createTrunk":
                _ = try await service.createTrunk(
                    accountId: accountId, name: "attacker", providerTrunkSid: "",
                    originationSipUri: "sip:attacker.example", authorizedBy: keyId)
            default:
                try await service.deleteTrunk(accountId: accountId, trunkId: trunk.id, authorizedBy: keyId)
            }
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 1, waiting: 1) }
        _ = try await h.service.revokeApiKey(keyId: key.id)
        h.provider.resume("release")
        _ = try await first.value
        let refused = await numberError { try await waiting.value }
        #expect(refused?.reason == .invalidCredentials, "\(String(describing: refused))")
        #expect(
            [FakeProvider.Operation.setTrunk, .createTrunk, .deleteTrunk].map { h.provider.calls($0) } == callsBefore)
        let state = h.service.durableState()
        #expect(state.numbers[numbers[1].id]?.trunkId == nil && state.numbers[numbers[1].id]?.routeRequest == nil)
        #expect(state.trunks.values.map(\.id) == [trunk.id], "no trunk made, none deleted")
        try await h.check()
    }

    /// A change to the trunk a number is recorded on used to be answered at once, without the provider: a number the
    /// provider routed elsewhere (a change of unknown outcome before a restart) stayed there. It is sent to the
    /// provider now, in its turn like any change (recorded as a request before it is sent, settled by its answer).
    @Test("a trunk change to the recorded trunk waits its turn, is sent to the provider and changes no trunk")
    func unchangedTrunkTakesASlot() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 1
        config.limits.providerChangesWaitingPerAccountMax = 0
        let h = try await Harness(.memory, config: config)
        let account = try await h.account(funds: 100_000)
        let numbers = try await h.buy(Array(Self.phones[0..<2]), for: account.id).numbers
        let first = try await Self.holdingTheSlot(h, account.id, numbers[0].id)
        let busy = await numberError {
            _ = try await h.service.setTrunk(accountId: account.id, numberId: numbers[1].id, trunkId: nil)
        }
        #expect(busy?.reason == .changesBusy && h.provider.calls(.setTrunk) == 0, "\(String(describing: busy))")
        h.provider.resume("release")
        _ = try await first.value
        let listing = try await h.service.setTrunk(accountId: account.id, numberId: numbers[1].id, trunkId: nil)
        #expect(listing.number.trunkId == nil && h.provider.calls(.setTrunk) == 1)
        #expect(listing.number.routeRequest == nil, "its request settled by the answer")
        try await h.check()
    }

    /// A change back to the trunk a number is on, while another change of it is running, is refused: the number ends
    /// where that one sends it, and an OK would tell the last caller it stayed.
    @Test("a trunk change to the recorded trunk while another change of the number runs is refused, not answered OK")
    func unchangedWhileChanging() async throws {
        let h = try await Harness(.memory)
        let account = try await h.account(funds: 100_000)
        let trunkA = try await h.service.createTrunk(accountId: account.id, name: "a", providerTrunkSid: trunkSid(0xA))
        let trunkB = try await h.service.createTrunk(accountId: account.id, name: "b", providerTrunkSid: trunkSid(0xB))
        let number = try await h.buy([Self.phones[0]], for: account.id, trunkId: trunkA.id).numbers[0]
        h.provider.inject(.hangThenDo(gate: "route"), on: .setTrunk)
        let toB = Task { try await h.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunkB.id) }
        try await waitUntil { h.provider.calls(.setTrunk) == 1 }
        let back = await numberError {
            _ = try await h.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunkA.id)
        }
        #expect(back?.reason == .numberNotActive, "\(String(describing: back))")
        h.provider.resume("route")
        #expect(try await toB.value.number.trunkId == trunkB.id)
        // Settled: a change to where it is now is sent to the provider again (idempotent there) and answered so.
        let same = try await h.service.setTrunk(accountId: account.id, numberId: number.id, trunkId: trunkB.id)
        #expect(same.number.trunkId == trunkB.id && same.trunkName == "b" && h.provider.calls(.setTrunk) == 2)
        try await h.check()
    }

    /// A trunk numberd creates at the provider, and its deletion there, are requests on the HTTP client every tenant
    /// shares too. They took no slot: an account looping CreateTrunk and DeleteTrunk with a 1 ms deadline left each
    /// DELETE running after its caller (its record gone first, so the next creation passed the trunk limit at once),
    /// and against a slow provider every tenant's purchases failed PROVIDER_UNAVAILABLE.
    @Test("trunk creations and deletions at the provider take the account's slots; a caller gone first starts nothing")
    func trunkCreationsAndDeletionsInTurn() async throws {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 2
        let h = try await Harness(.memory, config: config)
        let account = try await h.account()
        h.provider.inject(.hangThenDo(gate: "create"), on: .createTrunk, times: 3)
        let creations = ["a", "b", "c"].map { name in
            Task {
                try await h.service.createTrunk(
                    accountId: account.id, name: name, providerTrunkSid: "", originationSipUri: "sip:pbx.example.com")
            }
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 2, waiting: 1) }
        try await waitUntil { h.provider.calls(.createTrunk) == 2 }
        #expect(h.service.providerChanges.counts(account.id) == (holding: 2, waiting: 1))
        #expect(h.provider.calls(.createTrunk) == 2, "the third waits for a slot before it asks the provider")
        h.provider.resume("create")
        var created: [Trunk] = []
        for creation in creations { created.append(try await creation.value) }
        let trunks = created
        #expect(trunks.allSatisfy { $0.providerManaged == true } && h.provider.trunkSids.count == 3)
        #expect(h.service.providerChanges.counts(account.id) == (holding: 0, waiting: 0))

        // A caller gone before the deletion started deletes nothing, here or at the provider.
        let gone = Task {
            try? await Task.sleep(for: .seconds(600))  // cancelled below: the call then starts cancelled
            return await numberError { try await h.service.deleteTrunk(accountId: account.id, trunkId: trunks[0].id) }
        }
        gone.cancel()
        let cancelled = await gone.value
        #expect(cancelled?.code == .cancelled, "\(String(describing: cancelled))")
        #expect(try h.service.listTrunks(accountId: account.id).count == 3 && h.provider.calls(.deleteTrunk) == 0)

        h.provider.inject(.hangThenDo(gate: "delete"), on: .deleteTrunk, times: 3)
        let deletions = trunks.map { trunk in
            Task { try await h.service.deleteTrunk(accountId: account.id, trunkId: trunk.id) }
        }
        try await waitUntil { h.service.providerChanges.counts(account.id) == (holding: 2, waiting: 1) }
        try await waitUntil { h.provider.calls(.deleteTrunk) == 2 }
        #expect(h.service.providerChanges.counts(account.id) == (holding: 2, waiting: 1))
        // The one waiting has removed nothing yet: its trunk still counts against the account's limits.
        #expect(try h.service.listTrunks(accountId: account.id).count == 1)
        h.provider.resume("delete")
        for deletion in deletions { try await deletion.value }
        #expect(h.provider.calls(.deleteTrunk) == 3 && h.provider.trunkSids.isEmpty)
        #expect(try h.service.listTrunks(accountId: account.id).isEmpty)
        #expect(h.service.providerChanges.counts(account.id) == (holding: 0, waiting: 0))
        try await h.check()
    }

    @Test("the limits' ranges are checked")
    func limitRanges() {
        var config = NumberServiceConfig.defaults
        config.limits.providerChangesInFlightPerAccountMax = 0
        config.limits.providerChangesInFlightMax = 100_001
        config.limits.providerChangesWaitingPerAccountMax = -1
        config.limits.providerChangesWaitingMax = 1_000_001
        #expect(config.validate().filter { $0.contains("providerChanges") }.count == 4)
        #expect(NumberServiceConfig.defaults.validate().isEmpty)
    }
}
