import Foundation
import Testing

@testable import TwilioSimulator

@Suite struct RouterPagingTests {
    /// Buys `count` numbers and returns the harness.
    private func harness(owning count: Int) -> RouterHarness {
        var h = RouterHarness()
        for n in h.search("US", "Local", [("PageSize", String(count))]) {
            _ = h.buy(n["phone_number"] as? String ?? "")
        }
        return h
    }

    @Test func followingNextPageUriVisitsEveryNumberOnce() throws {
        var h = harness(owning: 7)
        var uri: String? = "\(h.api)/IncomingPhoneNumbers.json?PageSize=3"
        var seen: [String] = []
        var pages = 0
        while let next = uri {
            let mark = try #require(next.firstIndex(of: "?"))
            let query = FormParameters(encoded: String(next[next.index(after: mark)...])).pairs
            let reply = h.send("GET", String(next[..<mark]), query: query)
            #expect(reply.status == 200)
            let items = reply.json["incoming_phone_numbers"] as? [[String: Any]] ?? []
            seen += items.compactMap { $0["sid"] as? String }
            #expect(reply.json["page"] as? Int == pages)
            #expect(reply.json["start"] as? Int == pages * 3)
            #expect(reply.json["end"] as? Int == pages * 3 + items.count - 1)
            uri = reply.json["next_page_uri"] as? String
            pages += 1
        }
        #expect(pages == 3)
        #expect(seen.count == 7 && Set(seen).count == 7)
        #expect(seen == h.state.ownedInOrder.map(\.sid))
    }

    @Test func envelopeUrisKeepFiltersThenPaging() throws {
        var h = harness(owning: 3)
        let first = try #require(h.state.ownedInOrder.first)
        let reply = h.send(
            "GET", "\(h.api)/IncomingPhoneNumbers.json",
            query: [("PhoneNumber", first.number.phoneNumber), ("PageSize", "2")])
        let encoded = FormParameters.encode(first.number.phoneNumber)
        #expect(
            reply.json["first_page_uri"] as? String
                == "\(h.api)/IncomingPhoneNumbers.json?PhoneNumber=\(encoded)&PageSize=2&Page=0")
        #expect((reply.json["incoming_phone_numbers"] as? [Any])?.count == 1)
        #expect(reply.json["next_page_uri"] is NSNull)
        #expect(reply.json["previous_page_uri"] is NSNull)
    }

    @Test func phoneNumberFilterAcceptsPartialAndWildcard() throws {
        var h = harness(owning: 5)
        let target = try #require(h.state.ownedInOrder.last).number.phoneNumber
        let tail = String(target.suffix(4))
        let partial = h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PhoneNumber", tail)])
        let found = (partial.json["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap {
            $0["phone_number"] as? String
        }
        #expect(found.contains(target))
        let wild = "*" + target.dropFirst(2)
        let wildcard = h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PhoneNumber", String(wild))])
        #expect((wildcard.json["incoming_phone_numbers"] as? [Any])?.count == 1)
    }

    /// A whole number as the `PhoneNumber` filter (numberd's look-up after each purchase) is found through the E.164
    /// index instead of a scan of every owned number: among many it finds just that one, with the paging fields the
    /// scan gives (the same filter through a wildcard, which is scanned, finds the same); a number not owned finds
    /// none; a part of a number well short of the owned ones is left to the scan. A longer number owned does not stop
    /// the look-up: the few numbers that could hold the pattern are looked up too.
    @Test func anExactNumberAmongManyIsFoundAloneWithTheScansPagingFields() throws {
        let bundle = "BU" + String(repeating: "a", count: 32)
        var configuration = SimulatorConfiguration.defaults
        configuration.approvedBundles = ["GB": [bundle]]
        var h = RouterHarness(configuration: configuration)
        let areas = CountryCatalog.unitedStates.areas.filter { $0.type == .local }
        let candidates = h.state.available(in: areas, limit: 121, scanMax: 200_000).map(\.phoneNumber)
        try #require(candidates.count == 121)
        for number in candidates.dropLast() { #expect(h.buy(number).status == 201) }
        let target = try #require(h.state.ownedInOrder.dropFirst(70).first)
        let number = target.number.phoneNumber
        #expect(h.state.ownedNumbers(matchingExactly: number)?.map(\.sid) == [target.sid])

        let path = "\(h.api)/IncomingPhoneNumbers.json"
        func sids(_ reply: Reply) -> [String] {
            (reply.json["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
        }
        let reply = h.send("GET", path, query: [("PhoneNumber", number)])
        #expect(reply.status == 200)
        #expect(sids(reply) == [target.sid])
        let first = "\(path)?PhoneNumber=\(FormParameters.encode(number))&PageSize=50&Page=0"
        #expect(reply.json["first_page_uri"] as? String == first)
        #expect(reply.json["uri"] as? String == first)
        #expect(reply.json["page"] as? Int == 0 && reply.json["page_size"] as? Int == 50)
        #expect(reply.json["start"] as? Int == 0 && reply.json["end"] as? Int == 0)
        #expect(reply.json["next_page_uri"] is NSNull && reply.json["previous_page_uri"] is NSNull)
        let scanned = h.send("GET", path, query: [("PhoneNumber", "*" + String(number.dropFirst()))])
        #expect(sids(scanned) == [target.sid])
        #expect(scanned.json["start"] as? Int == 0 && scanned.json["end"] as? Int == 0)
        // The other filters still apply, and so does the page asked for.
        let tollFree = h.send("GET", "\(h.api)/IncomingPhoneNumbers/TollFree.json", query: [("PhoneNumber", number)])
        #expect(tollFree.status == 200 && sids(tollFree).isEmpty)
        let second = h.send("GET", path, query: [("PhoneNumber", number), ("Page", "1")])
        #expect(sids(second).isEmpty && second.json["start"] as? Int == 50)
        // A number not owned, and parts of numbers.
        let notOwned = try #require(candidates.last)
        #expect(h.state.ownedNumbers(matchingExactly: notOwned)?.isEmpty == true)
        let none = h.send("GET", path, query: [("PhoneNumber", notOwned)])
        #expect(none.status == 200 && sids(none).isEmpty && none.json["end"] as? Int == 0)
        #expect(h.state.ownedNumbers(matchingExactly: String(number.prefix(5))) == nil)
        #expect(h.state.ownedNumbers(matchingExactly: String(number.dropFirst())) == nil)
        #expect(h.state.ownedNumbers(matchingExactly: "*" + String(number.dropFirst())) == nil)

        // A longer number owned (GB, 12 digits): the US number could be the start of one, so its completions by a
        // digit are looked up too; still no scan, and it finds what the scan finds.
        let gb = CountryCatalog.unitedKingdom.areas.filter { $0.type == .tollFree }
        let british = try #require(h.state.available(in: gb, limit: 1, scanMax: 200_000).first).phoneNumber
        #expect(h.buy(british, extra: [("BundleSid", bundle)]).status == 201)
        #expect(h.state.ownedNumbers(matchingExactly: number)?.map(\.sid) == [target.sid])
        #expect(sids(h.send("GET", path, query: [("PhoneNumber", number)])) == [target.sid])
        #expect(sids(h.send("GET", path, query: [("PhoneNumber", "*" + String(number.dropFirst()))])) == [target.sid])
        #expect(h.state.ownedNumbers(matchingExactly: british)?.count == 1)
    }

    @Test func friendlyNameFilterAndEmptyList() {
        var h = harness(owning: 2)
        let none = h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("FriendlyName", "nope")])
        #expect((none.json["incoming_phone_numbers"] as? [Any])?.isEmpty == true)
        #expect(none.json["start"] as? Int == 0)
        #expect(none.json["end"] as? Int == 0)
        #expect(none.json["page_size"] as? Int == 50)
    }

    @Test func tokenOfReleasedNumberStillPages() throws {
        var h = harness(owning: 4)
        let sids = h.state.ownedInOrder.map(\.sid)
        #expect(h.send("DELETE", "\(h.api)/IncomingPhoneNumbers/\(sids[1]).json").status == 204)
        let reply = h.send(
            "GET", "\(h.api)/IncomingPhoneNumbers.json",
            query: [("PageSize", "2"), ("Page", "1"), ("PageToken", "PA" + sids[1])])
        let items = (reply.json["incoming_phone_numbers"] as? [[String: Any]] ?? []).compactMap { $0["sid"] as? String }
        #expect(items == [sids[2], sids[3]])
    }

    @Test(arguments: ["PAPN" + String(repeating: "0", count: 32), "XX", "garbage", "PB"])
    func invalidPageTokenIs21481(token: String) {
        var h = harness(owning: 1)
        let reply = h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PageToken", token)])
        #expect(reply.status == 400)
        #expect(reply.code == 21481)
    }

    @Test func pageSizeEdges() {
        var h = harness(owning: 1)
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PageSize", "1000")]).status == 200)
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PageSize", "1001")]).status == 400)
        #expect(h.send("GET", "\(h.api)/IncomingPhoneNumbers.json", query: [("PageSize", "-1")]).status == 400)
    }
}
