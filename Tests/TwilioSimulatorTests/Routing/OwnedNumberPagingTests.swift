import Foundation
import Testing

@testable import TwilioSimulator

/// Lists of the account's numbers are cut from the state's creation order where their page starts, and a whole
/// number as the `PhoneNumber` filter is looked up through the E.164 index: each page is the one a scan of every owned
/// number cuts (the array form of `PageWindow`, as before), at the cost of the page, not of the numbers owned.
@Suite struct OwnedNumberPagingTests {
    /// Owns `count` US numbers, a tenth of them toll-free, in a shuffled order, every 7th named "seventh".
    private static func harness(owning count: Int = 5_000) throws -> RouterHarness {
        var h = RouterHarness()
        let areas = CountryCatalog.unitedStates.areas
        let tollFree = count / 10
        var numbers =
            h.state.available(in: areas.filter { $0.type == .local }, limit: count - tollFree, scanMax: 200_000)
            + h.state.available(in: areas.filter { $0.type == .tollFree }, limit: tollFree, scanMax: 200_000)
        try #require(numbers.count == count)
        var rng = SeededGenerator(seed: 7)
        numbers.shuffle(using: &rng)
        for (index, number) in numbers.enumerated() {
            own(number, in: &h, name: index % 7 == 0 ? "seventh" : nil)
        }
        return h
    }

    /// Buys `number` straight into the state (no request: the GB numbers need no Bundle here).
    private static func own(_ number: AvailableNumber, in h: inout RouterHarness, name: String? = nil) {
        var record = IncomingNumber(sid: "", number: number, friendlyName: name, at: h.context.now)
        record.sid = h.state.issueSid("PN")
        h.state.recordPurchase(record)
    }

    /// What a page shows: its numbers and every paging field.
    private static func summary(_ window: PageWindow<IncomingNumber>) -> [String] {
        window.items.map(\.sid) + [
            "page \(window.page)", "size \(window.pageSize)", "start \(window.start)",
            "next \(window.nextToken ?? "none")", "previous \(window.previousToken ?? "none")",
        ]
    }

    private static func sids(_ reply: Reply) -> [String] {
        (reply.json["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
    }

    /// Sends a GET to a `*_page_uri` as the envelope gives it.
    private static func get(_ uri: String, _ h: inout RouterHarness) throws -> Reply {
        let mark = try #require(uri.firstIndex(of: "?"))
        let query = FormParameters(encoded: String(uri[uri.index(after: mark)...])).pairs
        return h.send("GET", String(uri[..<mark]), query: query)
    }

    @Test func everyPageTheWalkCutsIsThePageAScanOfEveryNumberCuts() throws {
        var h = try Self.harness()
        let sids = h.state.ownedInOrder.map(\.sid)
        // Released SIDs stay in the creation order (skipped) until they are half of it: the first and the last
        // numbers, and every third among the first 1 500.
        var released = [sids[0], sids[sids.count - 1]]
        for index in stride(from: 3, to: 1_500, by: 3) { released.append(sids[index]) }
        for sid in released { h.state.recordRelease(sid: sid) }
        let state = h.state
        let limits = h.configuration.limits
        let filters: [(name: String, accepts: (IncomingNumber) -> Bool)] = [
            ("all", { _ in true }),
            ("local", { $0.number.type == .local }),
            ("seventh", { $0.friendlyName == "seventh" }),
            ("toll-free seventh", { $0.number.type == .tollFree && $0.friendlyName == "seventh" }),
            ("none", { _ in false }),
        ]
        let anchors = [0, 1, 2, 3, 4, 499, 2_500, 4_997, 4_998, 4_999].map { sids[$0] } + Array(released.prefix(4))
        var queries: [[(String, String)]] = [
            [], [("Page", "3")], [("PageSize", "1000")], [("Page", "200")], [("PageSize", "7"), ("Page", "11")],
        ]
        for anchor in anchors {
            for size in ["1", "7", "50"] {
                queries.append([("PageSize", size), ("Page", "1"), ("PageToken", "PA" + anchor)])
                queries.append([("PageSize", size), ("Page", "1"), ("PageToken", "PB" + anchor)])
            }
        }
        for filter in filters {
            let all = state.ownedInOrder.filter(filter.accepts)
            for query in queries {
                let params = FormParameters(pairs: query)
                let scanned = try PageWindow(
                    all, sid: \.sid, sequence: { state.numberSequence[$0] }, params: params, limits: limits)
                let walked = try PageWindow<IncomingNumber>(
                    ownedIn: state, where: filter.accepts, params: params, limits: limits)
                #expect(Self.summary(walked) == Self.summary(scanned), "\(filter.name) \(query)")
            }
        }
    }

    @Test func aPageLooksAtThePageNotAtEveryOwnedNumber() throws {
        let h = try Self.harness()
        let sids = h.state.ownedInOrder.map(\.sid)
        let limits = h.configuration.limits
        func walked(_ query: [(String, String)]) throws -> PageWindow<IncomingNumber> {
            try PageWindow(ownedIn: h.state, where: { _ in true }, params: FormParameters(pairs: query), limits: limits)
        }
        // The page and one more (a next page exists), and one back (a previous one does).
        let first = try walked([("PageSize", "50")])
        #expect(first.items.map(\.sid) == Array(sids[0..<50]) && first.visited == 51)
        let after = try walked([("PageSize", "50"), ("Page", "50"), ("PageToken", "PA" + sids[2_499])])
        #expect(after.items.map(\.sid) == Array(sids[2_500..<2_550]) && after.visited == 52)
        #expect(after.nextToken == "PA" + sids[2_549] && after.previousToken == "PB" + sids[2_500])
        // Back to the anchor first for a previous page.
        let before = try walked([("PageSize", "50"), ("Page", "49"), ("PageToken", "PB" + sids[2_500])])
        #expect(before.items.map(\.sid) == Array(sids[2_450..<2_500]) && before.visited == 102)
        let last = try walked([("PageSize", "1000"), ("Page", "4"), ("PageToken", "PA" + sids[3_999])])
        #expect(last.items.count == 1_000 && last.nextToken == nil && last.visited == 1_001)
    }

    @Test func followingTheLinksBothWaysShowsTheFilteredListInOrder() throws {
        var h = try Self.harness()
        for sid in h.state.ownedInOrder.map(\.sid).prefix(2_000) where sid.hasSuffix("a") {
            h.state.recordRelease(sid: sid)
        }
        let expected = h.state.ownedInOrder.filter { $0.number.type == .local && $0.friendlyName == "seventh" }
        try #require(expected.count > 300)
        var pages: [[String]] = []
        var uri: String? = "\(h.api)/IncomingPhoneNumbers/Local.json?FriendlyName=seventh&PageSize=100"
        var lastReply: Reply?
        while let next = uri {
            let reply = try Self.get(next, &h)
            #expect(reply.status == 200)
            pages.append(Self.sids(reply))
            uri = reply.json["next_page_uri"] as? String
            lastReply = reply
        }
        #expect(pages.flatMap { $0 } == expected.map(\.sid))
        var backward: [[String]] = []
        uri = lastReply?.json["previous_page_uri"] as? String
        while let previous = uri {
            let reply = try Self.get(previous, &h)
            backward.insert(Self.sids(reply), at: 0)
            uri = reply.json["previous_page_uri"] as? String
        }
        #expect(backward == Array(pages.dropLast()))
    }

    /// With numbers of two lengths owned (GB, 13 characters, and US, 12), a whole number as the `PhoneNumber` filter
    /// and its starts up to 3 digits short of the longest owned number are answered through the E.164 index, never a
    /// scan, and find what a scan of every owned number finds: the number itself and the longer numbers it begins,
    /// in creation order. Shorter starts are left to the scan.
    @Test func aWholeNumberIsLookedUpThroughTheIndexBesideLongerNumbers() throws {
        var h = RouterHarness()
        let us = h.state.available(
            in: CountryCatalog.unitedStates.areas.filter { $0.type == .local }, limit: 300, scanMax: 200_000)
        let gb = h.state.available(
            in: CountryCatalog.unitedKingdom.areas.filter { $0.type == .tollFree }, limit: 40, scanMax: 200_000)
        try #require(us.count == 300 && gb.count == 40)
        var numbers = Array(us.dropLast()) + gb
        var rng = SeededGenerator(seed: 11)
        numbers.shuffle(using: &rng)
        for number in numbers { Self.own(number, in: &h) }
        let owned = h.state.ownedInOrder
        var patterns = [us[us.count - 1].phoneNumber]
        for record in Array(owned.prefix(30)) + owned.filter({ $0.number.isoCountry == "GB" }) {
            let number = record.number.phoneNumber
            patterns += [number] + (1...4).map { String(number.dropLast($0)) }
        }
        for pattern in patterns {
            let scanned = owned.filter { PhoneNumberPattern(pattern).matches($0.number.phoneNumber) }.map(\.sid)
            let found = h.state.ownedNumbers(matchingExactly: pattern)
            #expect((found != nil) == (pattern.count >= 13 - 3), "\(pattern)")
            if let found { #expect(found.map(\.sid) == scanned, "\(pattern)") }
        }

        // Through the list: the same as before the index took the look-up (what a wildcard, scanned, finds).
        let path = "\(h.api)/IncomingPhoneNumbers.json"
        let american = try #require(owned.first { $0.number.isoCountry == "US" })
        let number = american.number.phoneNumber
        #expect(Self.sids(h.send("GET", path, query: [("PhoneNumber", number)])) == [american.sid])
        let wildcard = "*" + String(number.dropFirst())
        #expect(Self.sids(h.send("GET", path, query: [("PhoneNumber", wildcard)])) == [american.sid])
        let british = try #require(owned.first { $0.number.isoCountry == "GB" }).number.phoneNumber
        let start = String(british.dropLast(2))
        let starting = owned.filter { $0.number.phoneNumber.hasPrefix(start) }.map(\.sid)
        #expect(Self.sids(h.send("GET", path, query: [("PhoneNumber", start)])) == starting)
    }
}
