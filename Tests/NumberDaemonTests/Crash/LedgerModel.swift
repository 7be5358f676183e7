import Foundation
import NumberAPI
import NumberCore
import Synchronization
import TwilioSimulator

/// What a client heard back from one operation.
enum Heard: Sendable, Equatable {
    /// A success answer: the operation happened and must be in every later state.
    case acknowledged
    /// A definite error from the service: the operation did nothing.
    case refused
    /// No answer (connection lost, server killed, timeout) or an "outcome unknown" error: it may have happened.
    case maybe

    /// Classifies a failed call: only the service's definite refusals count as "did nothing".
    static func classify(_ error: any Error) -> Heard {
        guard let rpc = error as? RPCError, rpc.reason != "OUTCOME_UNKNOWN" else { return .maybe }
        let definite: [StatusCode] = [
            .invalidArgument, .notFound, .alreadyExists, .permissionDenied, .resourceExhausted, .failedPrecondition,
            .outOfRange, .unauthenticated,
        ]
        // The saga answers these only after undoing what it did at the provider (nothing is charged).
        let providerDefinite = ["PROVIDER_UNAVAILABLE", "PROVIDER_MISCONFIGURED", "PROVIDER_RATE_LIMITED"]
        return definite.contains(rpc.code) || providerDefinite.contains(rpc.reason) ? .refused : .maybe
    }
}

/// An independent model of what clients asked one account to do and what they heard, checked against the
/// durable state: acknowledged operations must be there, refused ones must not, "maybe" ones either way, each
/// all or nothing, and nothing else may be there.
final class AccountModel: Sendable {
    /// AddFunds, or with `adjustment` an AdjustBalance (a credit or a debit), under its idempotency key.
    struct Funds: Sendable {
        var key: String
        var amount: Int64
        var heard: Heard
        var adjustment = false
    }

    struct Purchase: Sendable {
        var phones: [String]
        var heard: Heard
        /// From the answer, when acknowledged.
        var numberIds: [String] = []
        var charged: Int64 = 0
        /// The error, when one came back.
        var error: String = ""
        /// An AdoptNumber of a number bought at the provider behind numberd's back (one phone, a purchase's charge),
        /// under this idempotency key: a "maybe" one is run again under it until heard (``unsettledAdoptions()``).
        var adoptionKey: String? = nil
        /// An acknowledged adoption's answer said `replayed`.
        var replayed = false
        /// The purchase made again of phones an earlier purchase heard "maybe" for (``queueRebuy(_:)``): refused
        /// `NUMBER_UNAVAILABLE`, its phones may be held all the same, by that earlier purchase.
        var rebuy = false

        /// Refused as a number not to be had (numberd's own refusal, or Twilio's 21422): nothing was bought.
        var refusedUnavailable: Bool { heard == .refused && error.contains("NUMBER_UNAVAILABLE") }
    }

    struct Release: Sendable {
        var numberId: String
        var heard: Heard
        var refund: Int64 = 0
    }

    /// An UpdateNumber of one of the account's numbers: onto the trunk `trunkId`, or off its trunk ("").
    struct TrunkChange: Sendable {
        var numberId: String
        var trunkId: String
        var heard: Heard
        var error: String = ""
    }

    struct Inner {
        var funds: [Funds] = []
        var purchases: [Purchase] = []
        var releases: [Release] = []
        /// Numbers acknowledged as bought and not yet asked to be released (what a worker may release).
        var releasable: [String] = []
        /// Phones of "maybe" purchases once seen committed: they must stay.
        var seenCommitted: Set<String> = []
        /// The phones of adoptions last heard "maybe", by their idempotency key.
        var unsettledAdoptions: [String: String] = [:]
        /// The last adoption heard acknowledged: its key, phone and number.
        var lastAdoption: (key: String, phone: String, numberId: String)?
        /// Per number, the trunk its last acknowledged change left it on ("" none; a number never changed is on none),
        /// and the target of a change heard "maybe" since, which a restart runs again.
        var routes: [String: String] = [:]
        var unsettledRoutes: [String: String] = [:]
        /// What the clients saw go wrong that the state would not show: an acknowledged trunk change whose answer
        /// showed the number elsewhere, a refused adoption, a number the storm could not buy at the simulator.
        var seenWrong: [String] = []
        /// What trunk changes heard.
        var trunkChangesHeard: [Heard: Int] = [:]
        /// Phones of purchases heard "maybe", to be bought again by the account (``takeRebuy()``).
        var rebuys: [[String]] = []
    }

    let accountId: String
    let key: String
    let inner = Mutex(Inner())

    init(accountId: String, key: String) {
        self.accountId = accountId
        self.key = key
    }

    func record(_ funds: Funds) { inner.withLock { $0.funds.append(funds) } }

    func record(_ purchase: Purchase) {
        inner.withLock { inner in
            inner.purchases.append(purchase)
            if purchase.heard == .acknowledged { inner.releasable.append(contentsOf: purchase.numberIds) }
            if let key = purchase.adoptionKey {
                // Nothing the storm does makes numberd refuse an adoption: one refused is a problem (its number
                // would only show at the end, owned at the provider by nobody).
                if purchase.heard == .refused {
                    inner.seenWrong.append("adoption \(key) of \(purchase.phones) refused: \(purchase.error)")
                }
                inner.unsettledAdoptions[key] = purchase.heard == .maybe ? purchase.phones.first : nil
                if purchase.heard == .acknowledged, let phone = purchase.phones.first,
                    let numberId = purchase.numberIds.first
                {
                    inner.lastAdoption = (key, phone, numberId)
                }
            }
        }
    }

    /// Queues `phones`, of a purchase heard "maybe", to be bought again (once) as a caller retrying would.
    func queueRebuy(_ phones: [String]) { inner.withLock { $0.rebuys.append(phones) } }

    /// The phones of the oldest purchase queued to be bought again, taken off the queue.
    func takeRebuy() -> [String]? {
        inner.withLock { $0.rebuys.isEmpty ? nil : $0.rebuys.removeFirst() }
    }

    /// What the clients asked of `phone` and heard, in order: for a problem's report.
    func history(of phone: String) -> [String] {
        inner.withLock { inner in
            let purchases = inner.purchases.filter { $0.phones.contains(phone) }
            let numberIds = Set(purchases.flatMap(\.numberIds))
            return purchases.map {
                "\($0.adoptionKey == nil ? ($0.rebuy ? "bought again" : "bought") : "adopted") \($0.phones): \($0.heard) "
                    + "\($0.numberIds) \($0.error)"
            } + inner.releases.filter { numberIds.contains($0.numberId) }.map { "released \($0.numberId): \($0.heard)" }
        }
    }

    /// Purchases made again (``queueRebuy(_:)``) that were acknowledged.
    func rebuysAcknowledged() -> Int {
        inner.withLock { inner in inner.purchases.count { $0.rebuy && $0.heard == .acknowledged } }
    }

    /// Takes `numberId` off the numbers a worker may release or move (it is being released now).
    func takeReleasable(_ numberId: String) {
        inner.withLock { inner in inner.releasable.removeAll { $0 == numberId } }
    }

    /// Per phone, the purchases the clients asked of numberd that may have POSTed it to the provider (once each): not
    /// adoptions (they buy nothing), not purchases refused as unavailable.
    func purchasesAsked() -> [String: Int] {
        inner.withLock { inner in
            inner.purchases.filter { $0.adoptionKey == nil && !$0.refusedUnavailable }.reduce(into: [String: Int]()) {
                asked, purchase in
                for phone in purchase.phones { asked[phone, default: 0] += 1 }
            }
        }
    }

    /// The last adoption heard acknowledged: (idempotency key, phone number, number id).
    func lastAdoption() -> (key: String, phone: String, numberId: String)? { inner.withLock { $0.lastAdoption } }

    /// Adoptions last heard "maybe": (idempotency key, phone number), to be run again under their key.
    func unsettledAdoptions() -> [(key: String, phone: String)] {
        inner.withLock { $0.unsettledAdoptions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    func record(_ release: Release) { inner.withLock { $0.releases.append(release) } }

    func record(_ change: TrunkChange) {
        inner.withLock { inner in
            inner.trunkChangesHeard[change.heard, default: 0] += 1
            switch change.heard {
            case .acknowledged:
                inner.routes[change.numberId] = change.trunkId
                inner.unsettledRoutes[change.numberId] = nil
                if !change.error.isEmpty {
                    inner.seenWrong.append(
                        "trunk change of \(change.numberId) to \"\(change.trunkId)\" \(change.error)")
                }
            case .maybe: inner.unsettledRoutes[change.numberId] = change.trunkId
            case .refused: break  // nothing done; a change heard "maybe" before stays to be settled
            }
        }
    }

    /// One of the numbers a worker may release (left there), and the trunk it is on as far as the model knows ("": none).
    func pickHeld(_ pick: (Int) -> Int) -> (numberId: String, trunkId: String)? {
        inner.withLock { inner in
            guard !inner.releasable.isEmpty else { return nil }
            let numberId = inner.releasable[pick(inner.releasable.count)]
            return (numberId, inner.unsettledRoutes[numberId] ?? inner.routes[numberId] ?? "")
        }
    }

    /// Trunk changes heard acknowledged.
    func trunkChangesAcknowledged() -> Int { inner.withLock { $0.trunkChangesHeard[.acknowledged] ?? 0 } }

    /// Trunk changes last heard "maybe": (number id, target trunk id or ""), to be made again.
    func unsettledTrunkChanges() -> [(numberId: String, trunkId: String)] {
        inner.withLock { $0.unsettledRoutes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }

    /// Takes a number to release (it is never offered again, whatever the release's outcome); not one whose trunk change
    /// is unsettled (a client timeout while numberd lived): the restart makes that change again, on a number held.
    func takeReleasable(_ pick: (Int) -> Int) -> String? {
        inner.withLock { inner in
            let offered = inner.releasable.indices.filter { inner.unsettledRoutes[inner.releasable[$0]] == nil }
            guard !offered.isEmpty else { return nil }
            return inner.releasable.remove(at: offered[pick(offered.count)])
        }
    }

    /// Something the storm's client saw go wrong that no check of the state would show: reported by ``check(_:charge:settled:billed:)``.
    func recordProblem(_ text: String) { inner.withLock { $0.seenWrong.append(text) } }

    /// Counts of what purchases heard.
    func purchaseCounts() -> [Heard: Int] {
        inner.withLock { inner in
            inner.purchases.reduce(into: [Heard: Int]()) { counts, purchase in counts[purchase.heard, default: 0] += 1 }
        }
    }

    /// Counts of what was heard, for the report.
    func counts() -> [Heard: Int] {
        inner.withLock { inner in
            var counts: [Heard: Int] = [:]
            for heard in inner.funds.map(\.heard) + inner.purchases.map(\.heard) + inner.releases.map(\.heard) {
                counts[heard, default: 0] += 1
            }
            return counts.merging(inner.trunkChangesHeard, uniquingKeysWith: +)
        }
    }

    /// Checks `state` against the model; `settled` also demands nothing open (after reconciliation); `billed` lets
    /// renewals be in the ledger and past-due numbers released by the grace period (a storm whose clock passed billing
    /// dates, which checks them itself: the model does not foresee them). `charge` is the price of one number (setup
    /// fee + first month). Returns the problems found.
    func check(_ state: CoreState, charge: Int64, settled: Bool, billed: Bool = false) -> [String] {
        inner.withLock { inner in check(&inner, state, charge: charge, settled: settled, billed: billed) }
    }

    private func check(
        _ model: inout Inner, _ state: CoreState, charge: Int64, settled: Bool, billed: Bool
    ) -> [String] {
        var problems: [String] = []
        func fail(_ text: String) { problems.append("\(accountId): \(text)") }
        guard let account = state.accounts[accountId] else { return ["\(accountId): account missing"] }
        let transactions = state.transactions[accountId] ?? []
        let sum = transactions.reduce(Int64(0)) { $0 + $1.amount }
        if sum != account.balance { fail("balance \(account.balance) != sum of transactions \(sum)") }
        if settled && account.held != 0 { fail("\(account.held) still held after reconciliation") }

        // Funds and adjustments: one transaction per operation that happened, keyed by its idempotency key.
        let fundsByKey = Dictionary(
            grouping: transactions.filter { $0.kind == .fundsAdded || $0.kind == .adjustment }, by: \.idempotencyKey)
        let modelFunds = Dictionary(model.funds.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        for (key, found) in fundsByKey {
            guard let key, let funds = modelFunds[key] else {
                fail("funds transaction nobody asked for (key \(key ?? "none"))")
                continue
            }
            if found.count != 1 { fail("funds \(key) credited \(found.count) times") }
            if found.first?.amount != funds.amount { fail("funds \(key) credited \(found.first?.amount ?? 0)") }
            if funds.heard == .refused { fail("refused funds \(key) credited") }
            if (found.first?.kind == .adjustment) != funds.adjustment {
                fail("funds \(key) posted as \(found[0].kind)")
            }
        }
        for funds in model.funds where funds.heard == .acknowledged && fundsByKey[funds.key] == nil {
            fail("acknowledged funds \(funds.key) lost")
        }

        // Purchases: every number of the account comes from one operation, all of whose numbers are there.
        let owned = (state.accountNumbers[accountId] ?? []).compactMap { state.numbers[$0] }
        let ownedByPhone = Dictionary(owned.map { ($0.phoneNumber, $0) }, uniquingKeysWith: { first, _ in first })
        if ownedByPhone.count != owned.count { fail("a phone number is owned twice") }
        let debits = Dictionary(grouping: transactions.filter { $0.kind == .purchase }, by: { $0.numberId ?? "" })
        var explained = Set<String>()
        for purchase in model.purchases {
            let present = purchase.phones.filter { ownedByPhone[$0] != nil }
            explained.formUnion(present)
            if !present.isEmpty && present.count != purchase.phones.count {
                fail("purchase \(purchase.phones) half done: \(present)")
            }
            switch purchase.heard {
            case .acknowledged:
                if present.count != purchase.phones.count { fail("acknowledged purchase \(purchase.phones) lost") }
                // The answer names one number per phone, the ones the state holds (an answer short of an id, or
                // without any, went unnoticed while the comparison ran only on equal counts).
                let ids = purchase.phones.compactMap { ownedByPhone[$0]?.id }
                if purchase.numberIds.count != purchase.phones.count || Set(ids) != Set(purchase.numberIds) {
                    fail("purchase \(purchase.phones) answered ids \(purchase.numberIds), state has \(ids)")
                }
                if purchase.charged != charge * Int64(purchase.phones.count) {
                    fail("purchase \(purchase.phones) answered a charge of \(purchase.charged)")
                }
            case .refused:
                // A purchase made again is refused as unavailable when the first, heard "maybe", holds the phones.
                if !present.isEmpty && !(purchase.rebuy && purchase.refusedUnavailable) {
                    fail("refused purchase \(purchase.phones) happened")
                }
            case .maybe:
                guard let first = purchase.phones.first else {
                    fail("a purchase of no numbers was recorded")
                    continue
                }
                if present.isEmpty, model.seenCommitted.contains(first) {
                    fail("purchase \(purchase.phones) was committed, then vanished")
                }
                if !present.isEmpty { model.seenCommitted.insert(first) }
            }
        }
        for number in owned {
            if !explained.contains(number.phoneNumber) { fail("number \(number.phoneNumber) nobody bought") }
            let debit = debits[number.id] ?? []
            if debit.count != 1 || debit.first?.amount != -charge {
                fail("number \(number.phoneNumber) debited \(debit.map(\.amount)) (expected one of \(-charge))")
            }
        }
        for (numberId, _) in debits where !owned.contains(where: { $0.id == numberId }) {
            fail("debit for \(numberId), which the account does not own")
        }

        // Releases: a released number has a release operation; at most one refund each, never above the fee.
        let refunds = Dictionary(grouping: transactions.filter { $0.kind == .refund }, by: { $0.numberId ?? "" })
        let releases = Dictionary(model.releases.map { ($0.numberId, $0) }, uniquingKeysWith: { first, _ in first })
        for number in owned {
            let refund = refunds[number.id] ?? []
            if refund.count > 1 { fail("number \(number.id) refunded \(refund.count) times") }
            if let amount = refund.first?.amount, amount < 0 || amount > number.monthlyFee {
                fail("number \(number.id) refund \(amount) outside 0...\(number.monthlyFee)")
            }
            if number.status == .released {
                // With billing (`billed`), a past-due number may be released by the grace period, which nobody asked.
                let byGrace = billed && number.releaseRequestedBy == .gracePeriod && number.pastDueSince != nil
                if releases[number.id] == nil && !byGrace { fail("number \(number.id) released without a request") }
                if number.refundTransactionId != refund.first?.id { fail("number \(number.id) refund not linked") }
            } else {
                if !refund.isEmpty { fail("number \(number.id) refunded but not released") }
                if settled && number.releaseRequestedAt != nil { fail("number \(number.id) release left pending") }
            }
        }
        for release in model.releases {
            let number = state.numbers[release.numberId]
            switch release.heard {
            case .acknowledged:
                if number?.status != .released { fail("acknowledged release of \(release.numberId) lost") }
                if (refunds[release.numberId]?.first?.amount ?? 0) != release.refund {
                    fail("release of \(release.numberId) answered refund \(release.refund)")
                }
            case .refused:
                if number?.status == .released { fail("refused release of \(release.numberId) happened") }
            case .maybe: break
            }
        }
        // Trunks: a number not released is on the trunk its last acknowledged change left it on, unless a change
        // heard "maybe" since may have moved it.
        model.seenWrong.forEach(fail)
        for number in owned where number.status != .released && model.unsettledRoutes[number.id] == nil {
            let expected = model.routes[number.id] ?? ""
            if (number.trunkId ?? "") != expected {
                fail("number \(number.id) on trunk \(number.trunkId ?? "none"), its last change said \(expected)")
            }
            // An answered change closed its request (store format 8), unless it replaced one whose caller heard
            // nothing, which may still land, or its own request got no answer from Twilio and the look-up after showed
            // it made (the recorded trunk, kept open: it may still land): reconciliation settles those (none once the
            // state is settled).
            if let open = number.routeRequest, open.earlier.isEmpty, open.trunkId != number.trunkId {
                fail("number \(number.id) has a trunk change to \(open.trunkId ?? "none") open; none is unanswered")
            }
        }
        if settled, let open = owned.first(where: { $0.routeRequest != nil }) {
            fail("number \(open.id) has a trunk change left open after reconciliation")
        }

        var foreseen: [LedgerTransaction.Kind] = [.fundsAdded, .adjustment, .purchase, .refund]
        if billed { foreseen.append(.renewal) }
        let other = transactions.filter { !foreseen.contains($0.kind) }
        if !other.isEmpty { fail("unexpected transactions \(other.map(\.kind))") }
        return problems
    }
}

/// The state against the simulator: every number we hold is owned at the provider under its SID, the provider
/// owns nothing we do not hold, and no phone number was bought twice — or, given `purchasesAsked` (per phone, the
/// purchases clients asked of numberd), none was POSTed more often than asked: a storm that buys a phone again after
/// a purchase heard "maybe" may see the first POST land late, after the second bought it (an update at Twilio) or
/// after its release (bought again). `history` tells, for a phone owned at the provider without an owner, what clients
/// asked of it and heard.
func providerProblems(
    _ state: CoreState, simulator: TwilioSimulator, purchasesAsked: [String: Int]? = nil,
    history: (String) -> [String] = { _ in [] }
) -> [String] {
    var problems: [String] = []
    let held = Dictionary(
        state.numbers.values.filter { $0.status != .released }.map { ($0.phoneNumber, $0.providerSid) },
        uniquingKeysWith: { first, _ in first })
    let atProvider = Dictionary(
        simulator.engine.ownedNumbers.map { ($0.number.phoneNumber, $0.sid) }, uniquingKeysWith: { first, _ in first })
    for (phone, sid) in held where atProvider[phone] != sid {
        problems.append("\(phone) held (sid \(sid)) but the provider has \(atProvider[phone] ?? "nothing")")
    }
    for (phone, sid) in atProvider where held[phone] == nil {
        // What the store knows of the phone, for the one who has to find out how it came to be.
        let numbers = state.numbers.values.filter { $0.phoneNumber == phone }.map {
            "\($0.id) of \($0.accountId) \($0.status.rawValue) (sid \($0.providerSid))"
        }
        let watch = state.orphanWatch[phone].map {
            "watched for \($0.intentId) since \($0.since.timeIntervalSince1970) claimed by \($0.claimedBy ?? "none")"
        }
        problems.append(
            "\(phone) owned at the provider without a committed owner (sid \(sid)); here: "
                + "\(numbers.isEmpty ? "no number" : numbers.joined(separator: ", ")), \(watch ?? "not watched"); "
                + "at the provider bought \(simulator.engine.purchaseCount(phone)) times, repeated "
                + "\(simulator.engine.repeatPurchaseCount(phone)), released \(simulator.engine.releaseCount(phone))"
                + history(phone).map { "; asked: \($0)" }.joined())
    }
    if let purchasesAsked {
        for (phone, count) in simulator.engine.purchaseCounts {
            let posted = count + simulator.engine.repeatPurchaseCount(phone)
            let asked = purchasesAsked[phone] ?? 0
            if posted > max(asked, 1) {
                problems.append("\(phone) bought \(posted) times at the provider for \(asked) purchases asked")
            }
        }
        return problems
    }
    for (phone, count) in simulator.engine.purchaseCounts where count > 1 {
        problems.append("\(phone) bought \(count) times at the provider")
    }
    for phone in Set(state.numbers.values.map(\.phoneNumber)) where simulator.engine.repeatPurchaseCount(phone) > 0 {
        problems.append("\(phone) POSTed again while owned")
    }
    return problems
}

/// The state's routing against the simulator's: every number held is on the trunk there that it is on here (none
/// when none), and none of them is on a trunk the state does not have.
func routingProblems(_ state: CoreState, simulator: TwilioSimulator) -> [String] {
    let atProvider = Dictionary(
        simulator.engine.ownedNumbers.map { ($0.number.phoneNumber, $0.trunkSid?.lowercased() ?? "") },
        uniquingKeysWith: { first, _ in first })
    return state.numbers.values.filter { $0.status != .released }.compactMap { number in
        let here = number.trunkId.flatMap { state.trunks[$0]?.providerTrunkSid.lowercased() } ?? ""
        let there = atProvider[number.phoneNumber] ?? ""
        let shown = { (sid: String) in sid.isEmpty ? "no trunk" : sid }
        return here == there
            ? nil : "\(number.phoneNumber) routed to \(shown(there)) at the provider, to \(shown(here)) here"
    }
}

/// Hands out phone numbers the simulator has available, never the same one twice in a run.
final class PhonePool: Sendable {
    private let simulator: TwilioSimulator
    private let inner = Mutex<(used: Set<String>, ready: [String])>(([], []))

    init(simulator: TwilioSimulator) { self.simulator = simulator }

    /// `count` fresh numbers (US local).
    func take(_ count: Int) -> [String] {
        inner.withLock { inner in
            if inner.ready.count < count {
                let candidates = simulator.engine.availableNumbers(
                    country: "US", type: .local, limit: inner.used.count + inner.ready.count + 500)
                let ready = Set(inner.ready)
                inner.ready += candidates.map(\.phoneNumber).filter { !inner.used.contains($0) && !ready.contains($0) }
            }
            let taken = Array(inner.ready.prefix(count))
            inner.ready.removeFirst(taken.count)
            inner.used.formUnion(taken)
            return taken
        }
    }

    /// A fresh number bought at the simulator behind numberd's back, as in Twilio's console: one for numberd to adopt.
    /// Nil when the inventory ran dry.
    func takeBoughtAtProvider() throws -> String? {
        guard let phone = take(1).first else { return nil }
        try buyBehindNumberdsBack(simulator, phone)
        return phone
    }
}

/// Buys `phone` at `simulator` directly (its engine, no HTTP), as Twilio's console or a saga lost without a trace
/// would leave it; the faults set for numberd's requests do not touch it.
func buyBehindNumberdsBack(_ simulator: TwilioSimulator, _ phone: String) throws {
    let credentials = simulator.credentials
    let authorization = Data("\(credentials.accountSid):\(credentials.authToken)".utf8).base64EncodedString()
    let action = simulator.engine.execute(
        SimulatorRequest(
            method: "POST", target: "/2010-04-01/Accounts/\(credentials.accountSid)/IncomingPhoneNumbers.json",
            headers: [
                ("Authorization", "Basic " + authorization), ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body: Array("PhoneNumber=\(phone.replacingOccurrences(of: "+", with: "%2B"))".utf8)),
        endpoint: .buyNumber, plan: FaultPlan.none)
    guard case .respond(let response) = action, response.status == 201 else {
        throw HarnessError("buying \(phone) at the simulator failed: \(action)")
    }
}
