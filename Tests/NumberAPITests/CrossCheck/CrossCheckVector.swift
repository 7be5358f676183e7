import Foundation
import NumberWire

/// One named value for the cross-check: encodes it with our codec and decodes bytes back to compare.
struct CrossCheckVector: Sendable {
    let name: String
    let encode: @Sendable () throws -> [UInt8]
    let decodesToSame: @Sendable ([UInt8]) throws -> Bool
    let describe: @Sendable ([UInt8]) -> String
    /// The bytes of the message's `Codable` conformance (not its generated `ProtoMessage` code).
    let encodeThroughCodable: @Sendable () throws -> [UInt8]
    /// Decodes bytes through the generated code and through Codable; nil when both give the same value or the same
    /// `ProtoDecodingError`, else what differs.
    let decodePathsDiffer: @Sendable ([UInt8]) -> String?

    init<Message: Codable & Hashable & Sendable>(_ name: String, _ value: Message) {
        self.name = name
        self.encode = { try ProtoEncoder().encode(value) }
        self.decodesToSame = { bytes in try ProtoDecoder().decode(Message.self, from: bytes) == value }
        self.describe = { bytes in
            let decoded = Result { try ProtoDecoder().decode(Message.self, from: bytes) }
            return "expected \(value)\n  decoded  \(decoded)"
        }
        self.encodeThroughCodable = { try CodecPaths.codableEncoder.encode(value) }
        self.decodePathsDiffer = { bytes in CodecPaths.differences(Message.self, bytes) }
    }
}

/// The two ways the codec handles a generated message: its `ProtoMessage` code (the default) and its `Codable`
/// conformance.
enum CodecPaths {
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

    /// nil when both paths decode `bytes` to equal values or fail with equal `ProtoDecodingError`s.
    static func differences<Message: Decodable & Equatable>(_: Message.Type, _ bytes: [UInt8]) -> String? {
        let generated = outcome { try ProtoDecoder().decode(Message.self, from: bytes) }
        let codable = outcome { try codableDecoder.decode(Message.self, from: bytes) }
        switch (generated, codable) {
        case (.success(let a), .success(let b)) where a == b: return nil
        case (.failure(let a), .failure(let b)) where a == b: return nil
        // A message without fields: its synthesized `init(from:)` never reads the bytes, the generated code checks them.
        case (.failure, .success(let value)) where Mirror(reflecting: value).children.isEmpty: return nil
        default: return "generated: \(generated)\n  Codable:   \(codable)"
        }
    }

    private static func outcome<T>(_ body: () throws -> T) -> Result<T, ProtoDecodingError> {
        do {
            return .success(try body())
        } catch let DecodingError.dataCorrupted(context) {
            guard let proto = context.underlyingError as? ProtoDecodingError else {
                fatalError("dataCorrupted without a ProtoDecodingError: \(context)")
            }
            return .failure(proto)
        } catch {
            fatalError("untyped decoding error \(error)")
        }
    }
}
