import Foundation

/// What a provider audit found: the numbers (and trunks) on which the provider account and numberd's store disagree.
public struct ProviderAuditReport: Sendable, Hashable {
    /// One disagreement.
    public struct Difference: Sendable, Hashable, CustomStringConvertible {
        /// How the two sides disagree.
        public enum Kind: String, Sendable, Hashable, CaseIterable, Comparable {
            /// Owned (and paid) at the provider, held by no one through numberd: no number holds it, no purchase in
            /// progress reserves it, no orphan watch covers it. numberd's worst case: a number paid with no customer.
            case unowned
            /// Held through numberd (active or past due, no release pending) but not owned at the provider: its
            /// customer is billed for a number that no longer rings.
            case missing
            /// Held through numberd under another provider SID than the provider's own for the same number.
            case sidDiffers = "sid_differs"
            /// Routed at the provider to another trunk than numberd's (or to one when numberd has none, or to none
            /// when numberd has one): calls do not reach the customer's trunk.
            case trunkDiffers = "trunk_differs"
            /// Its release was requested longer ago than ``NumberServiceConfig/Audit/releasePendingMaxSeconds`` (a day)
            /// and is still not done, whether the provider lists it or not: billed to nobody since the request, and
            /// most likely still paid at the provider, which keeps refusing the DELETE (reconciliation tries it again
            /// every pass, never giving up nor withdrawing it). Also a past-due number whose grace period ended longer
            /// ago than that and is still held: the provider refuses its grace release, which billing withdraws and
            /// asks again every hour or so (`billing.graceReleaseRetryMaxSeconds`), the number paid at the provider
            /// every month by numberd, its customer no longer billed. Not a difference of the two sides' listings, but
            /// the one place such a release is named; release it in the provider's console, and the next pass
            /// (reconciliation's, or billing's next grace release) records it.
            case releaseStuck = "release_stuck"
            /// Owned at the provider and reserved by a purchase opened longer ago than
            /// ``NumberServiceConfig/Audit/releasePendingMaxSeconds`` that is being undone (compensating) and still
            /// not settled: one whose compensating DELETE the provider keeps refusing (reconciliation tries it again every pass, never giving
            /// up), the number paid at the provider and the buyer's money held. Release it in the provider's console:
            /// the next reconciliation pass voids the purchase, charging nothing, and lets the hold go.
            case purchaseStuck = "purchase_stuck"
            /// A trunk numberd records whose provider SID the provider does not list: numbers routed to it (and
            /// purchases naming it) do not reach the customer's SIP endpoint. Found for providers that list trunks.
            case trunkMissing = "trunk_missing"
            /// A trunk at the provider named as numberd names the trunks it creates (`TRK_… name`) that no trunk in the
            /// store has: one whose creation numberd could not record (nor delete), or a store restored from a backup
            /// older than it. Trunks named otherwise are the operator's, registered by SID or not: not reported.
            case trunkUnrecorded = "trunk_unrecorded"

            public static func < (lhs: Kind, rhs: Kind) -> Bool {
                allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
            }
        }

        /// How.
        public var kind: Kind
        /// The number (E.164); empty for a trunk's difference.
        public var phoneNumber: String
        /// The provider's SID of it (`unowned`, `sid_differs`, `trunk_differs`, `purchase_stuck`), or numberd's
        /// (`missing`, `release_stuck`); a trunk's SID (`trunk_missing`, `trunk_unrecorded`).
        public var providerSid: String
        /// numberd's number id, when numberd holds it.
        public var numberId: String?
        /// The account holding it through numberd (for `purchase_stuck`, the buyer).
        public var accountId: String?
        /// numberd's trunk id: the recorded trunk (`trunk_missing`), or the one its name at the provider gives
        /// (`trunk_unrecorded`).
        public var trunkId: String? = nil
        /// The purchase intent (`PIN_…`) reserving it (`purchase_stuck`).
        public var intentId: String? = nil

        /// Whether this is about a trunk, not a number.
        public var isTrunk: Bool { kind == .trunkMissing || kind == .trunkUnrecorded }

        public var description: String {
            "\(kind.rawValue) \(isTrunk ? "" : phoneNumber + " ")\(providerSid)"
                + (numberId.map { " \($0)" } ?? "") + (trunkId.map { " \($0)" } ?? "")
                + (intentId.map { " \($0)" } ?? "") + (accountId.map { " of \($0)" } ?? "")
        }
    }

    /// Numbers the provider account owned (the second listing).
    public var providerNumbers = 0
    /// Numbers held through numberd when the second listing started.
    public var heldNumbers = 0
    /// Trunks the provider account has (the second listing), nil when the provider does not list trunks.
    public var providerTrunks: Int?
    /// Differences seen by both listings, by kind (every kind present, 0 when none).
    public var counts: [Difference.Kind: Int] = Dictionary(
        uniqueKeysWithValues: Difference.Kind.allCases.map { ($0, 0) })
    /// The first `audit.differencesListedMax` of each kind (by number), trunks first, then by kind and number: a kind
    /// with many (every number `unowned` after an empty data directory was started on the account) crowds no other
    /// kind out. The rest are only counted: no list of them is kept, not even in the log.
    public var differences: [Difference] = []

    /// Whether both sides agree.
    public var isClean: Bool { counts.values.allSatisfy { $0 == 0 } }

    /// An empty report.
    public init() {}
}

/// A provider audit that ran to its end, kept for GetProviderAudit (``NumberService/lastProviderAudit``).
public struct FinishedProviderAudit: Sendable, Hashable {
    /// What it found.
    public var report: ProviderAuditReport
    /// When its second listing ended.
    public var finishedAt: Date
}

/// A provider audit that could not finish, kept for GetProviderAudit (``NumberService/lastProviderAuditFailure``)
/// until one finishes after it: an operator's `audit --run` that failed was seen nowhere but in a log line, and the
/// audit before it was shown as if it were the latest.
public struct ProviderAuditFailure: Sendable, Hashable {
    /// When it ended.
    public var failedAt: Date
    /// Why, in the provider's (or the store's) words.
    public var reason: String
}

/// An audit that could not run to its end.
public struct ProviderAuditError: Error, Sendable, CustomStringConvertible {
    /// Why.
    public var description: String
    /// Whether it did not start because another audit is running (a periodic run then has nothing to do).
    public var alreadyRunning = false
}

extension NumberService {
    /// Compares every number the provider account owns with what the store holds, and reports where they disagree
    /// (``ProviderAuditReport/Difference/Kind``), whatever caused it: a bug, a purchase or release made in the
    /// provider's console, a data directory restored from a backup, another system sharing the provider account.
    /// Nothing is changed on either side: what to do about a difference is an operator's call (releasing an "unowned"
    /// number that a stale store no longer knows could cut off a customer).
    ///
    /// The provider's lists lag its purchases and releases by seconds, and purchases, releases and trunk changes go
    /// on meanwhile; so the account is listed twice, `recheckAfter` apart, each listing compared with the store as it
    /// stands then, and only differences both listings show are reported. A number in flight — reserved by an open
    /// purchase, watched after a voided one, its release requested — is left out, except a release requested more
    /// than `audit.releasePendingMaxSeconds` ago, or a past-due number's grace release due that long ago, which is
    /// reported `release_stuck`, and a number reserved by a purchase opened that long ago and being undone,
    /// `purchase_stuck`. One audit
    /// at a time; the listing is bounded by `audit.numbersMax` and `audit.pagesMax`. Throws ``ProviderAuditError`` (or
    /// the provider's error) when it cannot finish.
    public func auditProvider(recheckAfter: Duration = .seconds(60)) async throws -> ProviderAuditReport {
        guard claimAudit() else {
            throw ProviderAuditError(description: "a provider audit is already running", alreadyRunning: true)
        }
        return try await runClaimedAudit(recheckAfter: recheckAfter)
    }

    /// Takes the one-at-a-time claim of a provider audit, stamping when it started; false when one runs.
    private func claimAudit() -> Bool {
        let started = now()
        return local.withLock { local in
            guard !local.auditing else { return false }
            local.auditing = true
            local.auditStartedAt = started
            return true
        }
    }

    /// Starts ``auditProvider(recheckAfter:)`` in a task of its own unless an audit is running (nil then): what an
    /// operator's RunProviderAudit does, answered at once while the audit takes its two listings' time.
    public func startProviderAudit(recheckAfter: Duration) -> Task<ProviderAuditReport, any Error>? {
        guard claimAudit() else { return nil }
        return Task { try await self.runClaimedAudit(recheckAfter: recheckAfter) }
    }

    /// Runs the audit whose one-at-a-time claim the caller took, and lets the claim go — in the same hold of the lock
    /// that publishes the finished audit, so whoever sees it finished may start the next.
    private func runClaimedAudit(recheckAfter: Duration) async throws -> ProviderAuditReport {
        let report: ProviderAuditReport
        do {
            report = try await runAudit(recheckAfter: recheckAfter)
        } catch {
            // Cut short by a stop (cancelled, whatever the provider's client then threw): not a failure of the audit.
            let failure = Task.isCancelled ? nil : ProviderAuditFailure(failedAt: now(), reason: "\(error)")
            local.withLock { local in
                if let failure { local.lastAuditFailure = failure }
                local.auditing = false
                local.auditStartedAt = nil
            }
            throw error
        }
        let finished = FinishedProviderAudit(report: report, finishedAt: now())
        local.withLock { local in
            local.lastAudit = finished
            local.lastAuditFailure = nil
            local.auditing = false
            local.auditStartedAt = nil
        }
        return report
    }

    /// The audit itself; the caller holds the one-at-a-time claim.
    private func runAudit(recheckAfter: Duration) async throws -> ProviderAuditReport {
        let listedMax = config.audit.differencesListedMax
        let first = try await auditPass(AuditFindings(confirming: nil, listedMax: listedMax))
        try await Task.sleep(for: recheckAfter)
        let second = try await auditPass(AuditFindings(confirming: first.findings.keys, listedMax: listedMax))
        var report = ProviderAuditReport()
        report.providerNumbers = second.providerNumbers
        report.heldNumbers = second.heldNumbers
        // Compared only when both listings listed them (a difference needs both to confirm it).
        report.providerTrunks = first.providerTrunks == nil ? nil : second.providerTrunks
        for (kind, count) in second.findings.counts { report.counts[kind, default: 0] += count }
        report.differences = second.findings.listedInOrder
        return report
    }

    /// What a pass keeps of its differences. The first pass (`confirming` nil) keeps their keys alone; the second,
    /// given those, keeps only the differences both found — each counted once by kind, and the first `listedMax` of
    /// each kind by number: a cap on all kinds together let 150 `unowned` crowd out every `missing` (a customer billed
    /// for a number the provider no longer has), listed and logged nowhere. Not every difference whole, twice: an
    /// empty data directory started on a production account finds every number `unowned`, hundreds of bytes each,
    /// which at a million numbers was most of a gigabyte.
    struct AuditFindings {
        let confirming: Set<String>?
        let listedMax: Int
        private(set) var keys = Set<String>()
        private(set) var counts: [ProviderAuditReport.Difference.Kind: Int] = [:]
        private var listed: [ProviderAuditReport.Difference.Kind: [ProviderAuditReport.Difference]] = [:]

        init(confirming: Set<String>?, listedMax: Int) {
            self.confirming = confirming
            self.listedMax = max(0, listedMax)
        }

        mutating func add(_ difference: ProviderAuditReport.Difference) {
            let key = NumberService.key(difference)
            if let confirming, !confirming.contains(key) { return }
            guard keys.insert(key).inserted, confirming != nil else { return }
            counts[difference.kind, default: 0] += 1
            var kept = listed.removeValue(forKey: difference.kind) ?? []
            kept.append(difference)
            // Sorted and cut now and then, so at most twice the listed number of each kind are held.
            if kept.count >= 2 * max(listedMax, 1) { kept = Self.first(listedMax, of: kept) }
            listed[difference.kind] = kept
        }

        /// The differences listed — the first `listedMax` of each kind — in the report's order.
        var listedInOrder: [ProviderAuditReport.Difference] {
            Self.inReportOrder(listed.values.flatMap { Self.first(listedMax, of: $0) })
        }

        private static func first(
            _ count: Int, of differences: [ProviderAuditReport.Difference]
        ) -> [ProviderAuditReport.Difference] {
            Array(inReportOrder(differences).prefix(count))
        }

        /// Trunks first (few, and read first), then by kind, number and SID.
        private static func inReportOrder(
            _ differences: [ProviderAuditReport.Difference]
        ) -> [ProviderAuditReport.Difference] {
            differences.sorted {
                ($0.isTrunk ? 0 : 1, $0.kind, $0.phoneNumber, $0.providerSid)
                    < ($1.isTrunk ? 0 : 1, $1.kind, $1.phoneNumber, $1.providerSid)
            }
        }
    }

    /// The last provider audit that ran to its end in this process (nil before the first: audits start some minutes
    /// after numberd does, or are off).
    public var lastProviderAudit: FinishedProviderAudit? { local.withLock { $0.lastAudit } }

    /// The provider audits at one moment (one hold of the lock: the last finished and the last failure read apart
    /// could pair findings newer than a failure with it): the last that finished, when the one running started (nil:
    /// none runs), and the last that could not finish unless one finished after it.
    public var providerAuditStatus:
        (finished: FinishedProviderAudit?, runningSince: Date?, failure: ProviderAuditFailure?)
    {
        local.withLock { ($0.lastAudit, $0.auditing ? $0.auditStartedAt : nil, $0.lastAuditFailure) }
    }

    /// One listing of the provider account compared with the store, its differences added to `findings`.
    private func auditPass(
        _ findings: AuditFindings
    ) async throws -> (
        findings: AuditFindings, providerNumbers: Int, heldNumbers: Int, providerTrunks: Int?
    ) {
        var findings = findings
        let limits = config.audit
        // Held before the listing starts: a number still held by the same id after it ended was held throughout,
        // so the listing should have shown it.
        let heldBefore = try coordinator.read { state in Array(state.phoneOwners) }
        // A release requested at or before this has been pending too long (numbers being released are still held),
        // and so has a purchase opened by then.
        let started = now()
        let stuckIfRequestedBy = started.addingTimeInterval(-TimeInterval(limits.releasePendingMaxSeconds))
        // A past-due number marked at or before this was due its grace release that long ago: its grace period counted
        // as billing counts it (numberd's downtimes and the times writes found no room left out), so a number whose
        // customer could not pay while numberd was down is not named before billing would release it.
        let overdueIfPastDueBy = graceDowntimes(at: started).graceOver(
            at: stuckIfRequestedBy, grace: config.billing.gracePeriodSeconds)
        var seen = Set<String>()
        var pages = 0
        try await provider.listOwned { numbers in
            pages += 1
            guard pages <= limits.pagesMax else {
                throw ProviderAuditError(description: "the provider's listing took more than \(limits.pagesMax) pages")
            }
            guard seen.count + numbers.count <= limits.numbersMax else {
                throw ProviderAuditError(
                    description: "the provider account owns more than \(limits.numbersMax) numbers (audit.numbersMax)")
            }
            // Numbers a running call is re-routing: the provider may route them to the new trunk before the store
            // records it (a lost answer's look-up takes minutes), which is no difference to report.
            let routing = local.withLock { Set($0.routing.keys) }
            let watchedSince = now().addingTimeInterval(-Double(config.reconcile.orphanWatchSeconds))
            let found = try coordinator.read { state in
                numbers.compactMap {
                    Self.difference(
                        $0, in: state, routing: routing, watchedSince: watchedSince,
                        stuckIfOpenedBy: stuckIfRequestedBy)
                }
            }
            for number in numbers { seen.insert(number.phoneNumber) }
            for difference in found { findings.add(difference) }
        }
        // In chunks, so readers and commits wait for one chunk's look-ups at most, not for the whole store's.
        var index = 0
        while index < heldBefore.count {
            let chunk = heldBefore[index..<min(index + 10_000, heldBefore.count)]
            index = chunk.endIndex
            let missing = try coordinator.read { state in
                chunk.compactMap { phone, id -> ProviderAuditReport.Difference? in
                    guard state.phoneOwners[phone] == id, let number = state.numbers[id] else { return nil }
                    let kind: ProviderAuditReport.Difference.Kind
                    if let requested = number.releaseRequestedAt {
                        // In flight, unless for too long.
                        guard requested <= stuckIfRequestedBy else { return nil }
                        kind = .releaseStuck
                    } else if number.status == .pastDue, let since = number.pastDueSince, since <= overdueIfPastDueBy {
                        // Its grace release is that late: the provider refused it (a refused one is withdrawn, so
                        // no release is requested), or billing cannot reach the provider. Whatever the provider lists.
                        kind = .releaseStuck
                    } else {
                        guard !seen.contains(phone) else { return nil }
                        kind = .missing
                    }
                    return ProviderAuditReport.Difference(
                        kind: kind, phoneNumber: phone, providerSid: number.providerSid, numberId: id,
                        accountId: number.accountId)
                }
            }
            for difference in missing { findings.add(difference) }
        }
        var providerTrunks: Int?
        if provider.listsTrunks {
            do {
                let trunks = try await auditTrunks()
                providerTrunks = trunks.listed
                for difference in trunks.differences { findings.add(difference) }
            } catch {
                // The numbers' comparison stands; the report says the trunks were not compared (`providerTrunks` nil).
                logger.warning("the provider audit could not list the trunks", metadata: ["error": "\(error)"])
            }
        }
        return (findings, seen.count, heldBefore.count, providerTrunks)
    }

    /// The provider's trunks compared with the store's: recorded ones it does not list (recorded before the listing
    /// started and still, with the same SID, after it ended: the listing should have shown them), and ones named as
    /// numberd names its trunks that no recorded trunk has — unless a call is creating or deleting it right now. At
    /// most `audit.pagesMax` pages and `audit.numbersMax` trunks. SIDs are compared by ``Trunk/sidKey(_:)``: a record
    /// from before SIDs were kept in lower case, `TK…ABCDEF`, is the trunk Twilio lists as `TK…abcdef` (it was
    /// reported `trunk_missing` at every audit).
    private func auditTrunks() async throws -> (differences: [ProviderAuditReport.Difference], listed: Int) {
        let recordedBefore = try coordinator.read { state in state.trunks.values.map { ($0.id, $0.providerTrunkSid) } }
        // Each listed trunk's SID and the numberd trunk id its name starts with, if any: the names themselves (as long
        // as Twilio sends them) are not kept.
        var listed: [String: String?] = [:]
        var pages = 0
        try await provider.listTrunks { trunks in
            pages += 1
            guard pages <= config.audit.pagesMax else {
                throw ProviderAuditError(description: "the trunk listing took more than \(config.audit.pagesMax) pages")
            }
            guard listed.count + trunks.count <= config.audit.numbersMax else {
                throw ProviderAuditError(
                    description: "the provider account has more than \(config.audit.numbersMax) trunks")
            }
            for trunk in trunks { listed[trunk.sid] = trunk.friendlyName.flatMap(Self.numberdTrunkId) }
        }
        let listedKeys = Set(listed.keys.map(Trunk.sidKey))
        let differences = try coordinator.read { state in
            let recordedKeys = Set(state.trunks.values.map(\.providerTrunkSidKey))
            var found: [ProviderAuditReport.Difference] = []
            for (id, sid) in recordedBefore where !listedKeys.contains(Trunk.sidKey(sid)) {
                guard let trunk = state.trunks[id], trunk.providerTrunkSid == sid else { continue }
                found.append(
                    ProviderAuditReport.Difference(
                        kind: .trunkMissing, phoneNumber: "", providerSid: sid, accountId: trunk.accountId, trunkId: id)
                )
            }
            let inFlight = local.withLock { $0.trunksInFlight }
            for (sid, id) in listed where !recordedKeys.contains(Trunk.sidKey(sid)) && !inFlight.contains(sid) {
                guard let id, !inFlight.contains(id) else { continue }
                found.append(
                    ProviderAuditReport.Difference(
                        kind: .trunkUnrecorded, phoneNumber: "", providerSid: sid, trunkId: id))
            }
            return found
        }
        return (differences, listed.count)
    }

    /// The trunk id a provider trunk's name starts with when numberd named it (``providerTrunkName(id:name:)``:
    /// `TRK_` and the id's base-32 characters, then a space), else nil.
    static func numberdTrunkId(_ friendlyName: String) -> String? {
        let head = Identifier.trunk + "_"
        guard friendlyName.hasPrefix(head), let space = friendlyName.firstIndex(of: " ") else { return nil }
        let id = friendlyName[..<space]
        let tail = id.dropFirst(head.count)
        let alphabet = Set("\(Crypto.base32Alphabet)")
        guard tail.count == Identifier.randomLength, tail.allSatisfy(alphabet.contains) else { return nil }
        return String(id)
    }

    /// How the provider's `number` disagrees with `state`, if it does; the trunks of the numbers in `routing` (being
    /// re-routed) are not compared, nor that of a number the provider routes as its open trunk change asked. A watched number is in flight only while its watch is younger than its window
    /// (began after `watchedSince`): one the sweep has been unable to release past it (Twilio refusing its DELETE) is a
    /// number paid with no owner, which nothing else would name. Likewise a reserved number only while its purchase was
    /// opened after `stuckIfOpenedBy`: one stuck compensating (Twilio refusing its DELETE) is `purchase_stuck`.
    private static func difference(
        _ number: ProvisionedNumber, in state: CoreState, routing: Set<String>, watchedSince: Date,
        stuckIfOpenedBy: Date
    ) -> ProviderAuditReport.Difference? {
        let phone = number.phoneNumber
        guard let id = state.phoneOwners[phone], let held = state.numbers[id] else {
            // In flight: a purchase reserves it, or a voided purchase's watch will release it if it landed.
            if let intentId = state.reservations[phone] {
                // Only one compensating: an open one whose numbers are all bought may wait a day to commit (a full
                // disk, a re-route unanswered), and releasing its numbers, as `purchase_stuck`'s advice says, would
                // void a purchase Twilio completed.
                guard let intent = state.intents[intentId], intent.status == .compensating,
                    intent.createdAt <= stuckIfOpenedBy
                else { return nil }
                return ProviderAuditReport.Difference(
                    kind: .purchaseStuck, phoneNumber: phone, providerSid: number.sid, accountId: intent.accountId,
                    intentId: intent.id)
            }
            if let watch = state.orphanWatch[phone], watch.since > watchedSince { return nil }
            return ProviderAuditReport.Difference(kind: .unowned, phoneNumber: phone, providerSid: number.sid)
        }
        guard held.releaseRequestedAt == nil else { return nil }
        let kind: ProviderAuditReport.Difference.Kind
        let shown = number.trunkSid.map(Trunk.sidKey)
        // Routed as an open change of it asked (``OwnedNumber/routeRequest``, or one it replaced): reconciliation
        // records that trunk.
        let asked = held.routeRequest.map { request in
            Set(
                (request.earlier + [request.trunkId ?? ""]).map {
                    $0.isEmpty ? nil : state.trunks[$0]?.providerTrunkSidKey
                })
        }
        if held.providerSid != number.sid {
            kind = .sidDiffers
        } else if !routing.contains(id), asked?.contains(shown) != true,
            held.trunkId.flatMap({ state.trunks[$0]?.providerTrunkSidKey }) != shown
        {
            kind = .trunkDiffers
        } else {
            return nil
        }
        return ProviderAuditReport.Difference(
            kind: kind, phoneNumber: phone, providerSid: number.sid, numberId: id, accountId: held.accountId)
    }

    /// A recorded trunk by its id (two ids may name one SID), a provider's trunk by its SID, a number by itself.
    static func key(_ difference: ProviderAuditReport.Difference) -> String {
        let subject: String
        switch difference.kind {
        case .trunkMissing: subject = difference.trunkId ?? difference.providerSid
        case .trunkUnrecorded: subject = difference.providerSid
        default: subject = difference.phoneNumber
        }
        return difference.kind.rawValue + " " + subject
    }
}
