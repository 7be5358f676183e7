/// All simulator state as one value: inventory, owned numbers, trunks, counters, log and fault rules.
/// The engine keeps it behind a `Mutex`; the router mutates it as a plain value, so routing is testable alone.
public struct SimulatorState: Sendable {
    /// The carrier inventory (sold or not), a function of the seed.
    public let inventory: VirtualInventory
    /// E.164 numbers currently owned (absent from search).
    public private(set) var sold: Set<String> = []
    /// Owned numbers by PN SID.
    public internal(set) var owned: [String: IncomingNumber] = [:]
    /// Creation sequence of every PN SID ever issued (kept after release so page tokens stay valid).
    public internal(set) var numberSequence: [String: Int] = [:]
    /// Trunks by TK SID.
    public internal(set) var trunks: [String: Trunk] = [:]
    /// Creation sequence of every TK SID ever issued.
    public internal(set) var trunkSequence: [String: Int] = [:]
    /// Successful purchases per E.164 number (a count above 1 without a release between is a double buy).
    public internal(set) var purchaseCounts: [String: Int] = [:]
    /// Purchases of a number the account already owned (Twilio answers 201 and changes nothing billable).
    public internal(set) var repeatPurchaseCounts: [String: Int] = [:]
    /// Releases per E.164 number.
    public internal(set) var releaseCounts: [String: Int] = [:]
    /// The fault rules.
    public var faults: FaultInjector
    private var nextSequence = 0
    private var sidGenerator: SeededGenerator

    /// Builds the inventory from the configuration's seed.
    public init(configuration: SimulatorConfiguration) {
        inventory = VirtualInventory(
            seed: configuration.seed, densityPerMille: configuration.limits.inventoryDensityPerMille)
        faults = FaultInjector(seed: configuration.seed)
        for rule in configuration.faults { faults.add(rule) }
        sidGenerator = SeededGenerator(seed: configuration.seed ^ 0x5151_5151_5151_5151)
    }

    /// The inventory entry for an E.164 number (sold or not), or nil when the carrier has no such number.
    public func inventoryEntry(_ phoneNumber: String) -> AvailableNumber? {
        inventory.lookup(phoneNumber)
    }

    /// True when the number is in inventory and not owned.
    public func isAvailable(_ phoneNumber: String) -> Bool {
        !sold.contains(phoneNumber) && inventory.lookup(phoneNumber) != nil
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
            if !sold.contains(number.phoneNumber) && accept(number) && seen.insert(number.phoneNumber).inserted {
                found.append(number)
            }
            return found.count < limit
        }
        return found
    }

    /// Owned numbers in creation order.
    public var ownedInOrder: [IncomingNumber] {
        owned.values.sorted { numberSequence[$0.sid, default: 0] < numberSequence[$1.sid, default: 0] }
    }

    /// Trunks in creation order.
    public var trunksInOrder: [Trunk] {
        trunks.values.sorted { trunkSequence[$0.sid, default: 0] < trunkSequence[$1.sid, default: 0] }
    }

    /// A fresh SID with `prefix`, recording its creation sequence.
    mutating func issueSid(_ prefix: String) -> String {
        var sid = SidFactory.make(prefix, rng: &sidGenerator)
        while numberSequence[sid] != nil || trunkSequence[sid] != nil {
            sid = SidFactory.make(prefix, rng: &sidGenerator)
        }
        nextSequence += 1
        if prefix == "TK" { trunkSequence[sid] = nextSequence } else { numberSequence[sid] = nextSequence }
        return sid
    }

    /// Takes a number out of inventory for `record` and counts the purchase.
    mutating func recordPurchase(_ record: IncomingNumber) {
        sold.insert(record.number.phoneNumber)
        owned[record.sid] = record
        purchaseCounts[record.number.phoneNumber, default: 0] += 1
    }

    /// The part of the state a `SimulatorStateFile` keeps.
    func durableContents(seed: UInt64) -> SimulatorStateFile.Contents {
        SimulatorStateFile.Contents(
            version: SimulatorStateFile.version, seed: seed, sidGenerator: sidGenerator.state, sequence: nextSequence,
            numbers: ownedInOrder.map { .init(sequence: numberSequence[$0.sid] ?? 0, value: $0) },
            trunks: trunksInOrder.map { .init(sequence: trunkSequence[$0.sid] ?? 0, value: $0) })
    }

    /// Puts back what `durableContents` kept, on a fresh state.
    mutating func restore(_ contents: SimulatorStateFile.Contents) {
        for entry in contents.numbers {
            sold.insert(entry.value.number.phoneNumber)
            owned[entry.value.sid] = entry.value
            numberSequence[entry.value.sid] = entry.sequence
        }
        for entry in contents.trunks {
            trunks[entry.value.sid] = entry.value
            trunkSequence[entry.value.sid] = entry.sequence
        }
        sidGenerator = SeededGenerator(seed: contents.sidGenerator)
        nextSequence = contents.sequence
    }

    /// Releases an owned number back to inventory.
    mutating func recordRelease(sid: String) {
        guard let record = owned.removeValue(forKey: sid) else { return }
        sold.remove(record.number.phoneNumber)
        releaseCounts[record.number.phoneNumber, default: 0] += 1
    }
}
