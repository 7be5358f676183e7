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
