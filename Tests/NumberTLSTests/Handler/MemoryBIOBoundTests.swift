import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

/// OpenSSL's memory BIOs grow their buffer to the most they ever held and never shrink it. A connection that once
/// carried a large response or a large socket read must not keep that memory while it idles: the handler moves
/// ciphertext through them a slice at a time, so each stays about one TLS record whatever the size of a write or read.
@Suite("Memory BIOs stay about one record, whatever went through them")
struct MemoryBIOBoundTests {
    let pki = TestPKI.shared
    /// The bound checked: two records. A BIO holds one slice (16 KiB and a record's overhead), which OpenSSL's
    /// growth by 4/3 makes 21,876 bytes.
    static let capacityMax = 32 * 1024
    /// One large response.
    static let largeBytes = 1024 * 1024

    /// A pair over TLS `version` with the handshake done.
    func connectedPair(_ version: TLSVersion) throws -> InMemoryPair {
        var server = pki.serverConfiguration()
        server.maximumVersion = version
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: server)
        try pair.connect()
        return pair
    }

    /// 1 MiB of a repeating pattern, so a byte out of place shows.
    static func pattern(_ count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes((0..<count).lazy.map { UInt8(truncatingIfNeeded: $0 % 251) })
        return buffer
    }

    static func handler(_ channel: EmbeddedChannel) throws -> TLSHandler {
        try channel.pipeline.syncOperations.handler(type: TLSHandler.self)
    }

    static let versions: [TLSVersion] = [.v1_3, .v1_2]

    @Test("one 1 MiB write: the output BIO holds about a record afterwards (it kept ~1.3 MiB)", arguments: versions)
    func largeWrite(version: TLSVersion) throws {
        let pair = try connectedPair(version)
        let sent = Self.pattern(Self.largeBytes)
        let written = pair.server.writeAndFlush(sent)
        // The ciphertext leaves the handler in one socket write, as every flush does.
        var socketWrites = 0
        while let buffer = try pair.server.readOutbound(as: ByteBuffer.self) {
            socketWrites += 1
            try pair.client.writeInbound(buffer)
        }
        try written.wait()
        #expect(socketWrites == 1)
        #expect(pair.clientEvents.received == sent)
        let capacities = try Self.handler(pair.server).memoryBIOCapacities
        #expect(capacities.output <= Self.capacityMax, "output BIO: \(capacities.output) bytes")
        #expect(pair.clientEvents.errors.isEmpty && pair.serverEvents.errors.isEmpty)
    }

    @Test(
        "one 1 MiB socket read: the input BIO holds about a record afterwards (it kept ~1.4 MiB)",
        arguments: Self.versions)
    func largeRead(version: TLSVersion) throws {
        let pair = try connectedPair(version)
        let sent = Self.pattern(Self.largeBytes)
        try pair.client.writeAndFlush(sent).wait()
        var ciphertext = ByteBuffer()
        while var buffer = try pair.client.readOutbound(as: ByteBuffer.self) {
            ciphertext.writeBuffer(&buffer)
        }
        // All of it arrives in one read, as a large socket read (or several coalesced by a test) would bring it.
        try pair.server.writeInbound(ciphertext)
        #expect(pair.serverEvents.received == sent)
        #expect(pair.serverEvents.readSizes.allSatisfy { $0 <= 16 * 1024 })
        let capacities = try Self.handler(pair.server).memoryBIOCapacities
        #expect(capacities.input <= Self.capacityMax, "input BIO: \(capacities.input) bytes")
        #expect(pair.clientEvents.errors.isEmpty && pair.serverEvents.errors.isEmpty)
    }

    @Test("a read that ends the handshake and carries 1 MiB of data after it: delivered, input BIO small")
    func handshakeThenLargeRead() throws {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        let sent = Self.pattern(Self.largeBytes)
        let written = pair.client.writeAndFlush(sent)
        // ClientHello to the server, its flight back: the client finishes and sends its Finished with the data.
        while let buffer = try pair.client.readOutbound(as: ByteBuffer.self) { try pair.server.writeInbound(buffer) }
        while let buffer = try pair.server.readOutbound(as: ByteBuffer.self) { try pair.client.writeInbound(buffer) }
        var ciphertext = ByteBuffer()
        while var buffer = try pair.client.readOutbound(as: ByteBuffer.self) { ciphertext.writeBuffer(&buffer) }
        #expect(ciphertext.readableBytes > Self.largeBytes)
        try pair.server.writeInbound(ciphertext)
        try written.wait()
        #expect(pair.serverEvents.handshake != nil)
        #expect(pair.serverEvents.received == sent)
        let capacities = try Self.handler(pair.server).memoryBIOCapacities
        #expect(capacities.input <= Self.capacityMax, "input BIO: \(capacities.input) bytes")
    }

    @Test("many small writes in one flush still share records and leave the BIOs small")
    func smallWritesStillCoalesce() throws {
        let pair = try connectedPair(.v1_3)
        for _ in 0..<1000 { pair.server.write(ByteBuffer(repeating: 0x61, count: 100), promise: nil) }
        pair.server.flush()
        var ciphertextBytes = 0
        while let buffer = try pair.server.readOutbound(as: ByteBuffer.self) {
            ciphertextBytes += buffer.readableBytes
            try pair.client.writeInbound(buffer)
        }
        #expect(pair.clientEvents.received.readableBytes == 100_000)
        // 100,000 bytes in 16 KiB records: 7 records of 22 bytes' overhead.
        #expect(ciphertextBytes == 100_000 + 7 * 22)
        let capacities = try Self.handler(pair.server).memoryBIOCapacities
        #expect(capacities.output <= Self.capacityMax)
    }
}

extension MemoryBIOBoundTests {
    @Test(
        "a socket read of 380 tiny records goes up as one buffer, not a buffer of up to 16 KiB per record",
        arguments: Self.versions)
    func tinyRecordsShareABuffer(version: TLSVersion) throws {
        let pair = try connectedPair(version)
        // 380 writes flushed one by one: a record each, 12 bytes of plaintext (a SETTINGS-ACK frame's size), 34 (TLS
        // 1.3) or 41 (TLS 1.2) of ciphertext: one socket read's slice.
        var sent = ByteBuffer()
        var ciphertext = ByteBuffer()
        for index in 0..<380 {
            let record = ByteBuffer(bytes: (0..<12).map { UInt8(truncatingIfNeeded: index &+ $0) })
            sent.writeImmutableBuffer(record)
            try pair.client.writeAndFlush(record).wait()
            while var buffer = try pair.client.readOutbound(as: ByteBuffer.self) { ciphertext.writeBuffer(&buffer) }
        }
        #expect(ciphertext.readableBytes <= 16 * 1024, "one slice: \(ciphertext.readableBytes) bytes")
        try pair.server.writeInbound(ciphertext)
        #expect(pair.serverEvents.received == sent)
        #expect(pair.serverEvents.readSizes.count <= 2, "\(pair.serverEvents.readSizes.count) buffers")
        let held = pair.serverEvents.readCapacities.reduce(0, +)
        #expect(held <= 32 * 1024, "the buffers hold \(held) bytes for \(sent.readableBytes) received")
        #expect(pair.clientEvents.errors.isEmpty && pair.serverEvents.errors.isEmpty)
    }
}
