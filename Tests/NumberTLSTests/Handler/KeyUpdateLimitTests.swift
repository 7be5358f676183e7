import NIOCore
import NIOEmbedded
import Testing

@testable import NumberTLS

/// OpenSSL 3.0 answers every TLS 1.3 KeyUpdate(update_requested) at once with one of its own and counts none: a
/// client sending nothing else cost the server 18 µs of CPU each (0.5 µs for a one-byte record), ~3 MB/s of them held
/// both cores, and the connection was never closed. A server now fails the connection past 32 such messages at once
/// and one a second.
@Suite("A server's limit on KeyUpdates without application data")
struct KeyUpdateLimitTests {
    let pki = TestPKI.shared

    /// A connected pair (TLS 1.3).
    private func connectedPair() throws -> InMemoryPair {
        let pair = try InMemoryPair(client: pki.clientConfiguration(), server: pki.serverConfiguration())
        try pair.connect()
        return pair
    }

    /// Sends `count` KeyUpdates from the client, exchanging bytes after each (the server reads it and answers), and a
    /// byte of application data after every `dataEvery` of them (0: never).
    private func sendKeyUpdates(_ count: Int, dataEvery: Int = 0, on pair: InMemoryPair) throws {
        let handler = try pair.client.pipeline.syncOperations.handler(type: TLSHandler.self)
        let context = try pair.client.pipeline.syncOperations.context(handlerType: TLSHandler.self)
        for index in 1...count {
            #expect(handler.requestKeyUpdate(context: context), "KeyUpdate \(index) was not sent")
            try pair.interactInMemory()
            if dataEvery > 0, index % dataEvery == 0 {
                try pair.sendFromClient("x")
            }
        }
    }

    @Test("32 KeyUpdates at once are answered; the next fails the server's connection")
    func floodFailsTheConnection() throws {
        let pair = try connectedPair()
        try sendKeyUpdates(32, on: pair)
        #expect(pair.serverEvents.errors.isEmpty)
        #expect(pair.server.isActive)
        // The 33rd fails it, unless a loaded machine took seconds over these and earned some back: at most 20 more.
        for _ in 0..<20 where pair.server.isActive { try sendKeyUpdates(1, on: pair) }
        let error = try #require(pair.serverEvents.tlsError)
        #expect(error.code == .protocolError)
        #expect(error.message.contains("KeyUpdate"), "\(error)")
        #expect(!pair.server.isActive)
    }

    /// A TLS review: OpenSSL answers post-handshake messages record after record inside one `SSL_read_ex`, and the
    /// limit was checked only when the call returned — 100 KeyUpdates arriving in one read were all answered.
    @Test("100 KeyUpdates arriving in one read: at most 33 answered, then the connection fails")
    func floodInOneReadIsCut() throws {
        let pair = try connectedPair()
        let handler = try pair.client.pipeline.syncOperations.handler(type: TLSHandler.self)
        let context = try pair.client.pipeline.syncOperations.context(handlerType: TLSHandler.self)
        for index in 1...100 {
            #expect(handler.requestKeyUpdate(context: context), "KeyUpdate \(index) was not sent")
        }
        let burst = try ReentrantReadTests.ciphertext(from: pair.client)
        try pair.server.writeInbound(burst)
        let answered = try ReentrantReadTests.ciphertext(from: pair.server)
        // Each KeyUpdate answered is one TLS 1.3 record (outer type 23) of 27 bytes; the alert is one more record.
        var records = 0
        var reader = answered
        while let header = reader.readBytes(length: 5), header.count == 5 {
            records += 1
            let length = Int(header[3]) << 8 | Int(header[4])
            guard reader.readSlice(length: length) != nil else { break }
        }
        #expect(records <= 34, "\(records) records answered")
        let error = try #require(pair.serverEvents.tlsError)
        #expect(error.code == .protocolError)
        #expect(!pair.server.isActive)
    }

    /// A count that application data reset was no bound: 32 updates and a byte, over and over, cost the server as
    /// much as the flood the limit was made for.
    @Test("a byte of application data between KeyUpdates earns nothing back: 200 with data every 32 fail")
    func dataDoesNotResetTheBudget() throws {
        let pair = try connectedPair()
        try sendKeyUpdates(200, dataEvery: 32, on: pair)
        let error = try #require(pair.serverEvents.tlsError)
        #expect(error.code == .protocolError)
        #expect(!pair.server.isActive)
    }

    @Test("the allowance: 32 at once, one earned back a second up to 32, whatever else arrives")
    func allowanceRefills() {
        let second: UInt64 = 1_000_000_000
        let messages = TLSPostHandshakeMessages()
        messages.received(now: 0)
        #expect(messages.limitExceeded == nil && messages.allowance == 32, "the handshake's own are not counted")
        messages.handshakeCompleted(now: 10 * second)
        for _ in 0..<32 { messages.received(now: 10 * second) }
        #expect(messages.limitExceeded == nil && messages.allowance == 0)
        messages.received(now: 12 * second + 1)  // two earned back: one taken
        messages.received(now: 12 * second + 2)
        #expect(messages.limitExceeded == nil && messages.allowance == 0)
        messages.received(now: 12 * second + 3)
        #expect(messages.limitExceeded?.code == .protocolError)
        let rested = TLSPostHandshakeMessages()
        rested.handshakeCompleted(now: 0)
        rested.received(now: 3_600 * second)
        #expect(rested.allowance == 31, "an hour earns back no more than 32")
    }
}
