import NIOCore

/// The values a side advertises in its SETTINGS frame (FRAMING.md §7): the limits it enforces on what it receives,
/// and a server's API revision.
public struct ConnectionSettings: Sendable, Hashable {
    /// Setting identifiers on the wire.
    public enum Identifier: UInt16, Sendable, CaseIterable {
        /// Largest MESSAGE payload.
        case maxMessagePayload = 0x1
        /// Most calls open at once on the connection.
        case maxConcurrentStreams = 0x2
        /// Largest HEADERS / TRAILERS payload.
        case maxHeadersPayload = 0x3
        /// Milliseconds without an open call before the server closes the connection.
        case idleTimeoutMilliseconds = 0x4
        /// The API revision the server understands (`APIRevision` in NumberAPI): a client refuses, before sending, a
        /// request that sets a field newer than it, which the server would skip as unknown.
        case apiRevision = 0x5

        /// The accepted range of values.
        public var range: ClosedRange<UInt32> {
            switch self {
            case .maxMessagePayload: return 16 * 1024...16 * 1024 * 1024
            case .maxConcurrentStreams: return 1...10_000
            case .maxHeadersPayload: return 1024...1024 * 1024
            case .idleTimeoutMilliseconds: return 0...UInt32.max
            case .apiRevision: return 0...UInt32.max
            }
        }
    }

    /// Largest MESSAGE payload, default 4 MiB.
    public var maxMessagePayload: UInt32
    /// Most calls open at once, default 100.
    public var maxConcurrentStreams: UInt32
    /// Largest HEADERS/TRAILERS payload, default 16 KiB.
    public var maxHeadersPayload: UInt32
    /// Idle timeout in milliseconds, default 300 000 (0: none). The server closes a connection without an open call
    /// for that long; a client retires one a little sooner (NumberClient: a tenth, at most 5 s), so no call meets the
    /// close.
    public var idleTimeoutMilliseconds: UInt32
    /// The API revision the sender understands; nil when its SETTINGS carried none, which from a server means one
    /// older than the setting (revision 0). Only a server sends it (numberd's sends its own `APIRevision.current`,
    /// whatever its configured settings hold); a client leaves it nil, and nil is sent as no entry at all.
    public var apiRevision: UInt32?

    /// Creates settings; each value must be within its identifier's range.
    public init(
        maxMessagePayload: UInt32 = 4 * 1024 * 1024,
        maxConcurrentStreams: UInt32 = 100,
        maxHeadersPayload: UInt32 = 16 * 1024,
        idleTimeoutMilliseconds: UInt32 = 300_000,
        apiRevision: UInt32? = nil
    ) {
        self.maxMessagePayload = maxMessagePayload
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxHeadersPayload = maxHeadersPayload
        self.idleTimeoutMilliseconds = idleTimeoutMilliseconds
        self.apiRevision = apiRevision
    }

    /// The defaults every peer assumes until it receives the other side's SETTINGS.
    public static let defaults = ConnectionSettings()

    /// The value of one setting (an API revision not given reads as 0).
    public subscript(identifier: Identifier) -> UInt32 {
        get {
            switch identifier {
            case .maxMessagePayload: return maxMessagePayload
            case .maxConcurrentStreams: return maxConcurrentStreams
            case .maxHeadersPayload: return maxHeadersPayload
            case .idleTimeoutMilliseconds: return idleTimeoutMilliseconds
            case .apiRevision: return apiRevision ?? 0
            }
        }
        set {
            switch identifier {
            case .maxMessagePayload: maxMessagePayload = newValue
            case .maxConcurrentStreams: maxConcurrentStreams = newValue
            case .maxHeadersPayload: maxHeadersPayload = newValue
            case .idleTimeoutMilliseconds: idleTimeoutMilliseconds = newValue
            case .apiRevision: apiRevision = newValue
            }
        }
    }

    /// The SETTINGS payload: every setting, 6 bytes each; the API revision only when given, since its absence is
    /// what tells a client that the server predates it.
    public func payload(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: Identifier.allCases.count * 6)
        for identifier in Identifier.allCases {
            if identifier == .apiRevision, apiRevision == nil { continue }
            buffer.writeInteger(identifier.rawValue)
            buffer.writeInteger(self[identifier])
        }
        return buffer
    }

    /// Parses a SETTINGS payload over `base` (the values in force before it). Unknown identifiers are ignored;
    /// a known one out of range, or a payload that is not whole entries, is an error.
    public init(payload: ByteBuffer, base: ConnectionSettings = .defaults) throws(FramingError) {
        guard payload.readableBytes % 6 == 0 else {
            throw FramingError(
                .invalidPayload, "SETTINGS payload of \(payload.readableBytes) bytes is not whole entries")
        }
        self = base
        var payload = payload
        while let id: UInt16 = payload.readInteger(), let value: UInt32 = payload.readInteger() {
            guard let identifier = Identifier(rawValue: id) else { continue }
            guard identifier.range.contains(value) else {
                throw FramingError(
                    .invalidPayload, "SETTINGS \(identifier) value \(value) outside \(identifier.range)")
            }
            self[identifier] = value
        }
    }
}
