import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

@Suite("Buffer limits at their edges")
struct BufferLimitTests {
    let pki = TestPKI.shared
    /// TLS 1.3 record overhead: 5 header bytes, 1 inner content type, 16 tag bytes.
    let recordOverhead = 22

    /// Ciphertext bytes one flush of `sizes` produces with `writeCoalesceBytesMax` = 100.
    func ciphertextBytes(_ sizes: [Int]) throws -> Int {
        var client = pki.clientConfiguration()
        client.writeCoalesceBytesMax = 100
        let pair = try InMemoryPair(client: client, server: pki.serverConfiguration())
        try pair.connect()
        for size in sizes {
            pair.client.write(ByteBuffer(repeating: 0x41, count: size), promise: nil)
        }
        pair.client.flush()
        var total = 0
        var socketWrites = 0
        while let buffer = try pair.client.readOutbound(as: ByteBuffer.self) {
            total += buffer.readableBytes
            socketWrites += 1
            try pair.server.writeInbound(buffer)
        }
        #expect(socketWrites == 1)
        #expect(pair.serverEvents.received.readableBytes == sizes.reduce(0, +))
        return total
    }

    @Test("writes adding up to exactly writeCoalesceBytesMax share one record; one byte more makes two")
    func coalesceEdge() throws {
        #expect(try ciphertextBytes([50, 50]) == 100 + recordOverhead)
        #expect(try ciphertextBytes([50, 51]) == 101 + 2 * recordOverhead)
        // A write of the limit or more is encrypted on its own, not copied into the coalescing buffer.
        #expect(try ciphertextBytes([10, 100]) == 110 + 2 * recordOverhead)
    }

    @Test("reads are delivered in chunks of at most readChunkBytes, complete and in order")
    func readChunkEdge() throws {
        var server = pki.serverConfiguration()
        server.readChunkBytes = 10
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: server)
        try pair.connect()
        let text = (0..<25).map { "n\($0 % 10)ab" }.joined()
        try pair.client.writeAndFlush(ByteBuffer(string: text)).wait()
        while let buffer = try pair.client.readOutbound(as: ByteBuffer.self) {
            try pair.server.writeInbound(buffer)
        }
        #expect(pair.serverEvents.receivedString == text)
        #expect(pair.serverEvents.readSizes.allSatisfy { $0 <= 10 })
        #expect(pair.serverEvents.readSizes.count == 10)
    }

    @Test("certificate names: 64-byte common names and 100 alternative names are the most accepted")
    func certificateNameLimits() throws {
        _ = try pki.authority.issueClientCertificate(commonName: String(repeating: "c", count: 64))
        #expect(throws: TLSError.self) {
            try pki.authority.issueClientCertificate(commonName: String(repeating: "c", count: 65))
        }
        // The server certificate always adds localhost, 127.0.0.1 and ::1.
        let names97 = (0..<97).map { "host\($0).test" }
        _ = try pki.authority.issueServerCertificate(dnsNames: names97)
        #expect(throws: TLSError.self) {
            try pki.authority.issueServerCertificate(dnsNames: names97 + ["one-more.test"])
        }
    }
}
