import Foundation
import NumberCore
import Synchronization
import Testing

/// A provider with real inventory and ownership state that can be told to fail, stall or lose its answer at any
/// step; the test double of the Twilio adapter.
final class FakeProvider: NumberProvider {
    enum Operation: Sendable, Hashable {
        case search, price, buy, release, setTrunk, lookUp, list, createTrunk, deleteTrunk, findTrunk, addOrigination,
            trunkNumbers, listTrunks, fetchTrunk

        /// Whether a call of this operation concerns one number, which a fault for that number matches: a buy and a
        /// look-up name it, a release and a trunk change name its SID (the number owned under it). The others never
        /// concern one, so a fault given one for them would never fire.
        var concernsOneNumber: Bool {
            switch self {
            case .buy, .lookUp, .release, .setTrunk: true
            case .search, .price, .list, .createTrunk, .deleteTrunk, .findTrunk, .addOrigination, .trunkNumbers,
                .listTrunks, .fetchTrunk:
                false
            }
        }
    }

    enum Fault: Sendable {
        /// Throw this kind before doing anything.
        case fail(ProviderError.Kind)
        /// Do the operation, then throw `.outcomeUnknown` (the answer was lost).
        case loseAnswer
        /// Throw `.outcomeUnknown` without doing anything (the request never arrived).
        case dropRequest
        /// Throw `.outcomeUnknown` marked `mayStillTakeEffect` without doing anything yet: a timed-out request still
        /// queued at the provider, which the test lands later (by calling the operation itself) or never.
        case timeOut
        /// Throw Twilio's 404 marked `mayStillTakeEffect` without doing anything: a retried DELETE whose first attempt
        /// timed out (and may still land) answered 404, as Twilio can right after a purchase.
        case notFoundAfterTimeout
        /// Do the operation, then throw Twilio's 404 marked `mayStillTakeEffect`: a retried request whose first attempt
        /// did it (its answer lost) answered 404 — a trunk removal already done, say.
        case doThenNotFound
        /// Do the operation, then wait until `resume(_:)` is called with this gate name (a "crash" mid-call).
        case hangAfter(gate: String)
        /// Wait until `resume(_:)` is called with this gate name, then fail as a dead process would (never do it).
        case hangBefore(gate: String)
        /// Wait this long, then do the operation.
        case stall(nanoseconds: UInt64)
        /// Wait until `resume(_:)` is called with this gate name, then do the operation (it sees what happened
        /// meanwhile).
        case hangThenDo(gate: String)
        /// Wait until `resume(_:)` is called with this gate name, then time out as `timeOut` does: a request that
        /// waited its turn (or was retried before it was sent) for as long as the test lets it, then went unanswered.
        case hangThenTimeOut(gate: String)
        /// Wait until `resume(_:)` is called with this gate name, then throw `.outcomeUnknown` without doing anything,
        /// as `dropRequest` does: the test changes what the provider shows (its faults) meanwhile.
        case hangThenDrop(gate: String)
        /// Reach this gate, then do the operation once `resume(_:)` is called with it — unless the calling task is
        /// cancelled first: then fail as the Twilio adapter does (`.unavailable`), without doing anything.
        case doUnlessCancelled(gate: String)
        /// Reach this gate, then wait until the calling task is cancelled and fail as the Twilio adapter does then
        /// (its HTTP client gives the request up: `.unavailable`), without doing anything.
        case untilCancelled(gate: String)
    }

    private struct Rule {
        var operation: Operation
        var phoneNumber: String?
        var fault: Fault
        var remaining: Int
    }

    private struct Inner {
        var inventory: [String: AvailableNumber] = [:]
        var owned: [String: ProvisionedNumber] = [:]
        /// The kind of each owned number, as its typed list shows it (absent: local).
        var ownedTypes: [String: NumberType] = [:]
        var prices: [String: ProviderPrice] = [:]
        var rules: [Rule] = []
        var calls: [Operation: Int] = [:]
        var buys: [String: Int] = [:]
        /// Asked-for number → the number the provider sells instead (once).
        var substitutes: [String: String] = [:]
        var nextSid = 1
        var gates: [String: [CheckedContinuation<Void, Never>]] = [:]
        var openGates: Set<String> = []
        var reached: Set<String> = []
        /// Every number looked up, in order.
        var lookedUp: [String] = []
        /// Trunks made with ``createTrunk(friendlyName:)``: SID → name.
        var trunks: [String: String] = [:]
        /// Set: the provider sees its trunks (``seeTrunks(console:)``): ``listsTrunks``, and a registration is checked.
        var listsTrunks = false
        /// Trunks configured at the provider outside numberd (``seeTrunks(console:)``), in lower case: SID → name.
        var consoleTrunks: [String: String] = [:]
        /// Where each trunk made here sends its calls (``addOrigination(trunkSid:sipUri:friendlyName:)``).
        var originations: [String: String] = [:]
        /// Set: a buy of a number the account owns answers as Twilio's does (``answerBuysOfOwnedAsUpdates()``).
        var buysOfOwnedUpdate = false
        /// Set: trunk SIDs are kept with their hex digits in lower case (``writeTrunkSidsInLowerCase()``).
        var trunkSidsInLowerCase = false
        /// The last number ``stockFresh(_:)`` put up for sale.
        var lastFresh = 0
    }

    private let inner = Mutex(Inner())
    private let created = Date(timeIntervalSince1970: 1_736_000_000)
    /// What dates the numbers sold here (``ProvisionedNumber/dateCreated``, Twilio's `date_created`): nil, one fixed
    /// date for all of them.
    private let clock: (any NumberClock)?

    /// With `clock`, each number sold is created at the clock's time, as Twilio dates a purchase; without, at one fixed
    /// date. A run across months needs the former: reconciliation and the orphan sweep take a number created long after
    /// numberd's buy for someone's later purchase.
    init(clock: (any NumberClock)? = nil) {
        self.clock = clock
        inner.withLock { inner in
            inner.prices["US/local"] = ProviderPrice(
                country: "US", type: .local, monthlyCostMicros: 1_150_000, currency: "USD")
            inner.prices["US/toll_free"] = ProviderPrice(
                country: "US", type: .tollFree, monthlyCostMicros: 2_150_000, currency: "USD")
            inner.prices["GB/local"] = ProviderPrice(
                country: "GB", type: .local, monthlyCostMicros: 1_000_000, currency: "GBP")
        }
    }

    /// Puts numbers up for sale.
    func stock(_ phoneNumbers: [String], country: String = "US", type: NumberType = .local) {
        inner.withLock { inner in
            for phone in phoneNumbers {
                inner.inventory[phone] = AvailableNumber(
                    phoneNumber: phone, friendlyName: "friendly \(phone)", locality: "San Francisco", region: "CA",
                    postalCode: "94102", country: country, type: type,
                    capabilities: NumberCapabilities(voice: true, sms: true, mms: false))
            }
        }
    }

    /// Puts `count` numbers never offered here before up for sale (`+1415` and seven digits from a counter) and returns
    /// them: a long run buys without ever running out of inventory, or buying a number it sold before.
    func stockFresh(_ count: Int) -> [String] {
        let phones = inner.withLock { inner in
            var phones: [String] = []
            for _ in 0..<count {
                inner.lastFresh += 1
                phones.append(String(format: "+1415%07d", inner.lastFresh))
            }
            return phones
        }
        stock(phones)
        return phones
    }

    /// Puts one number up for sale exactly as `listing` describes it (text as the provider sends it).
    func stock(_ listing: AvailableNumber) {
        inner.withLock { $0.inventory[listing.phoneNumber] = listing }
    }

    /// Makes the next buy of `phoneNumber` sell `other` instead (a provider mix-up the saga must survive).
    func sellInstead(_ other: String, for phoneNumber: String) {
        inner.withLock { $0.substitutes[phoneNumber] = other }
    }

    /// Makes a buy of a number the account owns answer as Twilio's POST does (twilio-api.md §3.1, §8.7): 201 with
    /// the number as owned, updated — routed to the POST's trunk when it names one, left where it was when not.
    func answerBuysOfOwnedAsUpdates() {
        inner.withLock { $0.buysOfOwnedUpdate = true }
    }

    /// Makes buys and trunk changes keep a trunk SID's hex digits in lower case, as Twilio writes them, whatever case
    /// numberd sent (a trunk recorded in upper case by an older numberd).
    func writeTrunkSidsInLowerCase() {
        inner.withLock { $0.trunkSidsInLowerCase = true }
    }

    /// A trunk SID as Twilio writes it: `TK` and its hex digits in lower case.
    private static func lowerCased(_ sid: String) -> String {
        sid.hasPrefix("TK") ? "TK" + sid.dropFirst(2).lowercased() : sid
    }

    func setPrice(_ price: ProviderPrice) {
        inner.withLock { $0.prices["\(price.country)/\(price.type.rawValue)"] = price }
    }

    /// Makes the next `times` calls of `operation` (for `phoneNumber`, if given) suffer `fault`. A release or trunk
    /// change is for the number the account owns under its SID when the call comes. A phone number given for an
    /// operation that never concerns one is a mistake in the test (the fault would never fire), recorded as an issue.
    func inject(_ fault: Fault, on operation: Operation, phoneNumber: String? = nil, times: Int = 1) {
        if phoneNumber != nil && !operation.concernsOneNumber {
            Issue.record("a fault for \(phoneNumber ?? "") on \(operation) never fires: that call names no number")
        }
        inner.withLock {
            $0.rules.append(Rule(operation: operation, phoneNumber: phoneNumber, fault: fault, remaining: times))
        }
    }

    /// Drops every fault not yet taken.
    func clearFaults() {
        inner.withLock { $0.rules = [] }
    }

    /// Lets every call hanging on `gate` return.
    func resume(_ gate: String) {
        let waiting = inner.withLock { inner in
            inner.openGates.insert(gate)
            return inner.gates.removeValue(forKey: gate) ?? []
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Waits until a call has reached `gate`.
    func waitUntilReached(_ gate: String) async {
        while !inner.withLock({ $0.reached.contains(gate) }) {
            try? await Task.sleep(nanoseconds: 1_000_000)
        }
    }

    /// Changes what the provider account owns behind numberd's back (its console, another system): `body` gets the
    /// number as owned (nil if not) and leaves it owned, changed, or nil to release it.
    func changeOwned(_ phone: String, type: NumberType? = nil, _ body: (inout ProvisionedNumber?) -> Void) {
        inner.withLock { inner in
            var number = inner.owned[phone]
            body(&number)
            inner.owned[phone] = number
            if number != nil { inner.inventory.removeValue(forKey: phone) }
            if let type { inner.ownedTypes[phone] = type }
        }
    }

    /// Numbers per page of ``listOwned(page:)``.
    let listPageSize = 2

    var ownedPhoneNumbers: Set<String> { inner.withLock { Set($0.owned.keys) } }
    func owned(_ phone: String) -> ProvisionedNumber? { inner.withLock { $0.owned[phone] } }
    func calls(_ operation: Operation) -> Int { inner.withLock { $0.calls[operation] ?? 0 } }
    /// Every number looked up so far, in order.
    var lookedUp: [String] { inner.withLock { $0.lookedUp } }
    func buyCount(_ phone: String) -> Int { inner.withLock { $0.buys[phone] ?? 0 } }
    /// The SIDs of the trunks made here and not deleted.
    var trunkSids: Set<String> { inner.withLock { Set($0.trunks.keys) } }

    /// Makes the provider see its trunks, as Twilio does (``listsTrunks``: a trunk registered by its SID is checked,
    /// the audit compares trunks), and gives it the trunks `console`, configured outside numberd (named `console N`).
    func seeTrunks(console: [String] = []) {
        inner.withLock { inner in
            inner.listsTrunks = true
            for (index, sid) in console.enumerated() { inner.consoleTrunks[sid.lowercased()] = "console \(index)" }
        }
    }

    // MARK: NumberProvider

    /// A `contains` starting with `+` is anchored at the number's start only, as Twilio's: longer numbers that begin
    /// with it match too. Twilio's order is its own; here such a search lists the longest first, so that a caller
    /// taking the first result for the number asked for is caught.
    func search(_ query: ProviderSearchQuery) async throws -> [AvailableNumber] {
        try await run(.search, phoneNumber: nil) {
            inner.withLock { inner in
                let anchored = query.contains?.hasPrefix("+") == true
                return inner.inventory.values.filter { number in
                    number.country == query.country && number.type == query.type
                        && (query.areaCode.map { number.phoneNumber.hasPrefix("+1" + $0) } ?? true)
                        && (query.contains.map {
                            anchored ? number.phoneNumber.hasPrefix($0) : number.phoneNumber.contains($0)
                        } ?? true)
                }.sorted { anchored ? $0.phoneNumber > $1.phoneNumber : $0.phoneNumber < $1.phoneNumber }
                    .prefix(query.limit).map { $0 }
            }
        }
    }

    func price(country: String, type: NumberType) async throws -> ProviderPrice {
        try await run(.price, phoneNumber: nil) { () throws -> ProviderPrice in
            guard let price = inner.withLock({ $0.prices["\(country)/\(type.rawValue)"] }) else {
                throw ProviderError(.notFound, message: "no price for \(country)/\(type.rawValue)")
            }
            return price
        }
    }

    func buy(phoneNumber: String, trunkSid: String?) async throws -> ProvisionedNumber {
        try await run(.buy, phoneNumber: phoneNumber) { () throws -> ProvisionedNumber in
            let dateCreated = clock?.now() ?? created
            return try inner.withLock { inner in
                inner.buys[phoneNumber, default: 0] += 1
                let phoneNumber = inner.substitutes.removeValue(forKey: phoneNumber) ?? phoneNumber
                let trunkSid = inner.trunkSidsInLowerCase ? trunkSid.map(Self.lowerCased) : trunkSid
                if inner.buysOfOwnedUpdate, var number = inner.owned[phoneNumber] {
                    if let trunkSid { number.trunkSid = trunkSid }
                    inner.owned[phoneNumber] = number
                    return number
                }
                guard let listing = inner.inventory.removeValue(forKey: phoneNumber) else {
                    throw ProviderError(
                        .numberUnavailable, providerCode: 21422, message: "\(phoneNumber) is not available")
                }
                let sid = String(format: "PN%032d", inner.nextSid)
                inner.nextSid += 1
                let number = ProvisionedNumber(
                    sid: sid, phoneNumber: phoneNumber, friendlyName: listing.friendlyName, trunkSid: trunkSid,
                    capabilities: listing.capabilities, dateCreated: dateCreated)
                inner.owned[phoneNumber] = number
                inner.ownedTypes[phoneNumber] = listing.type
                return number
            }
        }
    }

    func release(sid: String) async throws {
        try await run(.release, phoneNumber: phoneNumber(ownedAs: sid)) { () throws in
            try inner.withLock { inner in
                guard let phone = inner.owned.first(where: { $0.value.sid == sid })?.key else {
                    throw ProviderError(.notFound, providerCode: 20404, message: "no number \(sid)")
                }
                inner.owned.removeValue(forKey: phone)
            }
        }
    }

    func setTrunk(sid: String, trunkSid: String?) async throws {
        try await run(.setTrunk, phoneNumber: phoneNumber(ownedAs: sid)) { () throws in
            try inner.withLock { inner in
                guard let phone = inner.owned.first(where: { $0.value.sid == sid })?.key else {
                    throw ProviderError(.notFound, providerCode: 20404, message: "no number \(sid)")
                }
                inner.owned[phone]!.trunkSid = inner.trunkSidsInLowerCase ? trunkSid.map(Self.lowerCased) : trunkSid
            }
        }
    }

    func lookUp(phoneNumber: String) async throws -> ProvisionedNumber? {
        inner.withLock { $0.lookedUp.append(phoneNumber) }
        return try await run(.lookUp, phoneNumber: phoneNumber) { inner.withLock { $0.owned[phoneNumber] } }
    }

    /// As Twilio's typed list: the number only if owned as `type`.
    func lookUp(phoneNumber: String, type: NumberType) async throws -> ProvisionedNumber? {
        inner.withLock { $0.lookedUp.append(phoneNumber) }
        return try await run(.lookUp, phoneNumber: phoneNumber) {
            inner.withLock { inner in
                inner.owned[phoneNumber].flatMap { (inner.ownedTypes[phoneNumber] ?? .local) == type ? $0 : nil }
            }
        }
    }

    /// A trunk SID as Twilio's: `TK` and 32 hex digits (decimal ones here, as for numbers).
    func createTrunk(friendlyName: String) async throws -> String {
        try await run(.createTrunk, phoneNumber: nil) {
            inner.withLock { inner in
                let sid = String(format: "TK%032d", inner.nextSid)
                inner.nextSid += 1
                inner.trunks[sid] = friendlyName
                return sid
            }
        }
    }

    func addOrigination(trunkSid: String, sipUri: String, friendlyName: String) async throws {
        try await run(.addOrigination, phoneNumber: nil) { () throws in
            try inner.withLock { inner in
                guard inner.trunks[trunkSid] != nil else {
                    throw ProviderError(.notFound, providerCode: 20404, message: "no trunk \(trunkSid)")
                }
                inner.originations[trunkSid] = sipUri
            }
        }
    }

    func deleteTrunk(sid: String) async throws {
        try await run(.deleteTrunk, phoneNumber: nil) { () throws in
            try inner.withLock { inner in
                guard inner.trunks.removeValue(forKey: sid) != nil else {
                    throw ProviderError(.notFound, providerCode: 20404, message: "no trunk \(sid)")
                }
                inner.originations[sid] = nil
            }
        }
    }

    /// As Twilio's trunk `PhoneNumbers` page: the owned numbers routed to the trunk (SIDs compared as Twilio does, in
    /// any case), in phone-number order, at most `max`; a trunk it does not have is 404.
    func phoneNumbers(onTrunk trunkSid: String, max: Int) async throws -> [String] {
        try await run(.trunkNumbers, phoneNumber: nil) { () throws in
            try inner.withLock { inner in
                guard
                    inner.consoleTrunks[trunkSid.lowercased()] != nil
                        || inner.trunks.keys.contains(where: { $0.lowercased() == trunkSid.lowercased() })
                else {
                    throw ProviderError(.notFound, providerCode: 20404, message: "no trunk \(trunkSid)")
                }
                let routed = inner.owned.values.filter { $0.trunkSid?.lowercased() == trunkSid.lowercased() }
                return Array(routed.map(\.phoneNumber).sorted().prefix(max))
            }
        }
    }

    /// As Twilio's `GET /v1/Trunks/{Sid}` (SIDs compared in any case): a trunk made here or the console's, nil if none.
    func trunk(sid: String) async throws -> ProviderTrunk? {
        try await run(.fetchTrunk, phoneNumber: nil) {
            inner.withLock { inner in
                let all = inner.trunks.merging(inner.consoleTrunks) { made, _ in made }
                return all.first { $0.key.lowercased() == sid.lowercased() }.map {
                    ProviderTrunk(sid: $0.key, friendlyName: $0.value)
                }
            }
        }
    }

    func findTrunk(namePrefix: String) async throws -> String? {
        try await run(.findTrunk, phoneNumber: nil) {
            inner.withLock { inner in inner.trunks.first(where: { $0.value.hasPrefix(namePrefix) })?.key }
        }
    }

    var listsTrunks: Bool { inner.withLock { $0.listsTrunks } }

    /// One page: the trunks made here and the console's, in SID order.
    func listTrunks(page: ([ProviderTrunk]) async throws -> Void) async throws {
        let all = try await run(.listTrunks, phoneNumber: nil) {
            inner.withLock { inner in
                inner.trunks.merging(inner.consoleTrunks) { made, _ in made }
                    .map { ProviderTrunk(sid: $0.key, friendlyName: $0.value) }.sorted { $0.sid < $1.sid }
            }
        }
        try await page(all)
    }

    /// Pages of ``listPageSize`` numbers in phone-number order, taken from what is owned when the listing starts.
    func listOwned(page: ([ProvisionedNumber]) async throws -> Void) async throws {
        let all = try await run(.list, phoneNumber: nil) {
            inner.withLock { $0.owned.values.sorted { $0.phoneNumber < $1.phoneNumber } }
        }
        var index = 0
        repeat {
            try await page(Array(all[index..<min(index + listPageSize, all.count)]))
            index += listPageSize
        } while index < all.count
    }

    // MARK: Faults

    /// The number the account owns under `sid`, nil if none: what a fault for one number is matched against on a call
    /// that names only the SID (a release, a trunk change). Without it such a fault never fired.
    private func phoneNumber(ownedAs sid: String) -> String? {
        inner.withLock { inner in inner.owned.first(where: { $0.value.sid == sid })?.key }
    }

    private func takeFault(_ operation: Operation, phoneNumber: String?) -> Fault? {
        inner.withLock { inner in
            inner.calls[operation, default: 0] += 1
            guard
                let index = inner.rules.firstIndex(where: {
                    $0.operation == operation && ($0.phoneNumber == nil || $0.phoneNumber == phoneNumber)
                })
            else { return nil }
            inner.rules[index].remaining -= 1
            let fault = inner.rules[index].fault
            if inner.rules[index].remaining <= 0 { inner.rules.remove(at: index) }
            return fault
        }
    }

    private func run<R>(_ operation: Operation, phoneNumber: String?, _ body: () throws -> R) async throws -> R {
        switch takeFault(operation, phoneNumber: phoneNumber) {
        case nil:
            return try body()
        case .fail(let kind):
            throw ProviderError(kind, providerCode: 500, message: "injected \(kind.rawValue)")
        case .loseAnswer:
            _ = try body()
            throw ProviderError(.outcomeUnknown, message: "injected lost answer")
        case .dropRequest:
            throw ProviderError(.outcomeUnknown, message: "injected dropped request")
        case .timeOut:
            throw ProviderError(.outcomeUnknown, message: "injected timeout", mayStillTakeEffect: true)
        case .notFoundAfterTimeout:
            throw ProviderError(.notFound, message: "injected 404 after a timed-out attempt", mayStillTakeEffect: true)
        case .doThenNotFound:
            _ = try body()
            throw ProviderError(
                .notFound, message: "injected 404 after an attempt that acted", mayStillTakeEffect: true)
        case .stall(let nanoseconds):
            try await Task.sleep(nanoseconds: nanoseconds)
            return try body()
        case .hangBefore(let gate):
            await hang(gate)
            throw CancellationError()
        case .hangAfter(let gate):
            let result = try body()
            await hang(gate)
            return result
        case .hangThenDo(let gate):
            await hang(gate)
            return try body()
        case .hangThenTimeOut(let gate):
            await hang(gate)
            throw ProviderError(.outcomeUnknown, message: "injected timeout", mayStillTakeEffect: true)
        case .hangThenDrop(let gate):
            await hang(gate)
            throw ProviderError(.outcomeUnknown, message: "injected dropped request")
        case .doUnlessCancelled(let gate):
            inner.withLock { _ = $0.reached.insert(gate) }
            while !Task.isCancelled && !inner.withLock({ $0.openGates.contains(gate) }) {
                try? await Task.sleep(nanoseconds: 1_000_000)
            }
            guard !Task.isCancelled else {
                throw ProviderError(.unavailable, message: "\(operation): cancelled: the request was cancelled")
            }
            return try body()
        case .untilCancelled(let gate):
            inner.withLock { _ = $0.reached.insert(gate) }
            while !Task.isCancelled { try? await Task.sleep(nanoseconds: 1_000_000) }
            throw ProviderError(.unavailable, message: "\(operation): cancelled: the request was cancelled")
        }
    }

    private func hang(_ gate: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let open = inner.withLock { inner in
                inner.reached.insert(gate)
                if inner.openGates.contains(gate) { return true }
                inner.gates[gate, default: []].append(continuation)
                return false
            }
            if open { continuation.resume() }
        }
    }
}
