import Foundation
import Logging

/// What an orphan sweep did.
public struct OrphanSweepReport: Sendable, Hashable {
    /// Numbers that had landed at the provider with nobody owning them: released there (E.164).
    public var released: [String] = []
    /// Watched numbers a later purchase through numberd owns now: watch ended.
    public var claimed: [String] = []
    /// Watches whose window passed without the number appearing: ended.
    public var expired: [String] = []
    /// Watches left for a later sweep: still inside the window, reserved by an open purchase, or the provider could
    /// not answer.
    public var pending: [String] = []
    /// Watches the provider did not answer for (the look-up, or the release without a refusal), each among
    /// `pending`: numberd counts a run with any as failed.
    public var providerFailures = 0

    /// An empty report.
    public init() {}
}

extension NumberService {
    /// Settles the orphan watches (``OrphanWatch``): each watched number is looked up at the provider; one that
    /// landed while nobody owns or reserves it is released there, one that never appears is dropped when its window
    /// ends. Nothing is released that numberd owns or that an open purchase reserves. At most
    /// `reconcile.orphanLookUpsPerSweep` watches are settled per sweep, in turn by number (each pass goes on where
    /// the last stopped). Run it after `reconcile()`.
    public func sweepOrphans() async -> OrphanSweepReport {
        var report = OrphanSweepReport()
        guard claimOneAtATime(\.sweepingOrphans) else { return report }
        defer { local.withLock { $0.sweepingOrphans = false } }
        let watches = (try? coordinator.read { state throws(NumberError) in state.orphanWatch }) ?? [:]
        // A number's block outlives its watch only when something else settled the watch (a purchase's commit). Under
        // the decision lock, against the decided watches: a release decided but not durable yet has set its block and
        // started its watch there only, and the durable watches would lift that block for good.
        coordinator.readDecisionState { state in
            local.withLock { $0.releasingOrphans.formIntersection(state.orphanWatch.keys) }
        }
        // In turn by number, from where the last pass stopped: taken oldest first, watches still pending (not listed
        // yet, window not over) took the same places every pass, and after a restart every number past them stayed
        // blocked.
        let cursor = local.withLock { $0.orphanSweepCursor }
        let chosen = Self.rotation(config.reconcile.orphanLookUpsPerSweep, of: watches.keys, after: cursor)
        local.withLock { $0.orphanSweepCursor = chosen.last }
        var pass = ProviderPass(failuresMax: config.reconcile.providerFailuresPerPassMax)
        var left = 0
        var lastTried = cursor
        for phone in chosen {
            guard let watch = watches[phone] else { continue }
            guard pass.mayGoOn else {
                report.pending.append(phone)
                left += 1
                continue
            }
            lastTried = phone
            let answered = await settle(watch, into: &report)
            pass.record(answered: answered)
            if !answered { report.providerFailures += 1 }
        }
        // Stopped early: the next sweep starts at the first watch not tried, not a whole rotation later.
        if left > 0 { local.withLock { $0.orphanSweepCursor = lastTried } }
        logStoppedEarly(pass, "orphan sweep", left: left)
        let settled = Set(chosen)
        report.pending += watches.keys.filter { !settled.contains($0) }.sorted()
        if !report.released.isEmpty {
            logger.warning(
                "released numbers a voided purchase had left at the provider",
                metadata: ["numbers": "\(report.released)"])
        }
        return report
    }

    private enum WatchStep {
        case end(OrphanWatch.Outcome)
        case keep
        case lookUp
    }

    /// Settles one watch; false when the provider could not answer (the look-up, or the release without a refusal).
    private func settle(_ watch: OrphanWatch, into report: inout OrphanSweepReport) async -> Bool {
        let phone = watch.phoneNumber
        let now = now()
        let expired = now.timeIntervalSince(watch.since) >= Double(config.reconcile.orphanWatchSeconds)
        guard await needsProvider(watch, at: now, into: &report) else { return true }
        switch await lookUpOwned(phone) {
        case .unknown:
            report.pending.append(phone)
            return false
        case .notOwned:
            // Not at the provider: a release of it that may still be queued there names a SID a new purchase of the
            // number would not get, so purchases of it may go on.
            unblock(watch)
            if expired {
                await end(watch, .expired, at: now, into: &report)
            } else {
                report.pending.append(phone)
            }
        case .owned(let number):
            if number.dateCreated == nil, !watch.intentId.hasPrefix(Identifier.number) {
                // Without a creation date a voided purchase's late buy cannot be told from someone's later purchase
                // of the number (in Twilio's console, or one a restore forgot), and a release cannot be undone: kept
                // watched, said at error, until the watch ends; then the provider audit names it if nobody owns it.
                logger.error(
                    "a watched number's creation date at the provider cannot be read: not released",
                    metadata: ["number": "\(phone)", "sid": "\(number.sid)", "watch": "\(watch.intentId)"])
                if expired {
                    unblock(watch)
                    await end(watch, .expired, at: now, into: &report)
                } else {
                    report.pending.append(phone)
                }
                return true
            }
            guard mayBeTheOrphan(number, of: watch) else {
                // Someone's number now, not the one the watch was for: after a restore from a backup older than a
                // customer's purchase of it (a store that forgot it), or one bought outside numberd. Never released
                // here — a release cannot be undone —; the watch ends, and the provider audit names the number if
                // nobody owns it through numberd.
                unblock(watch)
                logger.warning(
                    "a watched number is at the provider, but not as the one the watch was for: not released",
                    metadata: [
                        "number": "\(phone)", "sid": "\(number.sid)", "watch": "\(watch.intentId)",
                        "date_created": "\(number.dateCreated?.formatted(.iso8601) ?? "unreadable")",
                    ])
                await end(watch, .expired, at: now, into: &report)
                return true
            }
            // Checked again just before the release, under the decision lock, which also keeps purchases off the
            // number until the release is done: one that reserved it after the release started could otherwise
            // find it still listed (a lost answer's look-up) and commit a number the sweep then releases.
            guard await needsProvider(watch, at: now, into: &report) else { return true }
            guard let blockedHere = claim(watch) else {
                report.pending.append(phone)
                return true
            }
            do {
                try await provider.release(sid: number.sid)
            } catch {
                // A DELETE that may still land (no answer, a 5xx, a 404 after such an attempt) keeps purchases off the
                // number until a later sweep's look-up no longer lists it: bought meanwhile, Twilio would answer 201
                // for the number it still has (twilio-api.md §8.7), the purchase would commit, and the DELETE would
                // then take the customer's number away. A definite refusal leaves nothing of this sweep's in flight —
                // but the number may have been blocked before, for an earlier DELETE (a customer's release, a
                // compensation, any watched number after a restart) that may still land: that block stays.
                if !Self.mayStillTakeEffect(error), blockedHere { unblock(watch) }
                // Twilio's 404: gone already (or not shown yet); the next sweep looks again.
                if (error as? ProviderError)?.kind != .notFound {
                    logger.error(
                        "orphan release failed; the next sweep retries",
                        metadata: ["number": "\(phone)", "sid": "\(number.sid)", "error": "\(error)"])
                }
                report.pending.append(phone)
                return !ProviderPass.isNoAnswer(.fromProvider(error, phoneNumber: phone))
            }
            await end(watch, .released(sid: number.sid), at: now, into: &report)
        }
        return true
    }

    /// How long after a voided purchase's watch began its buy may still have been created at the provider: the
    /// in-flight horizon, and an hour for the two clocks and the provider's own lag.
    public static let orphanCreationSlackSeconds: Int64 = 3_600

    /// The window after a voided purchase's watch began (`PIN_…`) in which its buy may still land at the provider: the
    /// in-flight horizon and ``orphanCreationSlackSeconds``. The sweep takes a number created within it for the orphan;
    /// another account's purchase of the number, and the account's own on another trunk, are refused within it
    /// (``lateBuys(at:)``). `reconcile.orphanWatchSeconds`, when not 0, is at least this long: the watch carries it.
    var lateBuySeconds: Int64 { Self.lateBuySeconds(horizon: config.reconcile.inFlightHorizonSeconds) }

    /// ``lateBuySeconds`` for an in-flight horizon of `horizon` seconds: the horizon and
    /// ``orphanCreationSlackSeconds`` (also what `reconcile.orphanWatchSeconds`, when on, must cover).
    public static func lateBuySeconds(horizon: Int64) -> Int64 { horizon + orphanCreationSlackSeconds }

    /// The latest creation date, by numberd's clock, the provider can give a buy sent by `sent`: ``lateBuySeconds``
    /// after it, plus how far numberd's clock runs behind the wall clock (``NumberClock/behindWallClockSeconds``):
    /// a clock that ignored a forward step reads the provider's `date_created` that much later than its own times. A
    /// number created after it is someone's later purchase. Reconciliation (``latestBuy(of:)``) and the sweep
    /// (``mayBeTheOrphan(_:of:)``) both judge by it: the sweep once took a voided purchase's late buy, dated by a
    /// provider 2 h ahead of a lagging numberd, for someone's purchase and left it paid with nobody owning it.
    func latestCreation(ofBuySentBy sent: Date) -> Date {
        sent.addingTimeInterval(Double(lateBuySeconds) + max(0, clock.behindWallClockSeconds))
    }

    /// The earliest creation date, by numberd's clock, the provider can give a buy of a purchase opened at `opened`:
    /// ``orphanCreationSlackSeconds`` before it (the two clocks), less how far numberd's clock runs ahead of the wall
    /// clock (``NumberClock/aheadOfWallClockSeconds``: a clock held at its data's latest time, or through a step back,
    /// reads the provider's `date_created` that much earlier than its own times). A number created before it is no
    /// buy of that purchase: one the account already held.
    func earliestCreation(ofBuyOpenedAt opened: Date) -> Date {
        opened.addingTimeInterval(-Double(Self.orphanCreationSlackSeconds) - max(0, clock.aheadOfWallClockSeconds))
    }

    /// The voided purchases' buys that may still land, as a purchase's checks at `now` see them: a watch begun at or
    /// after `now` less ``lateBuySeconds`` keeps other accounts' purchases off its number, and the account's own on
    /// another trunk. Twilio answers a POST of a number its account owns as an update applying that POST's trunk
    /// (twilio-api.md §8.7), so a late buy would route the new owner's number to the voided purchase's trunk.
    func lateBuys(at now: Date) -> LateBuyWindow {
        LateBuyWindow(since: now.addingTimeInterval(-Double(lateBuySeconds)), seconds: lateBuySeconds)
    }

    /// Whether `number`, found at the provider under `watch`, can be what the watch is for. A released number's
    /// watch (`NUM_…`) is for its own SID: another SID is a later purchase. A voided purchase's (`PIN_…`) is for a buy
    /// that was queued when it was voided: the provider created it by the in-flight horizon after that (and
    /// ``orphanCreationSlackSeconds``, and numberd's clock lag: ``latestCreation(ofBuySentBy:)``), not days later; one
    /// without a readable creation date is not asked about here (``settle(_:into:)`` keeps its watch).
    private func mayBeTheOrphan(_ number: ProvisionedNumber, of watch: OrphanWatch) -> Bool {
        if watch.intentId.hasPrefix(Identifier.number) {
            let sid = try? coordinator.read { state throws(NumberError) in state.numbers[watch.intentId]?.providerSid }
            return (sid ?? nil) == number.sid
        }
        guard let created = number.dateCreated else { return false }
        return created <= latestCreation(ofBuySentBy: watch.since)
    }

    /// Ends or keeps the watch when the durable state already decides it; true when the provider must be asked.
    private func needsProvider(_ watch: OrphanWatch, at now: Date, into report: inout OrphanSweepReport) async -> Bool {
        switch step(for: watch, at: now) {
        case .end(let outcome):
            await end(watch, outcome, at: now, into: &report)
            return false
        case .keep:
            report.pending.append(watch.phoneNumber)
            return false
        case .lookUp:
            return true
        }
    }

    /// Marks the watched number as being released, if the decision state still lets it be (watched the same way,
    /// nobody owns or reserves it, no adoption of it runs); purchases and adoptions refuse a marked number until
    /// ``unblock(_:)``. Nil when it may not be released; else whether the mark is this claim's (false: the number was
    /// blocked already, for an earlier DELETE that may still land). An adoption claimed before the watch began may
    /// still be running: its record refuses the watched number, but the watch this release ends would no longer be
    /// there to refuse it, and the adoption would record a number the DELETE took.
    private func claim(_ watch: OrphanWatch) -> Bool? {
        let now = now()
        let claimed = try? coordinator.decide { state throws(NumberError) -> (events: [CoreEvent], result: Bool?) in
            let free =
                state.orphanWatch[watch.phoneNumber] == watch && state.phoneOwners[watch.phoneNumber] == nil
                && state.reservations[watch.phoneNumber] == nil
            guard free else { return ([], nil) }
            return local.withLock { local in
                guard !local.adoptionHolds(watch.phoneNumber, at: now) else { return ([], nil) }
                return ([], local.releasingOrphans.insert(watch.phoneNumber).inserted)
            }
        }
        return claimed?.result ?? nil
    }

    /// What the durable state says about a watch before asking the provider.
    private func step(for watch: OrphanWatch, at now: Date) -> WatchStep {
        let lateBuys = lateBuys(at: now)
        return
            (try? coordinator.read { state throws(NumberError) -> WatchStep in
                guard state.orphanWatch[watch.phoneNumber] == watch else { return .keep }
                if let owner = state.phoneOwners[watch.phoneNumber] {
                    // The number that claimed it keeps it while the voided purchase's POST may still land
                    // (``OrphanWatch/claimedBy``): released meanwhile, the watch watches again.
                    return owner == watch.claimedBy && lateBuys.contains(watch) ? .keep : .end(.claimed)
                }
                // An open purchase of the same number decides its fate; the watch waits for it.
                if state.reservations[watch.phoneNumber] != nil { return .keep }
                return .lookUp
            }) ?? .keep
    }

    /// Keeps purchases off `phones`, whose DELETE (a compensation's, a customer's release) may still land at the
    /// provider: bought meanwhile, Twilio would answer 201 for a number it still holds (twilio-api.md §8.7) and the
    /// queued DELETE would then take the customer's number away. Called under the decision lock, in the decision that
    /// records the release; the sweep lifts it once a look-up no longer lists the number (or its watch ends, or
    /// there is none: its first pass keeps only watched numbers blocked).
    func blockPurchases(_ phones: [String]) {
        guard !phones.isEmpty else { return }
        local.withLock { $0.releasingOrphans.formUnion(phones) }
    }

    /// Lets purchases of the watched number go on — no release of it by the sweep can still land — if `watch` is
    /// still its watch in the decided state. The sweep acts on what it read before asking the provider: meanwhile the
    /// number may have been bought and released again with a DELETE that may still land, whose newer watch keeps its
    /// own block.
    private func unblock(_ watch: OrphanWatch) {
        coordinator.readDecisionState { state in
            guard state.orphanWatch[watch.phoneNumber] == watch else { return }
            local.withLock { _ = $0.releasingOrphans.remove(watch.phoneNumber) }
        }
    }

    /// Events that start watching `phones` for orphans — numbers numberd bought or released whose fate at the
    /// provider is not certain, none of them owned through numberd once the record applies — for `accountId`;
    /// `startedBy` is the voided intent (`PIN_…`) or the released number (`NUM_…`), and `buyTrunkSid` the trunk SID a
    /// voided intent's buys carried (``OrphanWatch/buyTrunkSid``). A watch already on a number (`state`'s), started by
    /// another intent or number, is replaced by one that also releases what it was watching for
    /// (``OrphanWatch/replacing(_:)``). None when the watch is off (`reconcile.orphanWatchSeconds` 0).
    func orphanWatchEvents(
        _ phones: [String], accountId: String, startedBy: String, buyTrunkSid: String? = nil, at now: Date,
        over state: CoreState
    ) -> [CoreEvent] {
        guard config.reconcile.orphanWatchSeconds > 0, !phones.isEmpty else { return [] }
        let watches = phones.map {
            OrphanWatch(
                phoneNumber: $0, accountId: accountId, intentId: startedBy, since: now, buyTrunkSid: buyTrunkSid
            )
            .replacing(state.orphanWatch[$0])
        }
        return [.orphanWatchStarted(watches)]
    }

    private func end(
        _ watch: OrphanWatch, _ outcome: OrphanWatch.Outcome, at now: Date, into report: inout OrphanSweepReport
    ) async {
        let ended: Bool? = try? await coordinator.perform { state throws(NumberError) in
            // A newer watch (the number bought and released again meanwhile) keeps its block.
            guard state.orphanWatch[watch.phoneNumber] == watch else { return ([], false) }
            local.withLock { _ = $0.releasingOrphans.remove(watch.phoneNumber) }
            // A release ends the watch unless another buy it watches for may still land (``OrphanWatch/earlierBuys``).
            if case .released(let sid) = outcome { return ([watch.released(sid: sid, at: now)], true) }
            return ([.orphanWatchEnded(phoneNumber: watch.phoneNumber, outcome: outcome, at: now)], true)
        }
        guard ended == true else {
            report.pending.append(watch.phoneNumber)
            return
        }
        var message: Logger.Message = "orphan watch ended"
        switch outcome {
        case .released:
            report.released.append(watch.phoneNumber)
            if watch.earlierBuys != nil {
                message = "orphan watch released a number and goes on: another buy it watches for may still land"
            }
        case .claimed: report.claimed.append(watch.phoneNumber)
        case .expired: report.expired.append(watch.phoneNumber)
        }
        logger.info(
            message,
            metadata: ["number": "\(watch.phoneNumber)", "intent": "\(watch.intentId)", "outcome": "\(outcome)"])
    }
}

/// The voided purchases' buys that may still land at the provider, as a purchase's checks see them at one time
/// (``NumberService/lateBuys(at:)``): those of the `PIN_…` orphan watches begun at or after `since`, each until
/// `seconds` after its start.
struct LateBuyWindow: Sendable {
    /// The earliest start of a watch whose buy may still land (``NumberService/lateBuys(at:)``).
    var since: Date
    /// How long after a watch's start its buy may still land (``NumberService/lateBuySeconds``).
    var seconds: Int64

    /// Whether `watch` is a voided purchase's whose buy may still land.
    func contains(_ watch: OrphanWatch) -> Bool { watch.intentId.hasPrefix(Identifier.intent) && watch.since >= since }

    /// The last moment `watch`'s buy may land: the purchases it keeps off may go on after it.
    func end(of watch: OrphanWatch) -> Date { watch.since.addingTimeInterval(Double(seconds)) }
}
