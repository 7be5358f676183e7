import NIOCore
import NIOEmbedded
import NumberTLS
import Testing

/// OpenSSL 3.0 answers every TLS 1.3 KeyUpdate(update_requested) at once with one of its own and counts none: a
/// client sending nothing else cost the server 18 µs of CPU each (0.5 µs for a one-byte record), ~3 MB/s of them held
/// both cores, and the connection was never closed. A server now fails the connection after 32 such messages without
/// application data between them, as BoringSSL does.
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

    @Test("32 KeyUpdates without application data are answered; the 33rd fails the server's connection")
    func floodFailsTheConnection() throws {
        let pair = try connectedPair()
        try sendKeyUpdates(32, on: pair)
        #expect(pair.serverEvents.errors.isEmpty)
        #expect(pair.server.isActive)
        try sendKeyUpdates(1, on: pair)
        let error = try #require(pair.serverEvents.tlsError)
        #expect(error.code == .protocolError)
        #expect(error.message.contains("KeyUpdate"), "\(error)")
        #expect(!pair.server.isActive)
    }

    @Test("KeyUpdates with a byte of application data every 10 never fail the connection")
    func updatesBetweenDataAreAccepted() throws {
        let pair = try connectedPair()
        try sendKeyUpdates(100, dataEvery: 10, on: pair)
        #expect(pair.serverEvents.errors.isEmpty)
        #expect(pair.server.isActive)
        #expect(pair.serverEvents.receivedString == String(repeating: "x", count: 10))
        // Both sides still talk under their new keys.
        try pair.sendFromServer("still here")
        #expect(pair.clientEvents.receivedString == "still here")
        #expect(pair.clientEvents.errors.isEmpty)
    }
}
