import COpenSSL
import Glibc
import NumberTLS
import Synchronization
import Testing

/// OpenSSL contexts (`SSL_CTX`) made and not yet freed, by the thread that made them: OpenSSL calls the new and
/// free callbacks of an ex_data index for every `SSL_CTX`, so the test sees a leaked one without instrumenting
/// numberd. Keyed by thread, so contexts made meanwhile by tests running in parallel do not count.
private enum SSLContextCensus {
    static let alive = Mutex<[UInt: pthread_t]>([:])

    /// Registers the callbacks (once; every `SSL_CTX` made afterwards is counted).
    static let registered: Bool = {
        let index = CRYPTO_get_ex_new_index(
            CRYPTO_EX_INDEX_SSL_CTX, 0, nil,
            { parent, _, _, _, _, _ in
                guard let parent else { return }
                let thread = pthread_self()
                SSLContextCensus.alive.withLock { $0[UInt(bitPattern: parent)] = thread }
            }, nil,
            { parent, _, _, _, _, _ in
                guard let parent else { return }
                _ = SSLContextCensus.alive.withLock { $0.removeValue(forKey: UInt(bitPattern: parent)) }
            })
        return index >= 0
    }()

    /// The contexts this thread made that are still alive.
    static func madeHere() -> Set<UInt> {
        let thread = pthread_self()
        return alive.withLock { Set($0.filter { pthread_equal($0.value, thread) != 0 }.keys) }
    }
}

@Suite("TLSContext: no OpenSSL context is leaked")
struct TLSContextLeakTests {
    @Test("a configuration refused for an invalid ALPN name leaves no SSL_CTX behind")
    func invalidALPNLeaksNothing() throws {
        try #require(SSLContextCensus.registered)
        var configuration = TestPKI.shared.serverConfiguration()
        configuration.applicationProtocols = [""]
        // Synchronous from here to the check: nothing else runs on this thread meanwhile.
        let before = SSLContextCensus.madeHere()
        #expect(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(SSLContextCensus.madeHere().subtracting(before).isEmpty)
        // The census sees contexts: one made and dropped here comes and goes.
        var made = try TLSContext(configuration: TestPKI.shared.serverConfiguration()) as TLSContext?
        #expect(SSLContextCensus.madeHere().subtracting(before).count == 1)
        made = nil
        #expect(SSLContextCensus.madeHere().subtracting(before).isEmpty)
        _ = made
    }
}
