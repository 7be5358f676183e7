import NIOCore
import NIOPosix
import NumberTLS
import Testing

@testable import numbers_load

@Suite("numbers-load connections: failures are counted, not fatal")
struct ConnectionOpenerTests {
    /// A connect that fails never makes its channel active, so no handler completed the greeting's promise, and
    /// NIO traps on a dropped promise in debug builds (the README runs `connections` without `-c release`).
    @Test("connections to a closed port are counted as failures")
    func closedPortIsCounted() async throws {
        // A port that was just free: bound, then closed.
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        try await listener.close()
        var tls = TLSConfiguration.client(trustRoots: .system)
        tls.applicationProtocols = ["nrpc/1"]
        let opener = ConnectionOpener(host: "127.0.0.1", port: port, context: try TLSContext(configuration: tls))
        let result = await opener.open(count: 2, concurrency: 1)
        #expect(result.channels.isEmpty)
        #expect(result.failures.values.reduce(0, +) == 2, "\(result.failures)")
    }

    @Test("the server's RSS is read from /proc's status text, also above 9.5 GiB (no space after the tab)")
    func residentSetSize() {
        #expect(ProcessStatus.residentMiB(status: "Name:\tnumberd\nVmRSS:\t   51200 kB\n") == 50)
        #expect(ProcessStatus.residentMiB(status: "VmRSS:\t12345678 kB\nThreads:\t4\n") == 12_345_678.0 / 1024)
        #expect(ProcessStatus.residentMiB(status: "Name:\tnumberd\n") == nil)
    }
}
