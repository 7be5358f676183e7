import Foundation
import Testing

@testable import TwilioSimulator

/// The journal carries only what each request touched, so it is only as good as the tracking: after any sequence of
/// requests (purchases, repeat purchases, updates of names, URLs and trunks, releases, trunk creation, update,
/// deletion, number association and removal, refused and read-only requests), the snapshot rebuilt from the journal
/// lines equals what `durableContents` keeps of the live state, and undoing a change puts everything back.
@Suite struct SimulatorChangeTests {
    /// Everything a state holds that a change may touch, durable or not (for comparing after an undo).
    private struct Observable: Equatable {
        var contents: SimulatorStateFile.Contents
        var sold: Set<String>
        var numberSequence: [String: Int]
        var trunkSequence: [String: Int]
        var purchaseCounts: [String: Int]
        var repeatPurchaseCounts: [String: Int]
        var releaseCounts: [String: Int]
        /// The owner found by E.164 for each number of the pool.
        var owners: [String?]

        init(_ state: SimulatorState, pool: [String]) {
            contents = state.durableContents(seed: 1)
            sold = state.sold
            numberSequence = state.numberSequence
            trunkSequence = state.trunkSequence
            purchaseCounts = state.purchaseCounts
            repeatPurchaseCounts = state.repeatPurchaseCounts
            releaseCounts = state.releaseCounts
            owners = pool.map { state.ownedNumber(phoneNumber: $0)?.sid }
        }
    }

    /// One random request of any kind that can change the account (or be refused, or only read).
    private static func randomRequest(
        _ h: inout RouterHarness, pool: [String], rng: inout SeededGenerator
    ) -> (method: String, path: String, form: [(String, String)]) {
        let owned = h.state.ownedInOrder.map(\.sid)
        let trunks = h.state.trunksInOrder.map(\.sid)
        func pick(_ sids: [String], orUnknown prefix: String) -> String {
            guard !sids.isEmpty, rng.chance(0.9) else { return prefix + String(repeating: "0", count: 32) }
            return sids[Int(rng.next() % UInt64(sids.count))]
        }
        let number = pool[Int(rng.next() % UInt64(pool.count))]
        let trunk = pick(trunks, orUnknown: "TK")
        let pn = pick(owned, orUnknown: "PN")
        var settings: [(String, String)] = []
        if rng.chance(0.3) { settings.append(("FriendlyName", "name \(rng.next() % 100)")) }
        if rng.chance(0.3) { settings.append(("VoiceUrl", rng.chance(0.2) ? "" : "https://x.test/\(rng.next() % 9)")) }
        if rng.chance(0.2) { settings.append(("TrunkSid", trunk)) }
        if rng.chance(0.1) { settings.append(("VoiceApplicationSid", "AP" + String(repeating: "a", count: 32))) }
        let api = h.api
        switch rng.next() % 13 {
        case 0, 1: return ("POST", "\(api)/IncomingPhoneNumbers.json", [("PhoneNumber", number)] + settings)
        case 2: return ("POST", "\(api)/IncomingPhoneNumbers/Local.json", [("PhoneNumber", number)])
        case 3: return ("POST", "\(api)/IncomingPhoneNumbers.json", [("AreaCode", "415")])
        case 4: return ("POST", "\(api)/IncomingPhoneNumbers/\(pn).json", settings)
        case 5, 6: return ("DELETE", "\(api)/IncomingPhoneNumbers/\(pn).json", [])
        case 7:
            let domain = "d\(rng.next() % 6).pstn.twilio.com"
            return ("POST", "/v1/Trunks", [("FriendlyName", "t"), ("DomainName", domain)])
        case 8:
            return ("POST", "/v1/Trunks/\(trunk)", [("FriendlyName", "u\(rng.next() % 50)"), ("Secure", "true")])
        case 9: return ("DELETE", "/v1/Trunks/\(trunk)", [])
        case 10: return ("POST", "/v1/Trunks/\(trunk)/PhoneNumbers", [("PhoneNumberSid", pn)])
        case 11: return ("DELETE", "/v1/Trunks/\(trunk)/PhoneNumbers/\(pn)", [])
        default: return ("GET", "\(api)/IncomingPhoneNumbers.json", [])
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func theJournalRebuildsExactlyWhatIsKeptAfterAnyRequests(seed: UInt64) throws {
        var h = RouterHarness()
        h.state.tracksChanges = true
        let pool = h.search("US", "Local").prefix(10).compactMap { $0["phone_number"] as? String }
        #expect(pool.count == 10)
        var rng = SeededGenerator(seed: seed)
        var replay = SimulatorStateFile.Replay(h.state.durableContents(seed: 1))
        var lines = 0
        var kinds: [String: Int] = [:]
        for step in 0..<600 {
            h.context.now = Date(timeIntervalSince1970: 1_438_298_344 + Double(step))
            let before = Observable(h.state, pool: pool)
            let (method, path, form) = Self.randomRequest(&h, pool: pool, rng: &rng)
            let reply = h.send(method, path, form: form)
            let change = h.state.takeChange()
            // The look-up by E.164 finds exactly the owned numbers.
            for number in pool {
                let owner = h.state.ownedNumber(phoneNumber: number)
                #expect(owner?.number.phoneNumber ?? number == number)
                #expect(
                    (owner != nil) == h.state.sold.contains(number) && owner == owner.flatMap { h.state.owned[$0.sid] })
            }
            kinds["\(method) \(reply.status)", default: 0] += 1
            if method == "GET" || reply.status >= 400 {
                #expect(change.isEmpty, "\(method) \(path) → \(reply.status) changed the state")
                #expect(Observable(h.state, pool: pool) == before)
                continue
            }
            #expect(!change.isEmpty, "\(method) \(path) → \(reply.status) recorded no change")
            if rng.chance(0.15) {
                // A change that could not be written: undone entirely, counters and sequences included.
                h.state.undo(change)
                #expect(Observable(h.state, pool: pool) == before, "undo of \(method) \(path)")
                continue
            }
            lines += 1
            // Through its JSON line, as the journal stores it.
            let line = try JSONEncoder().encode(h.state.journalRecord(of: change, sequence: lines))
            let record = try JSONDecoder().decode(SimulatorJournal.Record.self, from: line)
            replay.apply(record)
            #expect(
                replay.contents(seed: 1) == h.state.durableContents(seed: 1, journalSequence: lines),
                "after \(method) \(path) → \(reply.status)")
        }
        // The sequence exercised every kind of change, refused ones included.
        for kind in ["POST 201", "POST 200", "DELETE 204", "POST 400", "DELETE 404", "GET 200"] {
            #expect(kinds[kind, default: 0] > 0, "no \(kind) in \(kinds)")
        }
        #expect(!h.state.owned.isEmpty && lines > 200)
    }

    @Test func aStateInMemoryOnlyTracksNothing() {
        var h = RouterHarness()
        let number = h.search("US", "Local").first?["phone_number"] as? String ?? ""
        #expect(h.buy(number).status == 201)
        #expect(h.state.takeChange().isEmpty)
    }
}
