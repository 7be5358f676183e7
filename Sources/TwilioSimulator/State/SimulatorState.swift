import Foundation

/// All simulator state as one value: inventory, owned numbers, trunks, counters, log and fault rules.
/// The engine keeps it behind a `Mutex`; the router mutates it as a plain value, so routing is testable alone.
public struct SimulatorState: Sendable {
    /// The carrier inventory (sold or not), a function of the seed.
    public let inventory: VirtualInventory
    /// E.164 numbers currently owned (absent from search).
    public private(set) var sold: Set<String> = []
    /// E.164 numbers another Twilio account bought (``sellElsewhere(_:)``): gone from search, and a purchase of one
    /// answers 400/21422, as Twilio does for a number bought between a search and a purchase (twilio-api.md §8.1).
    /// Kept on disk with the account's state: Twilio does not offer a number again because the simulator restarted (a
    /// restart used to put it back on sale, and a retried purchase then bought it).
    public private(set) var soldElsewhere: Set<String> = []
    /// Owned numbers by PN SID.
    public private(set) var owned: [String: IncomingNumber] = [:]
    /// The PN SID of each owned number by E.164 (so a purchase finds a number already owned without a scan).
    private var ownedSids: [String: String] = [:]
    /// How many owned numbers have each length (in characters of their E.164 form): a whole number as the
    /// `PhoneNumber` filter may also be the start of a longer owned number, which is looked up by each completion.
    private var ownedLengths: [Int: Int] = [:]
    /// The owned PN SIDs with their creation sequence, in creation order, so lists need no sort. Released SIDs stay
    /// until they are half of it (skipped meanwhile), so a release costs no shift of the array. Derived from `owned`
    /// and `numberSequence`: kept in step by `store`, rebuilt by `restore`, never saved.
    private var ownedOrder: [(sequence: Int, sid: String)] = []
    /// Creation sequence of the PN SIDs owned and of the last `releasedNumbersKeptMax` released (so a page token
    /// naming a number released since stays valid); an older released SID's is forgotten (`forgetOldestReleased`).
    public private(set) var numberSequence: [String: Int] = [:]
    /// Trunks by TK SID.
    public private(set) var trunks: [String: Trunk] = [:]
    /// The owned PN SIDs on each trunk, by TK SID: a trunk's DELETE clears their `trunk_sid` without filtering every
    /// owned number under the state lock. Derived from `owned`: kept in step by `store`, never saved.
    private var numbersOnTrunk: [String: Set<String>] = [:]
    /// Creation sequence of the TK SIDs of the trunks that exist and of the last `releasedNumbersKeptMax` deleted (so
    /// a page token naming a trunk deleted since stays valid); an older deleted SID's is forgotten
    /// (`forgetOldestDeletedTrunk`). Kept for every trunk ever issued, a CreateTrunk and DeleteTrunk loop grew it
    /// (and numberd's memory, with the simulator in process) without bound.
    public private(set) var trunkSequence: [String: Int] = [:]
    /// Successful purchases per E.164 number (a count above 1 without a release between is a double buy). Kept for
    /// the numbers owned and the last `releasedNumbersKeptMax` released, as are the two counts below; an older
    /// released number's three counts are dropped together (they read 0 again).
    public private(set) var purchaseCounts: [String: Int] = [:]
    /// Purchases of a number the account already owned (Twilio answers 201 and changes nothing billable).
    public private(set) var repeatPurchaseCounts: [String: Int] = [:]
    /// Releases per E.164 number.
    public private(set) var releaseCounts: [String: Int] = [:]
    /// The released numbers whose SID's creation sequence and whose counts are still kept, oldest first. In memory
    /// only, like the counts.
    private var released = KeptHistory<ReleasedNumber>()
    /// The deleted trunks whose SID's creation sequence is still kept, oldest first. In memory only.
    private var deletedTrunks = KeptHistory<String>()
    /// How many released numbers `released` keeps, and how many deleted trunks `deletedTrunks` does
    /// (`Limits.releasedNumbersKeptMax`).
    private let releasedNumbersKeptMax: Int
    /// The fault rules.
    public var faults: FaultInjector
    /// PN SIDs a list-lag fault keeps out of sight until the given time: lists and fetches do not show them and a
    /// DELETE of them answers 404/20404. In memory only (a restart shows them): the lag is Twilio's passing state,
    /// not the account's.
    public private(set) var hiddenUntil: [String: Date] = [:]
    private var nextSequence = 0
    private var sidGenerator: SeededGenerator
    /// Record what each mutation changes (`takeChange`), for a state kept in a journal. Off for a state in memory
    /// only, which never asks.
    var tracksChanges = false
    private var pendingChange = SimulatorChange()

    /// Builds the inventory from the configuration's seed.
    public init(configuration: SimulatorConfiguration) {
        inventory = VirtualInventory(
            seed: configuration.seed, densityPerMille: configuration.limits.inventoryDensityPerMille)
        faults = FaultInjector(seed: configuration.seed)
        for rule in configuration.faults { faults.add(rule) }
        sidGenerator = SeededGenerator(seed: configuration.seed ^ 0x5151_5151_5151_5151)
        releasedNumbersKeptMax = max(0, configuration.limits.releasedNumbersKeptMax)
    }

    /// The inventory entry for an E.164 number (sold or not), or nil when the carrier has no such number.
    public func inventoryEntry(_ phoneNumber: String) -> AvailableNumber? {
        inventory.lookup(phoneNumber)
    }

    /// True when the number is in inventory and not owned, here or by another account.
    public func isAvailable(_ phoneNumber: String) -> Bool {
        !sold.contains(phoneNumber) && !soldElsewhere.contains(phoneNumber) && inventory.lookup(phoneNumber) != nil
    }

    /// Another Twilio account buys `phoneNumber` (nothing happens to one this account owns): searches stop offering
    /// it and a purchase of it answers 400/21422.
    mutating func sellElsewhere(_ phoneNumber: String) {
        guard !sold.contains(phoneNumber), !soldElsewhere.contains(phoneNumber), inventory.lookup(phoneNumber) != nil
        else { return }
        remember { $0.soldElsewhere.remove(phoneNumber) }
        if tracksChanges { pendingChange.soldElsewhere.insert(phoneNumber) }
        soldElsewhere.insert(phoneNumber)
    }

    /// Up to `limit` unowned numbers of `areas` passing `accept`, in search order, examining at most `scanMax`
    /// candidates.
    public func available(
        in areas: [NumberingArea], pattern: ContainsPattern? = nil, limit: Int, scanMax: Int,
        accept: (AvailableNumber) -> Bool = { _ in true }
    ) -> [AvailableNumber] {
        var found: [AvailableNumber] = []
        guard limit > 0 else { return found }
        var seen = Set<String>()
        inventory.enumerate(areas: areas, pattern: pattern, scanMax: scanMax) { number in
            if !sold.contains(number.phoneNumber) && !soldElsewhere.contains(number.phoneNumber) && accept(number)
                && seen.insert(number.phoneNumber).inserted
            {
                found.append(number)
            }
            return found.count < limit
        }
        return found
    }

    /// The owned number with this E.164 number, if any.
    public func ownedNumber(phoneNumber: String) -> IncomingNumber? {
        ownedSids[phoneNumber].flatMap { owned[$0] }
    }

    /// The owned numbers an IncomingPhoneNumbers `PhoneNumber` filter of `pattern` matches (it matches where it
    /// occurs anywhere in a number, `*` for any one character), in creation order, found through the E.164 index
    /// without a scan; nil when the index cannot tell, so the caller filters every owned number instead. It can when
    /// `pattern` is `+` and digits and no owned number is more than 3 characters longer: a `+` occurs only first in a
    /// number, so the pattern matches the number equal to it and the longer numbers it begins, and each of those is
    /// one of its completions by 1 to 3 digits, looked up one by one (10 for a US number while GB numbers, one
    /// character longer, are owned; none while no owned number is longer).
    public func ownedNumbers(matchingExactly pattern: String) -> [IncomingNumber]? {
        let digits = pattern.utf8.dropFirst()
        guard pattern.utf8.first == UInt8(ascii: "+"), !digits.isEmpty,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        let length = pattern.count
        let extraDigits = ownedLengths.keys.filter { $0 > length }.map { $0 - length }
        guard extraDigits.allSatisfy({ $0 <= 3 }) else { return nil }
        var found = ownedNumber(phoneNumber: pattern).map { [$0] } ?? []
        for extra in extraDigits {
            for completion in 0..<[1, 10, 100, 1_000][extra] {
                let tail = String(completion)
                let number = pattern + String(repeating: "0", count: extra - tail.count) + tail
                if let record = ownedNumber(phoneNumber: number) { found.append(record) }
            }
        }
        guard found.count > 1 else { return found }
        return found.sorted { (numberSequence[$0.sid] ?? 0) < (numberSequence[$1.sid] ?? 0) }
    }

    /// Whether the owned number `sid` is out of sight at `now` (a list-lag fault).
    public func isHidden(_ sid: String, at now: Date) -> Bool {
        hiddenUntil[sid].map { now < $0 } ?? false
    }

    /// Owned numbers in creation order (no sort: `ownedOrder` keeps it). A copy of every one: lists walk the order
    /// instead (``ownedOrderIndex(firstAbove:)``, ``ownedNumber(atOrderIndex:)``).
    public var ownedInOrder: [IncomingNumber] {
        ownedOrder.compactMap { owned[$0.sid] }
    }

    /// How many entries the creation order of owned numbers has (released SIDs among them until they are dropped).
    var ownedOrderCount: Int { ownedOrder.count }

    /// The owned number at `index` of the creation order (`0..<ownedOrderCount`); nil for a SID released since.
    func ownedNumber(atOrderIndex index: Int) -> IncomingNumber? {
        owned[ownedOrder[index].sid]
    }

    /// The index of the first entry of the creation order created after `sequence` (`ownedOrderCount` when none is):
    /// a binary search, so a page starts at its token's anchor without a walk from the oldest number.
    func ownedOrderIndex(firstAbove sequence: Int) -> Int {
        var low = 0
        var high = ownedOrder.count
        while low < high {
            let middle = (low + high) / 2
            if ownedOrder[middle].sequence <= sequence { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// Trunks in creation order.
    public var trunksInOrder: [Trunk] {
        trunks.values.sorted { trunkSequence[$0.sid, default: 0] < trunkSequence[$1.sid, default: 0] }
    }

    /// A fresh SID with `prefix`, recording the creation sequence of a number's (`PN`) or a trunk's (`TK`); another
    /// resource's (a trunk's Origination URL, `OU`) is ordered where it is kept.
    mutating func issueSid(_ prefix: String) -> String {
        remember { [generator = sidGenerator, last = nextSequence] in
            $0.sidGenerator = generator
            $0.nextSequence = last
        }
        if tracksChanges { pendingChange.issued = true }
        var sid = SidFactory.make(prefix, rng: &sidGenerator)
        while numberSequence[sid] != nil || trunkSequence[sid] != nil {
            sid = SidFactory.make(prefix, rng: &sidGenerator)
        }
        nextSequence += 1
        let (isTrunk, isNumber) = (prefix == "TK", prefix == "PN")
        remember { [sid] in
            if isTrunk { $0.trunkSequence[sid] = nil } else if isNumber { $0.numberSequence[sid] = nil }
        }
        if isTrunk { trunkSequence[sid] = nextSequence } else if isNumber { numberSequence[sid] = nextSequence }
        return sid
    }

    /// Takes a number out of inventory for `record` and counts the purchase.
    mutating func recordPurchase(_ record: IncomingNumber) {
        let phoneNumber = record.number.phoneNumber
        remember { [wasSold = sold.contains(phoneNumber), count = purchaseCounts[phoneNumber]] in
            if !wasSold { $0.sold.remove(phoneNumber) }
            $0.purchaseCounts[phoneNumber] = count
        }
        sold.insert(phoneNumber)
        setOwned(record.sid, record)
        purchaseCounts[phoneNumber, default: 0] += 1
    }

    /// Stores `record`, bought again while owned (Twilio's 201 that acts as an update), and counts the repeat.
    mutating func recordRepeatPurchase(_ record: IncomingNumber) {
        let phoneNumber = record.number.phoneNumber
        remember { [count = repeatPurchaseCounts[phoneNumber]] in $0.repeatPurchaseCounts[phoneNumber] = count }
        setOwned(record.sid, record)
        repeatPurchaseCounts[phoneNumber, default: 0] += 1
    }

    /// Replaces an owned number's record (an update, a trunk association).
    mutating func updateOwned(_ record: IncomingNumber) {
        precondition(owned[record.sid] != nil, "update of a number not owned")
        setOwned(record.sid, record)
    }

    /// Keeps the owned number `sid` out of sight until `until` (forgetting the lags that ended by `now`).
    mutating func hide(_ sid: String, until: Date, now: Date) {
        remember { [prior = hiddenUntil] in $0.hiddenUntil = prior }
        hiddenUntil = hiddenUntil.filter { now < $0.value }
        hiddenUntil[sid] = until
    }

    /// Releases an owned number back to inventory.
    mutating func recordRelease(sid: String) {
        guard let record = owned[sid] else { return }
        let phoneNumber = record.number.phoneNumber
        remember { [count = releaseCounts[phoneNumber]] in
            $0.sold.insert(phoneNumber)
            $0.releaseCounts[phoneNumber] = count
        }
        setOwned(sid, nil)
        sold.remove(phoneNumber)
        releaseCounts[phoneNumber, default: 0] += 1
        remember { $0.released.removeNewest() }
        released.append(
            ReleasedNumber(sid: sid, phoneNumber: phoneNumber, releases: releaseCounts[phoneNumber, default: 0]))
        while released.count > releasedNumbersKeptMax { forgetOldestReleased() }
    }

    /// Forgets the oldest released number kept: its SID's creation sequence (a page token naming it is refused
    /// 21481 from now on, as Twilio refuses an expired one, and as after a restart, which keeps only the owned
    /// numbers' sequences) and, unless the number was bought again since, its counts. Nothing else needs them: a SID
    /// is 128 random bits, so one forgotten is not drawn again, and a number bought again counts from 0.
    private mutating func forgetOldestReleased() {
        let oldest = released.oldest
        let phoneNumber = oldest.phoneNumber
        // Bought again since (owned, or released again: a later entry forgets the counts then), its counts stay.
        let dropsCounts = ownedSids[phoneNumber] == nil && releaseCounts[phoneNumber] == oldest.releases
        let sequence = numberSequence[oldest.sid]
        let counts = (purchaseCounts[phoneNumber], repeatPurchaseCounts[phoneNumber], releaseCounts[phoneNumber])
        remember { [oldest, dropsCounts, sequence, counts] in
            $0.numberSequence[oldest.sid] = sequence
            if dropsCounts {
                $0.purchaseCounts[phoneNumber] = counts.0
                $0.repeatPurchaseCounts[phoneNumber] = counts.1
                $0.releaseCounts[phoneNumber] = counts.2
            }
            $0.released.putBackOldest(oldest)
        }
        numberSequence[oldest.sid] = nil
        if dropsCounts {
            purchaseCounts[phoneNumber] = nil
            repeatPurchaseCounts[phoneNumber] = nil
            releaseCounts[phoneNumber] = nil
        }
        released.forgetOldest()
    }

    /// Stores a new or changed trunk.
    mutating func putTrunk(_ trunk: Trunk) {
        setTrunk(trunk.sid, trunk)
    }

    /// Deletes a trunk; nil when there is none with `sid`. Its SID's creation sequence is kept for the last
    /// `releasedNumbersKeptMax` deletions, as a released number's is.
    mutating func removeTrunk(sid: String) -> Trunk? {
        guard let trunk = trunks[sid] else { return nil }
        setTrunk(sid, nil)
        remember { $0.deletedTrunks.removeNewest() }
        deletedTrunks.append(sid)
        while deletedTrunks.count > releasedNumbersKeptMax { forgetOldestDeletedTrunk() }
        return trunk
    }

    /// Forgets the oldest deleted trunk kept: its SID's creation sequence, so a page token naming it is refused 21481
    /// from now on, as a forgotten released number's is (``forgetOldestReleased()``).
    private mutating func forgetOldestDeletedTrunk() {
        let oldest = deletedTrunks.oldest
        let sequence = trunkSequence[oldest]
        remember { [oldest, sequence] in
            $0.trunkSequence[oldest] = sequence
            $0.deletedTrunks.putBackOldest(oldest)
        }
        trunkSequence[oldest] = nil
        deletedTrunks.forgetOldest()
    }

    /// The owned PN SIDs whose `trunk_sid` is the trunk `sid`.
    func numberSids(onTrunk sid: String) -> Set<String> {
        numbersOnTrunk[sid] ?? []
    }

    private mutating func setOwned(_ sid: String, _ record: IncomingNumber?) {
        remember { [prior = owned[sid]] in $0.store(sid, prior) }
        if tracksChanges { pendingChange.numbers.insert(sid) }
        store(sid, record)
    }

    /// Stores or removes an owned number's record, keeping `ownedSids`, `ownedLengths`, `numbersOnTrunk` and
    /// `ownedOrder` in step.
    private mutating func store(_ sid: String, _ record: IncomingNumber?) {
        let old = owned[sid]
        if let old {
            ownedSids[old.number.phoneNumber] = nil
            countLength(of: old.number.phoneNumber, by: -1)
        }
        if let record {
            ownedSids[record.number.phoneNumber] = sid
            countLength(of: record.number.phoneNumber, by: 1)
        }
        if old?.trunkSid != record?.trunkSid {
            if let trunkSid = old?.trunkSid {
                numbersOnTrunk[trunkSid]?.remove(sid)
                if numbersOnTrunk[trunkSid]?.isEmpty == true { numbersOnTrunk[trunkSid] = nil }
            }
            if let trunkSid = record?.trunkSid { numbersOnTrunk[trunkSid, default: []].insert(sid) }
        }
        owned[sid] = record
        if old == nil && record != nil {
            placeInOrder(sid)
        } else if old != nil && record == nil && ownedOrder.count > 2 * owned.count {
            // Released SIDs are more than half of it: dropped in one pass, which the releases since the last pass
            // (at least as many as the SIDs left) pay for. (A copy to read: `self` is being modified.)
            let current = owned
            ownedOrder.removeAll { current[$0.sid] == nil }
        }
    }

    private mutating func countLength(of phoneNumber: String, by change: Int) {
        let length = phoneNumber.count
        let count = ownedLengths[length, default: 0] + change
        ownedLengths[length] = count > 0 ? count : nil
    }

    /// Puts a newly owned SID in `ownedOrder` by its creation sequence: appended when it is the newest (a purchase),
    /// else inserted where it belongs (an undone release, a restore out of order). An entry with the same sequence
    /// that is this SID's own (kept since its release) or no longer owned (a purchase undone, whose sequence was
    /// issued again) is taken over rather than kept beside it.
    private mutating func placeInOrder(_ sid: String) {
        let sequence = numberSequence[sid] ?? 0
        guard let last = ownedOrder.last, last.sequence >= sequence else {
            ownedOrder.append((sequence, sid))
            return
        }
        var index = 0
        var high = ownedOrder.count
        while index < high {
            let middle = (index + high) / 2
            if ownedOrder[middle].sequence < sequence { index = middle + 1 } else { high = middle }
        }
        while index < ownedOrder.count && ownedOrder[index].sequence == sequence {
            let other = ownedOrder[index].sid
            if other == sid || owned[other] == nil {
                ownedOrder[index] = (sequence, sid)
                return
            }
            index += 1
        }
        ownedOrder.insert((sequence, sid), at: index)
    }

    private mutating func setTrunk(_ sid: String, _ trunk: Trunk?) {
        remember { [prior = trunks[sid]] in $0.trunks[sid] = prior }
        if tracksChanges { pendingChange.trunks.insert(sid) }
        trunks[sid] = trunk
    }

    /// Keeps `undo` (it puts back what the mutation about to happen changes) when changes are tracked.
    private mutating func remember(_ undo: @escaping @Sendable (inout SimulatorState) -> Void) {
        guard tracksChanges else { return }
        pendingChange.undo.append(undo)
    }

    /// What the router changed since the last call (the SIDs whose records changed, and how to undo it all), and
    /// starts a new change. Empty unless `tracksChanges`.
    mutating func takeChange() -> SimulatorChange {
        defer { pendingChange = SimulatorChange() }
        return pendingChange
    }

    /// Puts back everything `change` changed, newest first: the state is as it was before it.
    mutating func undo(_ change: SimulatorChange) {
        for step in change.undo.reversed() { step(&self) }
    }

    /// The part of the state a `SimulatorStateFile` keeps.
    func durableContents(seed: UInt64, journalSequence: Int = 0) -> SimulatorStateFile.Contents {
        SimulatorStateFile.Contents(
            version: SimulatorStateFile.version, seed: seed, sidGenerator: sidGenerator.state, sequence: nextSequence,
            numbers: ownedInOrder.map { .init(sequence: numberSequence[$0.sid] ?? 0, value: $0) },
            trunks: trunksInOrder.map { .init(sequence: trunkSequence[$0.sid] ?? 0, value: $0) },
            journalSequence: journalSequence, soldElsewhere: soldElsewhere.sorted())
    }

    /// The journal record of `change` (made on this state, which is now after it): the post-change values of what it
    /// touched, and the SID generator and creation counter.
    func journalRecord(of change: SimulatorChange, sequence: Int) -> SimulatorJournal.Record {
        var record = SimulatorJournal.Record(
            seq: sequence, sidGenerator: sidGenerator.state, lastCreation: nextSequence)
        for sid in change.numbers.sorted() {
            if let number = owned[sid] {
                record.numbers.append(.init(sequence: numberSequence[sid] ?? 0, value: number))
            } else {
                record.releasedNumbers.append(sid)
            }
        }
        for sid in change.trunks.sorted() {
            if let trunk = trunks[sid] {
                record.trunks.append(.init(sequence: trunkSequence[sid] ?? 0, value: trunk))
            } else {
                record.deletedTrunks.append(sid)
            }
        }
        if !change.soldElsewhere.isEmpty { record.soldElsewhere = change.soldElsewhere.sorted() }
        return record
    }

    /// Puts back what `durableContents` kept, on a fresh state (nothing is tracked). The derived indexes
    /// (`ownedSids`, `ownedLengths`, `numbersOnTrunk`, `ownedOrder`) are rebuilt as each number is stored: its
    /// sequence first, which places it. No released number or deleted trunk is kept: their page tokens and counts end
    /// with the process.
    mutating func restore(_ contents: SimulatorStateFile.Contents) {
        for entry in contents.numbers {
            sold.insert(entry.value.number.phoneNumber)
            numberSequence[entry.value.sid] = entry.sequence
            store(entry.value.sid, entry.value)
        }
        for entry in contents.trunks {
            trunks[entry.value.sid] = entry.value
            trunkSequence[entry.value.sid] = entry.sequence
        }
        soldElsewhere = Set(contents.soldElsewhere ?? [])
        sidGenerator = SeededGenerator(seed: contents.sidGenerator)
        nextSequence = contents.sequence
    }
}

/// The last entries of a history, oldest first: each is forgotten from the oldest on, and the forgotten ones are
/// dropped from storage once they outnumber those kept (a shift the forgetting since paid for), so neither costs a
/// shift of the array. What `SimulatorState` keeps of released numbers and deleted trunks.
private struct KeptHistory<Element: Sendable>: Sendable {
    private var entries: [Element] = []
    /// The first entry kept; those before it are forgotten.
    private var head = 0

    /// How many entries are kept.
    var count: Int { entries.count - head }

    /// The oldest entry kept (`count` must be positive).
    var oldest: Element { entries[head] }

    mutating func append(_ element: Element) {
        entries.append(element)
    }

    /// Takes back the newest entry: the undo of `append`.
    mutating func removeNewest() {
        entries.removeLast()
    }

    /// Forgets the oldest entry kept.
    mutating func forgetOldest() {
        head += 1
        if head > entries.count - head {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Keeps `element` again as the oldest entry: the undo of `forgetOldest`.
    mutating func putBackOldest(_ element: Element) {
        if head > 0 {
            head -= 1
            entries[head] = element
        } else {
            entries.insert(element, at: 0)
        }
    }
}

/// A released number `SimulatorState` still keeps the SID's creation sequence and the counts of.
private struct ReleasedNumber: Sendable {
    var sid: String
    var phoneNumber: String
    /// `releaseCounts` of the number just after this release: when it is higher by the time this entry is forgotten,
    /// the number was released again since, and the later entry forgets its counts.
    var releases: Int
}
