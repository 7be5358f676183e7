import CurlHTTP
import Foundation

extension TwilioProvider {
    /// The part of a Trunking v1 trunk resource we read.
    private struct TrunkResource: Decodable {
        var sid: String
    }

    /// `POST https://trunking.twilio.com/v1/Trunks` with `FriendlyName`. Never retried after sending (a POST): a lost
    /// answer, or a 2xx whose body cannot be read, is an unknown outcome the caller settles by a look-up
    /// (``findTrunk(namePrefix:)``).
    public func createTrunk(friendlyName: String) async throws -> String {
        let answer = try await transport.perform(
            TwilioTransport.Call(
                method: .post, url: "\(configuration.endpoints.trunking)/v1/Trunks",
                form: [("FriendlyName", Self.friendlyNamePrefix(friendlyName))],
                operation: "create trunk \(friendlyName)"))
        // Twilio answered 2xx, so the trunk was made: a body we cannot read must not read as "not made", and a list
        // that does not show it yet proves nothing.
        guard let trunk = TwilioResources.decode(TrunkResource.self, from: answer.response.body),
            TwilioValidation.isSid(trunk.sid, prefix: "TK")
        else {
            throw TwilioErrorMapping.outcomeUnknown(
                operation: "create trunk", detail: "HTTP \(answer.response.status) with an unreadable body",
                mayStillTakeEffect: true)
        }
        return trunk.sid
    }

    /// Twilio's `FriendlyName` limit: "up to 64 characters". Twilio does not say what it counts; this assumes UTF-16
    /// code units (what its Java and JavaScript stacks count in practice), the strictest reading for text beyond the
    /// Basic Multilingual Plane: an emoji flag is one `Character` but 4 units.
    static let friendlyNameUTF16Max = 64

    /// The longest prefix of `name` within ``friendlyNameUTF16Max`` UTF-16 units that ends on a `Character` boundary
    /// (a flag or a letter with its accents stays whole), or, when the first `Character` alone is longer, on a
    /// Unicode scalar boundary (a surrogate pair is never split).
    static func friendlyNamePrefix(_ name: String) -> String {
        var units = 0
        var end = name.startIndex
        for character in name {
            let size = character.utf16.count
            guard units + size <= friendlyNameUTF16Max else { break }
            units += size
            end = name.index(after: end)
        }
        guard end == name.startIndex, let first = name.first else { return String(name[..<end]) }
        var scalars = String.UnicodeScalarView()
        for scalar in first.unicodeScalars {
            guard units + scalar.utf16.count <= friendlyNameUTF16Max else { break }
            units += scalar.utf16.count
            scalars.append(scalar)
        }
        return String(scalars)
    }

    /// Twilio's default weight and priority of an Origination URL. numberd gives a trunk one route, so neither
    /// chooses anything; Twilio's schema requires both all the same.
    static let originationWeight = 10
    static let originationPriority = 10

    /// `POST https://trunking.twilio.com/v1/Trunks/{TrunkSid}/OriginationUrls` with every field Twilio's schema
    /// requires: `SipUrl`, `FriendlyName` (cut as a trunk's name is), `Weight` and `Priority` (Twilio's defaults, 10),
    /// `Enabled` true. Never retried after sending (a POST); a 2xx means the route exists, whatever its body says. The
    /// caller deletes the trunk when this fails in any way, which takes a route made all the same with it.
    public func addOrigination(trunkSid: String, sipUri: String, friendlyName: String) async throws {
        try TwilioValidation.requireSid(trunkSid, prefix: "TK", field: "trunk SID")
        _ = try await transport.perform(
            TwilioTransport.Call(
                method: .post, url: "\(configuration.endpoints.trunking)/v1/Trunks/\(trunkSid)/OriginationUrls",
                form: [
                    ("SipUrl", sipUri), ("FriendlyName", Self.friendlyNamePrefix(friendlyName)),
                    ("Weight", String(Self.originationWeight)), ("Priority", String(Self.originationPriority)),
                    ("Enabled", "true"),
                ],
                operation: "add origination to trunk \(trunkSid)"))
    }

    /// `DELETE https://trunking.twilio.com/v1/Trunks/{Sid}` (204); a trunk already gone counts as deleted.
    public func deleteTrunk(sid: String) async throws {
        try TwilioValidation.requireSid(sid, prefix: "TK", field: "trunk SID")
        do {
            _ = try await transport.perform(
                TwilioTransport.Call(
                    method: .delete, url: "\(configuration.endpoints.trunking)/v1/Trunks/\(sid)", form: nil,
                    operation: "delete trunk \(sid)"))
        } catch {
            guard error.kind == .notFound else { throw error }
        }
    }
}
