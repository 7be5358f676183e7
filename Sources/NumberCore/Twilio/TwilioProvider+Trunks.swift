import CurlHTTP
import Foundation

extension TwilioProvider {
    /// The part of a Trunking v1 trunk resource we read.
    private struct TrunkResource: Decodable {
        var sid: String
    }

    /// `POST https://trunking.twilio.com/v1/Trunks` with `FriendlyName`. Never retried after sending (a POST);
    /// a lost answer leaves at most an empty trunk behind, which costs nothing.
    public func createTrunk(friendlyName: String) async throws -> String {
        let answer = try await transport.perform(
            TwilioTransport.Call(
                method: .post, url: "\(configuration.endpoints.trunking)/v1/Trunks",
                form: [("FriendlyName", String(friendlyName.prefix(64)))], operation: "create trunk \(friendlyName)"))
        guard let trunk = TwilioResources.decode(TrunkResource.self, from: answer.response.body) else {
            throw ProviderError(.unavailable, message: "create trunk: Twilio's answer is not the expected JSON")
        }
        try TwilioValidation.requireSid(trunk.sid, prefix: "TK", field: "trunk SID")
        return trunk.sid
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
