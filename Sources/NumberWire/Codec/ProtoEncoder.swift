import NIOCore

/// Encodes `Encodable` message types to protobuf wire format.
///
/// A message type declares `enum CodingKeys: Int, CodingKey` whose raw values are the field numbers of the
/// `.proto` message. proto3 rules apply: a non-optional field holding its default (0, false, "", empty) is not
/// written; a set `Optional` is written even when it holds the default (proto3 `optional`); arrays of numbers
/// are packed; `Date` is a `google.protobuf.Timestamp`; dictionaries are protobuf maps; enums with integer raw
/// values are varints; `ZigZag<Int64>` / `Fixed<UInt64>` pick `sint64` / `fixed64`.
///
/// ```swift
/// struct Money: Codable { enum CodingKeys: Int, CodingKey { case currency = 1, units = 2 }
///     var currency: String; var units: Int64 }
/// let bytes = try ProtoEncoder().encode(Money(currency: "USD", units: 5))  // 0a 03 55 53 44 10 05
/// ```
public struct ProtoEncoder: Sendable {
    /// What the encoder accepts and how it lays out bytes.
    public struct Options: Sendable {
        /// Deepest message nesting written; deeper is an `EncodingError` (default 64, like `ProtoDecoder`).
        public var nestingDepthMax: Int
        /// Writes map entries in key order (bytewise for strings), as protobuf's deterministic serialization
        /// does, so equal maps give equal bytes. Off: dictionary order, which changes between processes.
        public var sortsMapEntries: Bool
        /// Bytes reserved in the output buffer up front (default 256).
        public var initialCapacity: Int

        /// Creates options.
        public init(nestingDepthMax: Int = 64, sortsMapEntries: Bool = true, initialCapacity: Int = 256) {
            self.nestingDepthMax = nestingDepthMax
            self.sortsMapEntries = sortsMapEntries
            self.initialCapacity = initialCapacity
        }

        /// Depth 64, sorted maps, 256 bytes reserved.
        public static let defaults = Options()
    }

    /// The options.
    public var options: Options
    /// Passed to the values being encoded as `Encoder.userInfo`.
    public var userInfo: [CodingUserInfoKey: any Sendable] = [:]
    /// Whether a `ProtoMessage` is written by its generated code (default) rather than its `Codable` conformance;
    /// both give the same bytes. A non-empty `userInfo` always takes the Codable path (a value may read it).
    public var usesGeneratedCode = true

    /// Creates an encoder.
    public init(options: Options = .defaults) {
        self.options = options
    }

    /// Encodes a message to bytes.
    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = ProtoEncodingState(options: options, userInfo: userInfo)
        if usesGeneratedCode, userInfo.isEmpty, let message = T.self as? any ProtoMessage.Type {
            try message.encodeOpened(value, to: ProtoFieldWriter(state: state, level: 0))
        } else {
            try value.encode(to: ProtoFieldEncoder(state: state, field: 0, depth: 0, explicit: false))
        }
        state.close(downTo: 0)
        if let error = state.deferredError { throw error }
        return state.bytes
    }

    /// Encodes a message and appends its bytes to `buffer`; on error `buffer` is unchanged.
    public func encode<T: Encodable>(_ value: T, into buffer: inout ByteBuffer) throws {
        buffer.writeBytes(try encode(value))
    }
}
