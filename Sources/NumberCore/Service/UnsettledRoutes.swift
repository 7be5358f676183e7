import Foundation

/// The trunks the provider may route numbers to other than the ones numberd records, after trunk changes that ended
/// unknown (no answer) or unrecorded (made at the provider, refused by the store): DeleteTrunk refuses each of them
/// (TRUNK_IN_USE), since deleting it at the provider would leave such a number ringing nowhere, still billed. Each
/// trunk is added to what a number already holds, never put in its place: a second unknown change of the number did
/// not make the first one's request land any less. Not durable (``NumberService/Local/unsettledRoutes``): for a trunk numberd made
/// at the provider, DeleteTrunk also asks the provider which numbers it routes there.
struct UnsettledRoutes {
    /// What one number holds.
    struct Entry: Equatable {
        /// Held until a change of the number, or its release, is recorded: the trunks its unknown or unrecorded
        /// changes asked for, and those the look-ups after them showed it on. A recorded change says where the
        /// provider routes the number from then on, but for requests that may still land (`lateUntil`).
        var untilSettled: Set<String> = []
        /// The trunks of changes that got no answer, with when each request can no longer land at the provider
        /// (``NumberService/lateBuySeconds`` after it ended, as for a voided purchase's buy): one may land after a
        /// later change is recorded and route the number back, so a recorded change keeps these until then. Only a
        /// recorded release of the number drops them sooner (the provider routes a released number nowhere).
        var lateUntil: [String: Date] = [:]

        /// Whether it holds no trunk.
        var isEmpty: Bool { untilSettled.isEmpty && lateUntil.isEmpty }
    }

    /// By number id; a number without an entry holds nothing.
    private(set) var entries: [String: Entry] = [:]

    /// Holds `trunkIds` for `numberId` until a change of it, or its release, is recorded.
    mutating func hold(_ trunkIds: some Sequence<String>, of numberId: String) {
        var entry = entries[numberId] ?? Entry()
        entry.untilSettled.formUnion(trunkIds)
        entries[numberId] = entry.isEmpty ? nil : entry
    }

    /// Holds `trunkId` for `numberId` until `until` even past a recorded change of the number: the request of a change
    /// to it got no answer and may land until then.
    mutating func holdLate(_ trunkId: String, of numberId: String, until: Date) {
        var entry = entries[numberId] ?? Entry()
        entry.lateUntil[trunkId] = max(until, entry.lateUntil[trunkId] ?? until)
        entries[numberId] = entry
    }

    /// A change of the number is recorded at `now`: what it held until then is settled, but for the requests that may
    /// still land after it.
    mutating func settle(_ numberId: String, at now: Date) {
        guard var entry = entries[numberId] else { return }
        entry.untilSettled = []
        entry.lateUntil = entry.lateUntil.filter { $0.value > now }
        entries[numberId] = entry.isEmpty ? nil : entry
    }

    /// The number's release is recorded: the provider routes it nowhere, whatever lands later.
    mutating func remove(_ numberId: String) {
        entries.removeValue(forKey: numberId)
    }

    /// Whether a number may be routed to `trunkId` at `now`. The requests that can no longer land by `now` are
    /// forgotten on the way (the entries are read here only, so they are pruned here).
    mutating func holds(_ trunkId: String, at now: Date) -> Bool {
        var held = false
        var expired: [String] = []
        for (numberId, entry) in entries {
            if entry.lateUntil.values.contains(where: { $0 <= now }) { expired.append(numberId) }
            if entry.untilSettled.contains(trunkId) || entry.lateUntil[trunkId].map({ $0 > now }) == true {
                held = true
            }
        }
        for numberId in expired {
            guard var entry = entries[numberId] else { continue }
            entry.lateUntil = entry.lateUntil.filter { $0.value > now }
            entries[numberId] = entry.isEmpty ? nil : entry
        }
        return held
    }
}
