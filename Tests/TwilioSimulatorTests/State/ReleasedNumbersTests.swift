import Foundation
import Testing

@testable import TwilioSimulator

/// A long run of purchases and releases leaves behind only what the numbers still need: the creation sequences and
/// counts of the numbers owned and of the last `releasedNumbersKeptMax` released (page tokens naming those stay
/// valid), not an entry per number bought since the start.
@Suite struct ReleasedNumbersTests {
    /// What the state keeps per number, beside the records.
    private struct Kept: Equatable {
        var numberSequence: [String: Int]
        var purchaseCounts: [String: Int]
        var repeatPurchaseCounts: [String: Int]
        var releaseCounts: [String: Int]
        var owned: [String]

        init(_ state: SimulatorState) {
            numberSequence = state.numberSequence
            purchaseCounts = state.purchaseCounts
            repeatPurchaseCounts = state.repeatPurchaseCounts
            releaseCounts = state.releaseCounts
            owned = state.ownedInOrder.map(\.sid)
        }
    }

    /// A harness keeping `kept` released numbers, and `count` US numbers it can buy.
    private static func harness(keeping kept: Int, numbers count: Int) throws -> (RouterHarness, [String]) {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.releasedNumbersKeptMax = kept
        let h = RouterHarness(configuration: configuration)
        let areas = CountryCatalog.unitedStates.areas.filter { $0.type == .local }
        let phones = h.state.available(in: areas, limit: count, scanMax: 200_000).map(\.phoneNumber)
        try #require(phones.count == count)
        return (h, phones)
    }

    private static func buy(_ phone: String, _ h: inout RouterHarness) throws -> String {
        let bought = h.buy(phone)
        #expect(bought.status == 201)
        return try #require(bought.json["sid"] as? String)
    }

    private static func release(_ sid: String, _ h: inout RouterHarness) {
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(sid).json").status == 204)
    }

    private static func listed(_ reply: Reply) -> [String] {
        (reply.json["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
    }

    @Test func aReleasePastTheLimitForgetsTheOldestReleasedNumberOnly() throws {
        let (harness, phones) = try Self.harness(keeping: 3, numbers: 20)
        var h = harness
        var sids: [String] = []
        for phone in phones { sids.append(try Self.buy(phone, &h)) }
        // Bought again while owned: counted as repeats.
        #expect(h.buy(phones[2]).status == 201)
        #expect(h.buy(phones[8]).status == 201)
        for sid in sids[0..<10] { Self.release(sid, &h) }

        // Kept: the 10 numbers owned and the last 3 released, counts and all.
        #expect(Set(h.state.numberSequence.keys) == Set(sids[7...]))
        #expect(Set(h.state.purchaseCounts.keys) == Set(phones[7...]))
        #expect(Set(h.state.releaseCounts.keys) == Set(phones[7..<10]))
        #expect(h.state.repeatPurchaseCounts == [phones[8]: 1])
        #expect(h.state.purchaseCounts[phones[9]] == 1 && h.state.releaseCounts[phones[9]] == 1)
        // A page token naming a released number kept still pages; one naming a forgotten number is refused.
        let list = "\(h.api)/IncomingPhoneNumbers.json"
        let kept = h.send("GET", list, query: [("PageSize", "2"), ("Page", "1"), ("PageToken", "PA" + sids[9])])
        #expect(kept.status == 200 && Self.listed(kept) == [sids[10], sids[11]])
        let forgotten = h.send("GET", list, query: [("PageSize", "2"), ("Page", "1"), ("PageToken", "PA" + sids[6])])
        #expect(forgotten.status == 400 && forgotten.code == 21481)

        // Bought again, a number keeps its counts when its earlier release is forgotten.
        let again = try Self.buy(phones[9], &h)
        for sid in sids[10..<14] { Self.release(sid, &h) }
        let owned = [again] + Array(sids[14...])
        #expect(Set(h.state.numberSequence.keys) == Set(owned + Array(sids[11..<14])))
        #expect(Set(h.state.purchaseCounts.keys) == Set([phones[9]] + Array(phones[11...])))
        #expect(Set(h.state.releaseCounts.keys) == Set([phones[9]] + Array(phones[11..<14])))
        #expect(h.state.purchaseCounts[phones[9]] == 2 && h.state.releaseCounts[phones[9]] == 1)

        // A long run of purchases and releases leaves as much behind as a short one; a number whose counts were
        // forgotten counts from 0 when bought again.
        Self.release(again, &h)
        for round in 0..<60 {
            let sid = try Self.buy(phones[round % 7], &h)
            Self.release(sid, &h)
        }
        let live = h.state.ownedInOrder
        #expect(live.map(\.sid) == Array(sids[14...]))
        let lastReleased = [phones[1], phones[2], phones[3]]
        #expect(h.state.numberSequence.count == live.count + 3)
        #expect(Set(h.state.purchaseCounts.keys) == Set(live.map(\.number.phoneNumber) + lastReleased))
        #expect(Set(h.state.releaseCounts.keys) == Set(lastReleased))
        #expect(h.state.repeatPurchaseCounts.isEmpty)
        #expect(lastReleased.allSatisfy { h.state.purchaseCounts[$0] == 1 && h.state.releaseCounts[$0] == 1 })
    }

    /// A release that could not be journalled is undone with what it forgot (its SID's sequence, its counts, its
    /// place among the released numbers kept): the same release again forgets the same.
    @Test func undoingAReleasePutsBackWhatItForgot() throws {
        let (harness, phones) = try Self.harness(keeping: 1, numbers: 4)
        var h = harness
        h.state.tracksChanges = true
        var sids: [String] = []
        for phone in phones { sids.append(try Self.buy(phone, &h)) }
        Self.release(sids[0], &h)
        Self.release(sids[1], &h)
        _ = h.state.takeChange()
        let before = Kept(h.state)
        Self.release(sids[2], &h)
        let change = h.state.takeChange()
        let after = Kept(h.state)
        #expect(Set(after.numberSequence.keys) == [sids[2], sids[3]])
        #expect(after.releaseCounts == [phones[2]: 1])
        h.state.undo(change)
        #expect(Kept(h.state) == before)
        Self.release(sids[2], &h)
        #expect(Kept(h.state) == after)
        Self.release(sids[3], &h)
        #expect(Set(h.state.numberSequence.keys) == [sids[3]] && h.state.releaseCounts == [phones[3]: 1])
    }
}
