import Foundation
import Testing
import TwilioSimulator

@testable import NumberCore

@Suite("TwilioProvider buy, release, look-up and trunks")
struct TwilioProviderNumbersTests {
    /// An available US local number from a search.
    static func candidate(_ twilio: TwilioSimulatorFixture, areaCode: String = "415") async throws -> String {
        let numbers = try await twilio.provider.search(ProviderSearchQuery(country: "US", areaCode: areaCode, limit: 3))
        return try #require(numbers.first).phoneNumber
    }

    @Test func buyReturnsTheProvisionedNumberAndLookUpFindsIt() async throws {
        try await withTwilio { twilio in
            let phoneNumber = try await Self.candidate(twilio)
            let before = Date().addingTimeInterval(-5)
            let bought = try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil)
            #expect(bought.phoneNumber == phoneNumber)
            #expect(bought.sid.hasPrefix("PN") && bought.sid.count == 34)
            #expect(bought.trunkSid == nil)
            #expect(bought.capabilities.voice)
            let created = try #require(bought.dateCreated)
            #expect(created >= before && created <= Date().addingTimeInterval(5))
            let form = try #require(twilio.requests(.buyNumber).last?.form)
            #expect(form == ["PhoneNumber": phoneNumber])
            #expect(twilio.engine.purchaseCount(phoneNumber) == 1)
            let found = try await twilio.provider.lookUp(phoneNumber: phoneNumber)
            #expect(found == bought)
            #expect(twilio.requests(.listNumbers).last?.query.contains("PhoneNumber=%2B") == true)
        }
    }

    @Test func lookUpOfANumberNotOwnedIsNil() async throws {
        try await withTwilio { twilio in
            let phoneNumber = try await Self.candidate(twilio)
            #expect(try await twilio.provider.lookUp(phoneNumber: phoneNumber) == nil)
        }
    }

    @Test func buyWithATrunkRoutesIt() async throws {
        try await withTwilio { twilio in
            let trunkSid = try await twilio.createTrunk("pbx")
            let phoneNumber = try await Self.candidate(twilio)
            let bought = try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: trunkSid)
            #expect(bought.trunkSid == trunkSid)
            #expect(twilio.requests(.buyNumber).last?.form["TrunkSid"] == trunkSid)
        }
    }

    @Test func setTrunkAddsThroughTheNumberAndRemovesThroughTrunking() async throws {
        try await withTwilio { twilio in
            let trunkSid = try await twilio.createTrunk("pbx")
            let bought = try await twilio.provider.buy(phoneNumber: try await Self.candidate(twilio), trunkSid: nil)
            try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: trunkSid)
            #expect(twilio.requests(.updateNumber).last?.form == ["TrunkSid": trunkSid])
            #expect(twilio.requests(.addTrunkNumber).isEmpty)
            #expect(try await twilio.provider.fetch(sid: bought.sid).trunkSid == trunkSid)
            try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: nil)
            #expect(twilio.requests(.removeTrunkNumber).count == 1)
            #expect(try await twilio.provider.fetch(sid: bought.sid).trunkSid == nil)
            // Already on no trunk: only the fetch, no DELETE.
            try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: nil)
            #expect(twilio.requests(.removeTrunkNumber).count == 1)
        }
    }

    /// Twilio's FriendlyName limit of 64 is taken as UTF-16 code units: 64 flags are 64 `Character`s but 256 units,
    /// which `prefix(64)` sent whole and Twilio (and the simulator) refuse. The name is cut to 16 flags (64 units),
    /// never inside one.
    @Test func aLongTrunkNameIsCutToSixtyFourUTF16Units() async throws {
        try await withTwilio { twilio in
            let flags = String(repeating: "🇺🇸", count: 64)
            let sid = try await twilio.provider.createTrunk(friendlyName: flags)
            let sent = try #require(twilio.requests(.createTrunk).last?.form["FriendlyName"])
            #expect(sent == String(repeating: "🇺🇸", count: 16))
            #expect(twilio.engine.trunks.first { $0.sid == sid }?.friendlyName == sent)
        }
    }

    @Test(arguments: [
        (String(repeating: "a", count: 70), String(repeating: "a", count: 64)),
        (String(repeating: "a", count: 63) + "🇺🇸", String(repeating: "a", count: 63)),
        (String(repeating: "a", count: 60) + "🇺🇸" + "b", String(repeating: "a", count: 60) + "🇺🇸"),
        (String(repeating: "é", count: 64) + "x", String(repeating: "é", count: 64)),
        (String(repeating: "e\u{301}", count: 40), String(repeating: "e\u{301}", count: 32)),
        (String(repeating: "😀", count: 33), String(repeating: "😀", count: 32)), ("pbx", "pbx"), ("", ""),
        // One Character longer than the limit (a letter with 70 combining marks) is cut between its scalars.
        ("a" + String(repeating: "\u{301}", count: 70), "a" + String(repeating: "\u{301}", count: 63)),
        ("😀" + String(repeating: "\u{301}", count: 70), "😀" + String(repeating: "\u{301}", count: 62)),
    ])
    func friendlyNamePrefixKeepsWholeCharactersWithinSixtyFourUnits(name: String, expected: String) {
        let cut = TwilioProvider.friendlyNamePrefix(name)
        #expect(cut == expected)
        #expect(cut.utf16.count <= 64)
        #expect(name.unicodeScalars.starts(with: cut.unicodeScalars))
    }

    @Test func aNumberMovesFromOneTrunkToAnotherInOneRequest() async throws {
        try await withTwilio { twilio in
            let (first, second) = (try await twilio.createTrunk("a"), try await twilio.createTrunk("b"))
            let bought = try await twilio.provider.buy(phoneNumber: try await Self.candidate(twilio), trunkSid: first)
            try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: second)
            #expect(try await twilio.provider.fetch(sid: bought.sid).trunkSid == second)
            // One update, no removal from the first trunk first (no moment on no trunk) and no association call.
            #expect(twilio.requests(.updateNumber).count == 1)
            #expect(twilio.requests(.removeTrunkNumber).isEmpty && twilio.requests(.addTrunkNumber).isEmpty)
        }
    }

    @Test func setTrunkToAnUnknownTrunkIsRefused() async throws {
        try await withTwilio { twilio in
            let bought = try await twilio.provider.buy(phoneNumber: try await Self.candidate(twilio), trunkSid: nil)
            // A TrunkSid Twilio does not know is a 400 on the number's update, as on a purchase with it.
            await expectProviderError(.invalidArgument) {
                try await twilio.provider.setTrunk(sid: bought.sid, trunkSid: "TK" + String(repeating: "0", count: 32))
            }
        }
    }

    @Test func releaseDeletesAndASecondReleaseIsNotFound() async throws {
        try await withTwilio { twilio in
            let phoneNumber = try await Self.candidate(twilio)
            let bought = try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil)
            try await twilio.provider.release(sid: bought.sid)
            #expect(twilio.engine.releaseCount(phoneNumber) == 1)
            #expect(twilio.engine.ownedNumbers.isEmpty)
            #expect(try await twilio.provider.lookUp(phoneNumber: phoneNumber) == nil)
            let error = await expectProviderError(.notFound) { try await twilio.provider.release(sid: bought.sid) }
            #expect(error?.providerCode == 20404)
        }
    }

    @Test func takenNumberIsUnavailable() async throws {
        try await withTwilio { twilio in
            let error = await expectProviderError(.numberUnavailable) {
                try await twilio.provider.buy(phoneNumber: "+15005550000", trunkSid: nil)
            }
            #expect(error?.providerCode == 21422)
            #expect(twilio.requests(.buyNumber).count == 1)
        }
    }

    @Test func invalidNumberAtTwilioIsInvalidArgument() async throws {
        try await withTwilio { twilio in
            let error = await expectProviderError(.invalidArgument) {
                try await twilio.provider.buy(phoneNumber: "+15005550001", trunkSid: nil)
            }
            #expect(error?.providerCode == 21421)
        }
    }

    @Test func boughtNumberIsGoneFromSearchAndASecondBuyerLoses() async throws {
        try await withTwilio { twilio in
            let phoneNumber = try await Self.candidate(twilio)
            _ = try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil)
            let again = try await twilio.provider.search(ProviderSearchQuery(country: "US", areaCode: "415", limit: 30))
            #expect(!again.contains { $0.phoneNumber == phoneNumber })
        }
    }

    @Test(
        arguments: [
            ("14155551234", nil), ("+0415555123", nil), ("+1415555123456789", nil), ("+1415a551234", nil),
            ("+14155551234", "TK123"), ("+14155551234", "PN" + String(repeating: "0", count: 32)),
        ] as [(String, String?)])
    func badBuyInputFailsBeforeAnyRequest(phoneNumber: String, trunkSid: String?) async throws {
        try await withTwilio { twilio in
            await expectProviderError(.invalidArgument) {
                try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: trunkSid)
            }
            #expect(twilio.engine.requestLog.isEmpty)
        }
    }

    @Test(arguments: ["", "PN123", "TK" + String(repeating: "a", count: 32), "PN" + String(repeating: "g", count: 32)])
    func badSidsFailBeforeAnyRequest(sid: String) async throws {
        try await withTwilio { twilio in
            await expectProviderError(.invalidArgument) { try await twilio.provider.release(sid: sid) }
            await expectProviderError(.invalidArgument) { try await twilio.provider.setTrunk(sid: sid, trunkSid: nil) }
            #expect(twilio.engine.requestLog.isEmpty)
        }
    }

    @Test func rfc2822DatesParse() throws {
        let date = try #require(TwilioDateParser.rfc2822("Thu, 30 Jul 2015 23:19:04 +0000"))
        #expect(date.timeIntervalSince1970 == 1_438_298_344)
        let west = try #require(TwilioDateParser.rfc2822("30 Jul 2015 23:19:04 -0130"))
        #expect(Int(west.timeIntervalSince1970.rounded()) == 1_438_298_344 + 5_400)
        #expect(TwilioDateParser.rfc2822("2015-07-30T23:19:04Z") == nil)
        #expect(TwilioDateParser.rfc2822("Thu, 30 Foo 2015 23:19:04 +0000") == nil)
    }

    /// A review: an unreadable `date_created` became the time of the answer, by this machine's wall clock, which the
    /// orphan sweep then took for the number's creation (a voided purchase's late buy, hours after its watch began,
    /// read as someone's later purchase and was left paid with no owner). No date now says so.
    @Test(arguments: [#""date_created": null, "#, #""date_created": "yesterday", "#, ""])
    func anUnreadableCreationDateIsNil(dateField: String) throws {
        let body = """
            {"sid": "PN\(String(repeating: "0", count: 32))", "phone_number": "+14155550100", \(dateField)\
            "capabilities": {"voice": true, "sms": true, "mms": false, "fax": false}}
            """
        let incoming = try #require(TwilioResources.decode(TwilioResources.Incoming.self, from: Array(body.utf8)))
        let number = try #require(TwilioProvider.provisioned(incoming))
        #expect(number.dateCreated == nil)
        #expect(number.phoneNumber == "+14155550100" && number.capabilities.voice)
    }
}

@Suite("TwilioProvider look-up paging")
struct TwilioProviderPagingTests {
    /// Buys three numbers, then lists everything one per page: finding the third follows two `next_page_uri`s.
    @Test func followsNextPageUntilFound() async throws {
        try await withTwilio(configure: { $0.limits.lookUpPageSize = 1 }) { twilio in
            var bought: [ProvisionedNumber] = []
            for areaCode in ["415", "212", "312"] {
                let phoneNumber = try await TwilioProviderNumbersTests.candidate(twilio, areaCode: areaCode)
                bought.append(try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil))
            }
            twilio.engine.clearRequestLog()
            let last = try #require(bought.last)
            let found = try await twilio.provider.firstIncoming(filter: [], operation: "list") { $0.sid == last.sid }
            #expect(found == last)
            let pages = twilio.requests(.listNumbers)
            #expect(pages.count == 3)
            #expect(pages.dropFirst().allSatisfy { $0.query.contains("PageToken=") })
            let missing = try await twilio.provider.firstIncoming(filter: [], operation: "list") { _ in false }
            #expect(missing == nil)
        }
    }

    @Test func stopsAtLookUpPagesMax() async throws {
        try await withTwilio(configure: {
            $0.limits.lookUpPageSize = 1
            $0.limits.lookUpPagesMax = 2
        }) { twilio in
            var bought: [ProvisionedNumber] = []
            for areaCode in ["415", "212", "312"] {
                let phoneNumber = try await TwilioProviderNumbersTests.candidate(twilio, areaCode: areaCode)
                bought.append(try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil))
            }
            let second = bought[1]
            #expect(
                try await twilio.provider.firstIncoming(filter: [], operation: "list") { $0.sid == second.sid }
                    == second)
            let last = bought[2]
            let error = await expectProviderError(.unavailable) {
                try await twilio.provider.firstIncoming(filter: [], operation: "list") { $0.sid == last.sid }
            }
            #expect(error?.message.contains("lookUpPagesMax") == true)
        }
    }

    /// The provider audit's listing: every owned number, page by page through `next_page_uri`, as the simulator (like
    /// Twilio) pages them; an empty account is one empty page.
    @Test func listOwnedPagesThroughEveryNumber() async throws {
        try await withTwilio(configure: { $0.limits.listPageSize = 2 }) { twilio in
            var pages: [[ProvisionedNumber]] = []
            try await twilio.provider.listOwned { pages.append($0) }
            #expect(pages == [[]])
            var bought: [ProvisionedNumber] = []
            for areaCode in ["415", "212", "312"] {
                let phoneNumber = try await TwilioProviderNumbersTests.candidate(twilio, areaCode: areaCode)
                bought.append(try await twilio.provider.buy(phoneNumber: phoneNumber, trunkSid: nil))
            }
            twilio.engine.clearRequestLog()
            pages = []
            try await twilio.provider.listOwned { pages.append($0) }
            #expect(pages.map(\.count) == [2, 1])
            #expect(Set(pages.joined()) == Set(bought))
            let requests = twilio.requests(.listNumbers)
            #expect(requests.count == 2)
            #expect(requests.allSatisfy { $0.query.contains("PageSize=2") })
            // The page handler stops the listing by throwing.
            struct Stop: Error {}
            await #expect(throws: Stop.self) { try await twilio.provider.listOwned { _ in throw Stop() } }
        }
    }

    /// Numbers with long webhook URLs make a page larger than the answer limit: the page is asked for again with
    /// half as many numbers, from the same place, and the listing neither skips nor repeats a number. One number
    /// larger than the limit fails the listing.
    @Test func listOwnedHalvesAPageLargerThanTheAnswerLimit() async throws {
        try await withTwilio { twilio in
            let phones = twilio.engine.availableNumbers(country: "US", type: .local, limit: 11).map(\.phoneNumber)
            try #require(phones.count == 11)
            for phone in phones { _ = try await twilio.provider.buy(phoneNumber: phone, trunkSid: nil) }
            twilio.engine.clearRequestLog()
            // Listed by an adapter taking answers of 8,000 bytes at most, 8 numbers a page (about 11 KB).
            var small = twilio.configuration
            small.limits.listPageSize = 8
            small.http.limits.responseBodyLengthMax = 8_000
            var pages: [[String]] = []
            try await twilio.probe.provider(small).listOwned { pages.append($0.map(\.phoneNumber)) }
            #expect(pages.joined().count == 11 && Set(pages.joined()) == Set(phones), "\(pages)")
            #expect(pages.map(\.count) == [4, 4, 3], "8 numbers did not fit; 4 did")
            let sizes = twilio.requests(.listNumbers).map { request in
                request.query.split(separator: "&").first { $0.hasPrefix("PageSize=") }.map(String.init) ?? "-"
            }
            #expect(sizes == ["PageSize=8", "PageSize=4", "PageSize=4", "PageSize=4"])
            // One number larger than the limit: halved down to one, then the listing fails.
            var tiny = small
            tiny.http.limits.responseBodyLengthMax = 1_000
            twilio.engine.clearRequestLog()
            let tinyProvider = try twilio.probe.provider(tiny)
            let error = await #expect(throws: ProviderError.self) { try await tinyProvider.listOwned { _ in } }
            #expect(error?.answerTooLarge == true)
            #expect(twilio.requests(.listNumbers).count == 4, "8, 4, 2, 1")
        }
    }

    /// A full IncomingPhoneNumber is about 1.4 KB of JSON, so a page of Twilio's largest size (1000) passes the
    /// adapter's 1 MiB answer limit from about 760 numbers: the default page is 250.
    @Test func listOwnedWithTheDefaultPageFitsTheAnswerLimit() async throws {
        try await withTwilio { twilio in
            let phones = twilio.engine.availableNumbers(country: "US", type: .local, limit: 800).map(\.phoneNumber)
            try #require(phones.count == 800)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for slice in stride(from: 0, to: phones.count, by: 100) {
                    group.addTask {
                        for phone in phones[slice..<(slice + 100)] {
                            _ = try await twilio.provider.buy(phoneNumber: phone, trunkSid: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
            twilio.engine.clearRequestLog()
            var listed: [String] = []
            try await twilio.provider.listOwned { listed += $0.map(\.phoneNumber) }
            #expect(listed.count == 800 && Set(listed) == Set(phones))
            #expect(twilio.requests(.listNumbers).count == 4)
        }
    }
}
