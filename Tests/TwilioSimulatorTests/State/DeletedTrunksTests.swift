import Foundation
import Testing

@testable import TwilioSimulator

/// A CreateTrunk and DeleteTrunk loop leaves behind only the creation sequences of the trunks that exist and of the
/// last `releasedNumbersKeptMax` deleted (page tokens naming those stay valid), not one per trunk ever created, as for
/// released numbers (`ReleasedNumbersTests`); a trunk's DELETE finds its numbers through the state's index of them.
@Suite struct DeletedTrunksTests {
    /// A harness keeping `kept` deleted trunks (and released numbers).
    private static func harness(keeping kept: Int) -> RouterHarness {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.releasedNumbersKeptMax = kept
        return RouterHarness(configuration: configuration)
    }

    private static func create(_ h: inout RouterHarness) throws -> String {
        let created = h.send("POST", "/v1/Trunks")
        #expect(created.status == 201)
        return try #require(created.json["sid"] as? String)
    }

    private static func delete(_ sid: String, _ h: inout RouterHarness) {
        #expect(h.send("DELETE", "/v1/Trunks/\(sid)").status == 204)
    }

    private static func listed(_ reply: Reply) -> [String] {
        (reply.json["trunks"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
    }

    @Test func aLoopOfCreationsAndDeletionsKeepsTheLastDeletedOnly() throws {
        var h = Self.harness(keeping: 100)
        var live: [String] = []
        for _ in 0..<3 { live.append(try Self.create(&h)) }
        var deleted: [String] = []
        for _ in 0..<20_000 {
            let sid = try Self.create(&h)
            Self.delete(sid, &h)
            deleted.append(sid)
        }
        #expect(h.state.trunkSequence.count <= 100 + h.state.trunks.count)
        #expect(Set(h.state.trunkSequence.keys) == Set(live + deleted.suffix(100)))
        #expect(h.state.trunksInOrder.map(\.sid) == live)
        // A page token naming a trunk deleted among the last 100 still pages; one naming an earlier one is refused.
        let page = [("PageSize", "2"), ("Page", "1")]
        let kept = h.send("GET", "/v1/Trunks", query: page + [("PageToken", "PB" + deleted[deleted.count - 1])])
        #expect(kept.status == 200 && Self.listed(kept) == [live[1], live[2]])
        let forgotten = h.send("GET", "/v1/Trunks", query: page + [("PageToken", "PB" + deleted[0])])
        #expect(forgotten.status == 400 && forgotten.code == 21481)
    }

    /// A deletion that could not be journalled is undone with what it forgot (the oldest deleted trunk's sequence and
    /// its place among those kept): the same deletion again forgets the same.
    @Test func undoingADeletionPutsBackWhatItForgot() throws {
        var h = Self.harness(keeping: 1)
        h.state.tracksChanges = true
        var sids: [String] = []
        for _ in 0..<3 { sids.append(try Self.create(&h)) }
        Self.delete(sids[0], &h)
        Self.delete(sids[1], &h)
        _ = h.state.takeChange()
        let before = h.state.trunkSequence
        #expect(Set(before.keys) == [sids[1], sids[2]])
        Self.delete(sids[2], &h)
        let change = h.state.takeChange()
        let after = h.state.trunkSequence
        #expect(Set(after.keys) == [sids[2]])
        h.state.undo(change)
        #expect(h.state.trunkSequence == before && h.state.trunks[sids[2]] != nil)
        Self.delete(sids[2], &h)
        #expect(h.state.trunkSequence == after && h.state.trunks.isEmpty)
    }

    /// The index a trunk's DELETE reads follows each number's trunk: association, a move to another trunk, the
    /// deletion itself and a release.
    @Test func aTrunksDeletionClearsItsOwnNumbersOnly() throws {
        var h = Self.harness(keeping: 10)
        let first = try Self.create(&h)
        let second = try Self.create(&h)
        let phones = h.search().prefix(3).compactMap { $0["phone_number"] as? String }
        try #require(phones.count == 3)
        var pns: [String] = []
        for phone in phones { pns.append(try #require(h.buy(phone).json["sid"] as? String)) }
        for pn in pns {
            #expect(h.send("POST", "/v1/Trunks/\(first)/PhoneNumbers", form: [("PhoneNumberSid", pn)]).status == 201)
        }
        #expect(h.send("POST", "/v1/Trunks/\(second)/PhoneNumbers", form: [("PhoneNumberSid", pns[2])]).status == 201)
        #expect(h.state.numberSids(onTrunk: first) == Set(pns[0..<2]))
        #expect(h.state.numberSids(onTrunk: second) == [pns[2]])
        Self.delete(first, &h)
        #expect(pns.map { h.state.owned[$0]?.trunkSid } == [nil, nil, second])
        #expect(h.state.numberSids(onTrunk: first).isEmpty)
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(pns[2]).json").status == 204)
        #expect(h.state.numberSids(onTrunk: second).isEmpty)
    }
}
