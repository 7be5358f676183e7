import NIOCore
import NumberTLS
import Testing

@Suite("TLSSessionCache")
struct TLSSessionCacheTests {
    let pki = TestPKI.shared
    /// One client context for every connection: a session resumes only under the context that verified it.
    let clientContext: TLSContext
    let serverContext: TLSContext

    init() throws {
        clientContext = try TLSContext(configuration: TestPKI.shared.clientConfiguration())
        serverContext = try TLSContext(configuration: TestPKI.shared.serverConfiguration())
    }

    /// Runs a handshake and a server write (which carries the ticket to the client) storing under `key`.
    func connect(cache: TLSSessionCache, key: String) throws {
        let pair = try InMemoryPair(
            clientContext: clientContext, serverContext: serverContext, sessionCache: cache, sessionKey: key)
        try pair.connect()
        try pair.sendFromServer("ticket")
    }

    @Test("at most entriesMax servers are remembered; the oldest goes first")
    func entriesMax() throws {
        let cache = TLSSessionCache(entriesMax: 2)
        try connect(cache: cache, key: "a:1")
        try connect(cache: cache, key: "b:1")
        #expect(cache.count == 2)
        try connect(cache: cache, key: "c:1")
        #expect(cache.count == 2)
        #expect(!cache.contains("a:1"))
        #expect(cache.contains("b:1") && cache.contains("c:1"))
        cache.remove("b:1")
        #expect(cache.count == 1 && !cache.contains("b:1"))
    }

    @Test("a stored session is taken by one connection, which stores the next ticket")
    func singleUse() throws {
        let cache = TLSSessionCache()
        try connect(cache: cache, key: "server")
        #expect(cache.contains("server"))
        // The next connection takes the session; without reading the new ticket, the cache stays empty.
        let pair = try InMemoryPair(
            clientContext: clientContext, serverContext: serverContext, sessionCache: cache, sessionKey: "server")
        try pair.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        #expect(!cache.contains("server"))
    }

    @Test("with sessionResumption off, nothing is stored")
    func disabled() throws {
        let cache = TLSSessionCache()
        var client = pki.clientConfiguration()
        client.sessionResumption = false
        let pair = try InMemoryPair(client: client, server: pki.serverConfiguration(), sessionCache: cache)
        try pair.connect()
        try pair.sendFromServer("no ticket kept")
        #expect(cache.count == 0)
        #expect(pair.clientEvents.receivedString == "no ticket kept")
    }
}
