import Foundation
import Logging

/// What a reconciliation pass did.
public struct ReconcileReport: Sendable, Hashable {
    /// Intents whose numbers were all ours at the provider: committed (charged).
    public var committed: [String] = []
    /// Intents voided (what the provider had was released; nothing charged).
    public var voided: [String] = []
    /// Pending releases completed.
    public var releasesCompleted: [String] = []
    /// Numbers whose trunk change left open (``OwnedNumber/routeRequest``) was settled from what the provider shows.
    public var routesSettled: [String] = []
    /// Numbers whose adoption routing (``AdoptionRouteRequest``) can no longer land: its record ended. Asks nothing.
    public var adoptionRoutesEnded: [String] = []
    /// Intents or numbers that could not be settled now (provider unreachable); the next pass retries.
    public var unresolved: [String] = []
    /// Items the provider did not answer for (a look-up or a release without an answer: unreachable, timed out,
    /// misconfigured), each among `unresolved`. Not 0 also when the pass stopped asking the provider after such
    /// failures in a row and left the rest untried: numberd counts the run as failed.
    public var providerFailures = 0

    /// An empty report.
    public init() {}
}

extension NumberService {
    /// Settles purchases, releases and trunk changes a crash or a lost answer left open, by asking the provider what
    /// it has: an intent whose numbers are all ours is committed, any other is voided after releasing what was
    /// bought, a pending release is completed, a number's trunk change is recorded as the provider routes it
    /// (``reconcileRoutes(max:into:pass:)``). Nothing is guessed: if the provider cannot answer, the item stays open.
    /// Run it at start-up and periodically.
    public func reconcile() async -> ReconcileReport {
        guard let claimed = try? claimOpenWork() else { return ReconcileReport() }
        var report = ReconcileReport()
        // A pass of its own for each kind: items of one kind the provider keeps failing on (three releases whose
        // DELETE never gets an answer) stopped a shared pass before the next kind every time, and those were never
        // tried. A provider that answers nothing costs each kind its few failures.
        var pass = ProviderPass(failuresMax: config.reconcile.providerFailuresPerPassMax)
        var releasesPass = pass
        var routesPass = pass
        var left = 0
        var releasesLeft = 0
        // Items are tried in order until the pass stops: a prefix of each kind. A pass that leaves some untried moves
        // its cursor back to the last one tried (the claim moved it past every item claimed), so the next pass starts
        // at the untried ones instead of a whole rotation later.
        var intentsTried = 0
        var releasesTried = 0
        for intent in claimed.intents {
            defer { local.withLock { _ = $0.liveIntents.remove(intent.id) } }
            guard pass.mayGoOn else {
                report.unresolved.append(intent.id)
                left += 1
                continue
            }
            intentsTried += 1
            let answered = await settle(intent, into: &report)
            pass.record(answered: answered)
            if !answered { report.providerFailures += 1 }
        }
        for number in claimed.releases {
            defer { local.withLock { _ = $0.liveReleases.remove(number.id) } }
            guard releasesPass.mayGoOn else {
                report.unresolved.append(number.id)
                releasesLeft += 1
                continue
            }
            releasesTried += 1
            do {
                _ = try await finishRelease(
                    number, requestedAt: number.releaseRequestedAt ?? now(), withdrawIfRefused: false,
                    actorIfUnrecorded: .reconciliation)
                report.releasesCompleted.append(number.id)
                releasesPass.record(answered: true)
            } catch {
                let answered = !ProviderPass.isNoAnswer(error)
                releasesPass.record(answered: answered)
                if !answered { report.providerFailures += 1 }
                // Kept requested (the customer is no longer billed) while the provider may still bill us: an
                // operator should see every pass that could not finish it.
                report.unresolved.append(number.id)
                logger.warning(
                    "release still pending at the provider; the next pass retries",
                    metadata: [
                        "number": "\(number.id)", "phoneNumber": "\(number.phoneNumber)", "reason": "\(error.reason)",
                    ])
            }
        }
        // Trunk changes left open: few (one per number a crash or a lost answer caught), by number id from where the
        // last pass stopped, capped apart.
        let routesLeft = await reconcileRoutes(max: config.reconcile.itemsPerPassMax, into: &report, pass: &routesPass)
        report.adoptionRoutesEnded = await endAdoptionRoutes(max: config.reconcile.itemsPerPassMax)
        if intentsTried < claimed.intents.count || releasesTried < claimed.releases.count {
            let intents = claimed.intents.prefix(intentsTried)
            let releases = claimed.releases.prefix(releasesTried)
            local.withLock { local in
                if intentsTried < claimed.intents.count {
                    local.reconcileCursor.intent =
                        intents.last.map { ($0.createdAt, $0.id) } ?? claimed.cursorBefore.intent
                }
                if releasesTried < claimed.releases.count {
                    local.reconcileCursor.release = releases.last?.id ?? claimed.cursorBefore.release
                }
            }
        }
        logStoppedEarly(pass, "reconciliation (purchases)", left: left)
        logStoppedEarly(releasesPass, "reconciliation (releases)", left: releasesLeft)
        logStoppedEarly(routesPass, "reconciliation (trunk changes)", left: routesLeft)
        return report
    }

    /// Logs, once per pass, that a pass left items for the next one because it stopped asking the provider.
    func logStoppedEarly(_ pass: ProviderPass, _ name: String, left: Int) {
        guard left > 0, let reason = pass.stopReason else { return }
        logger.warning(
            "\(name) pass stopped early; the next pass takes the rest",
            metadata: ["reason": "\(reason)", "left": "\(left)"])
    }

    /// An open intent's place in the order a pass takes them in: by age, then id.
    private struct Key: Comparable, Hashable {
        var date: Date
        var id: String
        static func < (a: Key, b: Key) -> Bool { (a.date, a.id) < (b.date, b.id) }
    }

    private struct Claimed: Sendable {
        var intents: [PurchaseIntent]
        var releases: [OwnedNumber]
        /// Where the previous pass had stopped, for a pass that leaves items untried: the next one starts at them.
        var cursorBefore: (intent: (Date, String)?, release: String?)
    }

    /// Claims the open intents and pending releases no live call is driving, at most
    /// ``NumberServiceConfig/Reconcile/itemsPerPassMax``, under the decision lock: at most half the pass for intents
    /// while releases wait (the rest when none do), each kind taken in order (intents by age, releases by id) from
    /// where the previous pass stopped, wrapping around, so items that fail on every pass (a release the provider
    /// keeps refusing, an intent it cannot settle) never keep the others out. One pass over each kind, no sort.
    private func claimOpenWork() throws(NumberError) -> Claimed {
        let itemsMax = config.reconcile.itemsPerPassMax
        return try coordinator.decide { state throws(NumberError) in
            let claimed = local.withLock { local in
                // The last buys of intents settled since (by this pass's predecessors) are of no more use.
                local.buysSent = local.buysSent.filter { state.intents[$0.key] != nil }
                local.reroutesSent = local.reroutesSent.filter { state.intents[$0.key] != nil }
                let open = state.intents.values.filter { !local.liveIntents.contains($0.id) }
                let pending = state.work.pendingReleases.filter { !local.liveReleases.contains($0) }
                let intentsMax = pending.isEmpty ? itemsMax : max(1, itemsMax / 2)
                let byAge = Dictionary(
                    open.map { (Key(date: $0.createdAt, id: $0.id), $0) }, uniquingKeysWith: { a, _ in a })
                let cursor = local.reconcileCursor.intent.map { Key(date: $0.0, id: $0.1) }
                let intents = Self.rotation(intentsMax, of: byAge.keys, after: cursor).compactMap { byAge[$0] }
                let releaseIds = Self.rotation(
                    itemsMax - intents.count, of: pending, after: local.reconcileCursor.release)
                let releases = releaseIds.compactMap { state.numbers[$0] }
                let cursorBefore = local.reconcileCursor
                if let last = intents.last { local.reconcileCursor.intent = (last.createdAt, last.id) }
                if let last = releaseIds.last { local.reconcileCursor.release = last }
                for intent in intents { local.liveIntents.insert(intent.id) }
                for number in releases { local.liveReleases.insert(number.id) }
                return Claimed(intents: intents, releases: releases, cursorBefore: cursorBefore)
            }
            return ([], claimed)
        }.result
    }

    /// Settles one intent; false when the provider could not say what it holds, or did not answer a compensating
    /// release (the intent stays for a later pass).
    private func settle(_ intent: PurchaseIntent, into report: inout ReconcileReport) async -> Bool {
        var found: [ProvisionedNumber] = []
        // Numbers the provider has that this intent cannot have bought (``latestBuy(of:)``, or items whose buy was
        // never sent): someone's later purchase.
        var others: [ProvisionedNumber] = []
        var complete = true
        let latest = latestBuy(of: intent)
        // How many of its items had their buy sent, in order, when this process drove it (``Local/buysSent``); all of
        // them when not known (opened before this process started). A purchase whose k-th buy lost its answer never
        // sent the rest: none of those can be at the provider as its number, nor land there later.
        let sent = local.withLock { $0.buysSent[intent.id]?.attempted } ?? intent.items.count
        for (index, item) in intent.items.enumerated() {
            switch await lookUpOwned(item.phoneNumber) {
            case .owned(let number) where index >= sent || number.dateCreated.map { $0 > latest } ?? false:
                others.append(number)
                complete = false
            case .owned(let number): found.append(number)
            case .notOwned: complete = false
            case .unknown:
                report.unresolved.append(intent.id)
                return false
            }
        }
        // From the intent's last buy (for one opened before this service, as late as it can have ended), not its
        // opening: a purchase of many numbers sends its last buy long after that.
        let since = local.withLock { local in
            local.buysSent[intent.id].map { max(intent.createdAt, $0.ended) }
                ?? Self.inheritedCallsEnded(
                    startedAt: local.startedAt, from: intent.createdAt, calls: intent.items.count,
                    horizon: config.reconcile.inFlightHorizonSeconds)
        }
        let age = now().timeIntervalSince(since)
        if intent.status == .open && !complete && age < Double(config.reconcile.inFlightHorizonSeconds) {
            // A buy sent just before the crash or timeout may still land: look again on a later pass.
            report.unresolved.append(intent.id)
            return true
        }
        if intent.status == .open && complete {
            // Routed to the intent's trunk first: a number found may be another account's late buy of it, on that
            // account's trunk (``routeBeforeCommit(_:to:of:)``). Left for the next pass only if the provider did not
            // answer; one that refuses the change outright would refuse it at every pass, and the intent never settle.
            let trunk = try? coordinator.read { state throws(NumberError) in
                intent.trunkId.flatMap { state.trunks[$0]?.providerTrunkSid }
            }
            for number in found {
                if let noAnswer = await routeBeforeCommit(number, to: trunk ?? nil, of: intent.id) {
                    report.unresolved.append(intent.id)
                    return !ProviderPass.isNoAnswer(noAnswer)
                }
            }
            do {
                _ = try await commitPurchase(intent, provisioned: found, actorIfUnrecorded: .reconciliation)
                report.committed.append(intent.id)
            } catch {
                report.unresolved.append(intent.id)
            }
            return true
        }
        // Marked compensating (durably) before any release, so a later pass can never commit it instead. A number
        // the provider did not show may still be bought by a request queued there, if its buy was sent: it is watched
        // for orphans (one never sent is not: the watch would refuse other accounts' purchases of it for nothing). One
        // that is someone's later purchase, or whose creation date does not read (it may be), is neither released
        // nor watched — a release cannot be undone, and the sweep would take it for the orphan —: the provider audit
        // names it if nobody owns it through numberd.
        let undated = found.filter { $0.dateCreated == nil }
        let leftAlone = others + undated
        if !leftAlone.isEmpty {
            logger.warning(
                "numbers at the provider that this purchase may not have bought: not released, not watched",
                metadata: [
                    "intent": "\(intent.id)", "numbers": "\(leftAlone.map(\.phoneNumber))",
                    "latest_buy": "\(latest.formatted(.iso8601))",
                ])
        }
        let shown = Set(found.map(\.phoneNumber) + others.map(\.phoneNumber))
        // A release without an answer counts against the pass, which stops after a few in a row (``ProviderPass``).
        let answered = await compensate(
            intent, bought: found.filter { $0.dateCreated != nil },
            watching: intent.items.prefix(sent).map(\.phoneNumber).filter { !shown.contains($0) })
        let open = (try? coordinator.read { state throws(NumberError) in state.intents[intent.id] != nil }) ?? true
        if open {
            report.unresolved.append(intent.id)
        } else {
            report.voided.append(intent.id)
        }
        logger.info("reconciled purchase intent", metadata: ["intent": "\(intent.id)", "voided": "\(!open)"])
        return answered
    }

    /// The latest a buy of `intent` can have been created at the provider, by numberd's clock: its buys are sent one
    /// after another from its opening and never again after a restart (an unknown buy is never repeated) — by the end
    /// of the last one this process saw (`buysSent`), else by ``buySecondsMax`` (or the in-flight horizon, if longer)
    /// a number —, each landing within ``lateBuySeconds`` of it (the horizon and the hour of slack for the provider's
    /// clock), plus how far numberd's clock runs behind the wall clock (``NumberClock/behindWallClockSeconds``), as
    /// ``latestCreation(ofBuySentBy:)`` allows, which the orphan sweep judges by too. A number created after it is
    /// someone's later purchase — in Twilio's console, or a customer's after a restore from a backup that still held
    /// this intent open —, which reconciliation must neither commit to the intent's account nor release.
    func latestBuy(of intent: PurchaseIntent) -> Date {
        let perBuy = max(config.reconcile.inFlightHorizonSeconds, Self.buySecondsMax)
        let lastSent =
            local.withLock { $0.buysSent[intent.id]?.ended }
            ?? intent.createdAt.addingTimeInterval(Double(Int64(intent.items.count) * perBuy))
        return latestCreation(ofBuySentBy: max(lastSent, intent.createdAt))
    }

    /// How long one buy of a purchase may take, at most, for ``latestBuy(of:)`` when this process did not see the
    /// buys: the POST, a look-up of a lost answer and a trunk change, each up to the adapter's ~2 minutes of retries
    /// at its default timeout, and more at a longer one. 30 minutes.
    static let buySecondsMax: Int64 = 1_800

    /// The latest `calls` provider calls sent one after another from `at` by an earlier process (a purchase's buys,
    /// a trunk change, an adoption's routing, each recorded before it was sent) can have ended: when that process
    /// stopped — this one's start (`startedAt`) at the latest —, or `calls` times the longest a call takes
    /// (``buySecondsMax``, or the in-flight horizon if longer) after `at`, whichever came first; never before `at`.
    /// Counted from the start alone, a record from long before was held again at every start, and forever by restarts
    /// closer together than the horizon (a crash loop).
    static func inheritedCallsEnded(startedAt: Date, from at: Date, calls: Int = 1, horizon: Int64) -> Date {
        let callMax = Double(max(horizon, buySecondsMax))
        return max(at, min(startedAt, at.addingTimeInterval(Double(max(calls, 1)) * callMax)))
    }
}
