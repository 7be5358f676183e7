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

    /// `GET https://trunking.twilio.com/v1/Trunks`, following `meta.next_page_url` (only on the trunking host) for at
    /// most `lookUpPagesMax` pages: the SID of the first trunk whose `friendly_name` starts with `namePrefix`, or nil.
    public func findTrunk(namePrefix: String) async throws -> String? {
        let limits = configuration.limits
        let base = "\(configuration.endpoints.trunking)/v1/Trunks"
        var url = Self.withQuery(base, [("PageSize", String(limits.lookUpPageSize))])
        let operation = "find trunk \(namePrefix)…"
        for _ in 0..<limits.lookUpPagesMax {
            let answer = try await transport.perform(
                TwilioTransport.Call(method: .get, url: url, form: nil, operation: operation))
            guard let page = TwilioResources.decode(TrunkPage.self, from: answer.response.body) else {
                throw ProviderError(.unavailable, message: "\(operation): Twilio's answer is not the expected JSON")
            }
            if let match = page.trunks.first(where: { $0.friendlyName?.hasPrefix(namePrefix) == true }) {
                try TwilioValidation.requireSid(match.sid, prefix: "TK", field: "trunk SID")
                return match.sid
            }
            guard let next = page.meta.nextPageURL, !next.isEmpty else { return nil }
            // Only its query is taken, on the configured trunking host: the host Twilio (or a simulator) writes into
            // it may be spelled otherwise than the configuration, and no other host is ever followed.
            guard let components = URLComponents(string: next), components.path.hasSuffix("/v1/Trunks"),
                let query = components.percentEncodedQuery, !query.utf8.contains(where: { $0 <= 0x20 })
            else {
                throw ProviderError(.unavailable, message: "\(operation): unexpected next_page_url from Twilio")
            }
            url = base + "?" + query
        }
        throw ProviderError(
            .unavailable, message: "\(operation): more than \(limits.lookUpPagesMax) pages (lookUpPagesMax)")
    }
}
