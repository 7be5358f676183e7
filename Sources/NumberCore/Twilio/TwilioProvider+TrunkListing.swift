import CurlHTTP
import Foundation

extension TwilioProvider {
    /// A page of Trunking v1's trunk list: the part we read.
    struct TrunkPage: Decodable {
        struct Entry: Decodable {
            var sid: String
            var friendlyName: String?
            enum CodingKeys: String, CodingKey { case sid, friendlyName = "friendly_name" }
        }
        struct Meta: Decodable {
            var nextPageURL: String?
            enum CodingKeys: String, CodingKey { case nextPageURL = "next_page_url" }
        }
        var trunks: [Entry]
        var meta: Meta
    }

    /// `GET https://trunking.twilio.com/v1/Trunks/{Sid}`: the trunk (its SID and name), nil for Twilio's 404 (20404:
    /// no such trunk on the account, twilio-api.md §6). An answer for another SID than asked is Twilio's fault.
    public func trunk(sid: String) async throws -> ProviderTrunk? {
        try TwilioValidation.requireSid(sid, prefix: "TK", field: "trunk SID")
        let operation = "fetch trunk \(sid)"
        let answer: TwilioTransport.Answer
        do {
            answer = try await transport.perform(
                TwilioTransport.Call(
                    method: .get, url: "\(configuration.endpoints.trunking)/v1/Trunks/\(sid)", form: nil,
                    operation: operation))
        } catch {
            guard error.kind == .notFound else { throw error }
            return nil
        }
        guard let trunk = TwilioResources.decode(TrunkPage.Entry.self, from: answer.response.body),
            trunk.sid.lowercased() == sid.lowercased()
        else {
            throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the trunk asked for")
        }
        return ProviderTrunk(sid: trunk.sid, friendlyName: trunk.friendlyName)
    }

    /// `GET https://trunking.twilio.com/v1/Trunks`, following `meta.next_page_url` (only on the trunking host) for at
    /// most `lookUpPagesMax` pages: the SID of the first trunk whose `friendly_name` starts with `namePrefix`, or nil.
    public func findTrunk(namePrefix: String) async throws -> String? {
        var found: String?
        let limits = configuration.limits
        try await forEachTrunkPage(
            operation: "find trunk \(namePrefix)…", pageSize: limits.lookUpPageSize, pagesMax: limits.lookUpPagesMax
        ) { trunks in
            found = trunks.first { $0.friendlyName?.hasPrefix(namePrefix) == true }?.sid
            return found == nil
        }
        return found
    }

    /// A page of a trunk's numbers (Trunking v1 `/v1/Trunks/{Sid}/PhoneNumbers`): the part we read.
    struct TrunkNumberPage: Decodable {
        struct Entry: Decodable {
            var sid: String
            var phoneNumber: String
            enum CodingKeys: String, CodingKey { case sid, phoneNumber = "phone_number" }
        }
        var phoneNumbers: [Entry]
        enum CodingKeys: String, CodingKey { case phoneNumbers = "phone_numbers" }
    }

    /// The largest page of a trunk's numbers asked for: a trunking PhoneNumber is about 1.3 KB of JSON (Twilio's
    /// OpenAPI example; more with long voice or SMS URLs), so a page of Twilio's largest, 1000, could pass the 1 MiB
    /// answer limit (`http.limits.responseBodyLengthMax`) and fail as too large; 250 stays far under it, as the
    /// audit's listing page does (``TwilioConfiguration/Limits/listPageSize``). numberd asks for 21, to show 20.
    public static let trunkNumbersPageMax = 250

    /// `GET https://trunking.twilio.com/v1/Trunks/{Sid}/PhoneNumbers?PageSize=max`, one page: the first `max` numbers
    /// Twilio routes to the trunk (their SIDs and numbers checked). `max` is 1...``trunkNumbersPageMax``.
    public func phoneNumbers(onTrunk trunkSid: String, max: Int) async throws -> [String] {
        try TwilioValidation.requireSid(trunkSid, prefix: "TK", field: "trunk SID")
        guard (1...Self.trunkNumbersPageMax).contains(max) else {
            throw ProviderError(
                .invalidArgument,
                message: "a page of a trunk's numbers holds 1 to \(Self.trunkNumbersPageMax) of them")
        }
        let operation = "list the numbers of trunk \(trunkSid)"
        let url = Self.withQuery(
            "\(configuration.endpoints.trunking)/v1/Trunks/\(trunkSid)/PhoneNumbers", [("PageSize", String(max))])
        let answer = try await transport.perform(
            TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation))
        guard let page = TwilioResources.decode(TrunkNumberPage.self, from: answer.response.body) else {
            throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected JSON")
        }
        // Twilio's answer, not the caller's request, is what is wrong: UNAVAILABLE, never INVALID_ARGUMENT.
        for number in page.phoneNumbers {
            guard TwilioValidation.isSid(number.sid, prefix: "PN") else {
                throw ProviderError(.unavailable, message: "\(operation): a number SID that is not PN… from Twilio")
            }
            guard TwilioValidation.isE164(number.phoneNumber) else {
                throw ProviderError(.unavailable, message: "\(operation): a number that is not E.164 from Twilio")
            }
        }
        return page.phoneNumbers.prefix(max).map(\.phoneNumber)
    }

    /// Lists trunks (Elastic SIP Trunking).
    public var listsTrunks: Bool { true }

    /// Every trunk of the account, `listPageSize` a page (a trunk is about 1.3 KB of JSON: 250 of them stay well
    /// under the 1 MiB answer limit), for as many pages as `page` takes (the caller bounds them, as the audit does).
    public func listTrunks(page: ([ProviderTrunk]) async throws -> Void) async throws {
        try await forEachTrunkPage(
            operation: "list trunks", pageSize: configuration.limits.listPageSize, pagesMax: nil
        ) { trunks in
            try await page(trunks)
            return true
        }
    }

    /// `GET /v1/Trunks` page after page, each page's trunks (their SIDs checked) handed to `body` until it returns
    /// false or the list ends; following `meta.next_page_url` only on the configured trunking host, for at most
    /// `pagesMax` pages (nil: `body` bounds them).
    private func forEachTrunkPage(
        operation: String, pageSize: Int, pagesMax: Int?, _ body: ([ProviderTrunk]) async throws -> Bool
    ) async throws {
        let base = "\(configuration.endpoints.trunking)/v1/Trunks"
        var url = Self.withQuery(base, [("PageSize", String(pageSize))])
        var pages = 0
        while pagesMax.map({ pages < $0 }) ?? true {
            pages += 1
            let answer = try await transport.perform(
                TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation))
            guard let page = TwilioResources.decode(TrunkPage.self, from: answer.response.body) else {
                throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected JSON")
            }
            guard page.trunks.allSatisfy({ TwilioValidation.isSid($0.sid, prefix: "TK") }) else {
                throw ProviderError(.unavailable, message: "\(operation): a trunk SID that is not TK… from Twilio")
            }
            guard try await body(page.trunks.map { ProviderTrunk(sid: $0.sid, friendlyName: $0.friendlyName) }) else {
                return
            }
            guard let next = page.meta.nextPageURL, !next.isEmpty else { return }
            // Only its query is taken, on the configured trunking host: the host Twilio (or a simulator) writes into
            // it may be spelled otherwise than the configuration, and no other host is ever followed.
            guard let components = URLComponents(string: next), components.path.hasSuffix("/v1/Trunks"),
                let query = components.percentEncodedQuery, !query.utf8.contains(where: { $0 <= 0x20 })
            else {
                throw ProviderError(.unavailable, message: "\(operation): unexpected next_page_url from Twilio")
            }
            url = base + "?" + query
        }
        throw ProviderError(.unavailable, message: "\(operation): more than \(pages) pages (lookUpPagesMax)")
    }
}
