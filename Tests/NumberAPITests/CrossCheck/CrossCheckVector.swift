import Foundation
import NumberWire

/// One named value for the cross-check: encodes it with our codec and decodes bytes back to compare.
struct CrossCheckVector: Sendable {
    let name: String
    let encode: @Sendable () throws -> [UInt8]
    let decodesToSame: @Sendable ([UInt8]) throws -> Bool
    let describe: @Sendable ([UInt8]) -> String

    init<Message: Codable & Hashable & Sendable>(_ name: String, _ value: Message) {
        self.name = name
        self.encode = { try ProtoEncoder().encode(value) }
        self.decodesToSame = { bytes in try ProtoDecoder().decode(Message.self, from: bytes) == value }
        self.describe = { bytes in
            let decoded = Result { try ProtoDecoder().decode(Message.self, from: bytes) }
            return "expected \(value)\n  decoded  \(decoded)"
        }
    }
}
