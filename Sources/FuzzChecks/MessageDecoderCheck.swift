import NumberAPI
import NumberWire

/// Protobuf bodies of every request type of `numbers.v1.Numbers`, plus `RequestHeaders` (every HEADERS frame) and
/// `RpcStatus` (every TRAILERS frame).
///
/// Input: byte 0 modulo the number of types picks the type, the rest is the body. Properties: the only error is
/// `DecodingError.dataCorrupted` over a `ProtoDecodingError` (the decoder's documented contract); the generated
/// `ProtoMessage` code and the `Codable` conformance give the same value or the same error (except that the
/// generated code also rejects malformed bytes for a message without fields), and the same bytes; a
/// decoded value encodes, decodes back equal, and encodes to the same bytes again.
enum MessageDecoderCheck {
    static let name = FuzzTarget.messageDecoder.rawValue

    /// One message type, its checks bound.
    struct Kind: Sendable {
        var name: String
        var check: @Sendable ([UInt8]) throws(FuzzCheckFailure) -> Void
    }

    static func kind<Message: Codable & Hashable & Sendable>(_ type: Message.Type) -> Kind {
        Kind(name: "\(Message.self)") { (bytes: [UInt8]) throws(FuzzCheckFailure) in
            try roundTrip(Message.self, bytes, check: name)
        }
    }

    /// The types in dispatch order (byte 0 modulo the count): every request message of `numbers.v1.Numbers`, the
    /// call headers and the status. Appending one changes which type a stored input decodes as (the corpus is
    /// replayed whole all the same, and each finding is pinned by a test of its own, as `GeneratedCodeTests` pins
    /// `crash-ba9aa826…`, found as a `HealthCheckRequest`).
    static let kinds: [Kind] = [
        kind(SearchNumbersRequest.self), kind(PurchaseNumbersRequest.self), kind(ListNumbersRequest.self),
        kind(GetNumberRequest.self), kind(UpdateNumberRequest.self), kind(ReleaseNumberRequest.self),
        kind(GetBalanceRequest.self), kind(AddFundsRequest.self), kind(ListTransactionsRequest.self),
        kind(CreateTrunkRequest.self), kind(ListTrunksRequest.self), kind(DeleteTrunkRequest.self),
        kind(CreateAccountRequest.self), kind(GetAccountRequest.self), kind(ListAccountsRequest.self),
        kind(CreateApiKeyRequest.self), kind(ListApiKeysRequest.self), kind(RevokeApiKeyRequest.self),
        kind(HealthCheckRequest.self), kind(RequestHeaders.self), kind(RpcStatus.self), kind(AdjustBalanceRequest.self),
        kind(GetStatementRequest.self), kind(SetAccountStatusRequest.self), kind(CreateBackupRequest.self),
        kind(GetProviderAuditRequest.self), kind(RunProviderAuditRequest.self), kind(AdoptNumberRequest.self),
    ]

    static func run(_ input: [UInt8]) throws(FuzzCheckFailure) {
        guard let selector = input.first else { return }
        try kinds[Int(selector) % kinds.count].check(Array(input.dropFirst()))
    }

    /// Decodes `bytes` as `Message`; a value must survive encode → decode → encode unchanged.
    static func roundTrip<Message: Codable & Hashable>(
        _ type: Message.Type, _ bytes: [UInt8], check: String
    ) throws(FuzzCheckFailure) {
        let generated = try outcome(Message.self, check) { try ProtoDecoder().decode(Message.self, from: bytes) }
        let codable = try outcome(Message.self, check) { try codableDecoder.decode(Message.self, from: bytes) }
        // The one allowed difference: a message type without fields, whose synthesized `init(from:)` never looks
        // at the bytes, so Codable accepts malformed input that the generated code rejects (as protobuf requires).
        if case .failure = generated, case .success(let value) = codable, Mirror(reflecting: value).children.isEmpty {
            return
        }
        guard generated == codable else {
            throw FuzzCheckFailure(check, "\(Message.self): generated code gave \(generated), Codable \(codable)")
        }
        guard case .success(let decoded) = generated else { return }
        do {
            let encoded = try ProtoEncoder().encode(decoded)
            guard try codableEncoder.encode(decoded) == encoded else {
                throw FuzzCheckFailure(check, "\(Message.self): generated code and Codable write different bytes")
            }
            let again = try ProtoDecoder().decode(Message.self, from: encoded)
            guard again == decoded else {
                throw FuzzCheckFailure(check, "\(Message.self): \(again) decoded back from \(decoded)")
            }
            let reencoded = try ProtoEncoder().encode(again)
            guard reencoded == encoded else {
                throw FuzzCheckFailure(check, "\(Message.self): encoding is not stable for \(decoded)")
            }
        } catch let failure as FuzzCheckFailure {
            throw failure
        } catch {
            throw FuzzCheckFailure(check, "\(Message.self): \(decoded) does not round-trip: \(error)")
        }
    }

    static var codableEncoder: ProtoEncoder {
        var encoder = ProtoEncoder()
        encoder.usesGeneratedCode = false
        return encoder
    }

    static var codableDecoder: ProtoDecoder {
        var decoder = ProtoDecoder()
        decoder.usesGeneratedCode = false
        return decoder
    }

    /// The value decoded, or the `ProtoDecodingError` under the decoder's `DecodingError.dataCorrupted`.
    static func outcome<Message>(
        _: Message.Type, _ check: String, _ body: () throws -> Message
    ) throws(FuzzCheckFailure) -> Result<Message, ProtoDecodingError> {
        do {
            return .success(try body())
        } catch let error as DecodingError {
            // The decoder's contract: malformed input is `dataCorrupted` with the `ProtoDecodingError` beneath.
            guard case .dataCorrupted(let context) = error, let proto = context.underlyingError as? ProtoDecodingError
            else {
                throw FuzzCheckFailure(check, "\(Message.self): DecodingError without a ProtoDecodingError: \(error)")
            }
            return .failure(proto)
        } catch {
            throw FuzzCheckFailure(check, "\(Message.self): untyped error \(Swift.type(of: error)): \(error)")
        }
    }
}
