import ArgumentParser
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
        // In the system's words, whole (an operator's walk: a description cut at 80 characters mid-parenthesis).
        #expect(result.failures.keys.sorted() == ["Connection refused"], "\(result.failures)")
    }

    @Test("the server's RSS is read from /proc's status text, also above 9.5 GiB (no space after the tab)")
    func residentSetSize() {
        #expect(ProcessStatus.residentMiB(status: "Name:\tnumberd\nVmRSS:\t   51200 kB\n") == 50)
        #expect(ProcessStatus.residentMiB(status: "VmRSS:\t12345678 kB\nThreads:\t4\n") == 12_345_678.0 / 1024)
        #expect(ProcessStatus.residentMiB(status: "Name:\tnumberd\n") == nil)
    }
}

/// With the server down `connections` reported "0 established of 10000" and exited 0; a server that accepted and never
/// answered held it for 10 s per connection, 52 minutes for 10,000 at 32 at once; a --count above the open-files limit
/// was lowered without failing; and the server's memory per connection divided by the connections established, also
/// those that had closed when it was read.
@Suite("numbers-load connections: bounded, refused beyond its limits, failed when it did not hold what was asked")
struct ConnectionsCommandTests {
    /// The report of a run that asked for `requested` connections.
    static func report(requested: Int, established: Int, stillOpen: Int) -> ConnectionsCommand.Report {
        ConnectionsCommand.Report(
            requested: requested, fileDescriptorLimit: 1_048_576, established: established,
            failed: requested - established, notAttempted: 0, failures: [:], seconds: 1,
            handshakesPerSecond: Double(established),
            handshakeLatencyMicros: LoadReport.Latency(LatencyRecorder.makeHistogram()), stillOpenAfterHold: stillOpen)
    }

    @Test("fewer established than --count, or fewer held than established, fails the run (exit 3)")
    func failure() {
        #expect(
            Self.report(requested: 10_000, established: 0, stillOpen: 0).failure
                == "0 of the 10000 connections requested were established")
        #expect(
            Self.report(requested: 10, established: 10, stillOpen: 7).failure
                == "3 of the 10 connections closed while held")
        #expect(Self.report(requested: 10, established: 10, stillOpen: 10).failure == nil)
    }

    @Test("the server's KiB per connection divides by the connections still open when its RSS was read")
    func kibPerOpenConnection() {
        #expect(ConnectionsCommand.Report.kibPerConnection(rssBefore: 100, rssHeld: 110, open: 5) == 2048)
        #expect(ConnectionsCommand.Report.kibPerConnection(rssBefore: 100, rssHeld: 110, open: 0) == nil)
        #expect(ConnectionsCommand.Report.kibPerConnection(rssBefore: nil, rssHeld: 110, open: 5) == nil)
    }

    @Test("--count above the open-files limit less 64 is a usage error naming --count, as run's --connections")
    func countFitsTheOpenFilesLimit() {
        let refused = #expect(throws: ValidationError.self) {
            try RunLoad.checkConnections(10_000, openFilesLimit: 1024, flag: "--count")
        }
        #expect(
            refused?.message.contains("--count 10000 does not fit the open-files limit 1024") == true,
            "\(String(describing: refused))")
    }

    @Test("--open-timeout is 1...3600 seconds, 120 by default")
    func openTimeoutRange() throws {
        #expect(try ConnectionsCommand.parse([]).openTimeout == 120)
        #expect(throws: (any Error).self) { try ConnectionsCommand.parse(["--open-timeout", "0"]) }
        #expect(throws: (any Error).self) { try ConnectionsCommand.parse(["--open-timeout", "3601"]) }
    }

    @Test("--open-timeout bounds the opening: against a server that never answers, no attempt starts or runs past it")
    func openTimeoutBoundsOpening() async throws {
        let (listener, opener) = try await Self.silentServer()
        let start = NIODeadline.now()
        let result = await opener.open(count: 100, concurrency: 2, until: start + .milliseconds(500))
        let took = NIODeadline.now() - start
        try await listener.close()
        // Unbounded, 100 attempts 2 at a time of 10 s each took over 8 minutes.
        #expect(took < .seconds(200), "each attempt had its 10 s: \(took)")
        #expect(result.channels.isEmpty)
        // At most one attempt per worker, cut at the deadline (a worker a loaded machine started late made none).
        let failed = result.failures.values.reduce(0, +)
        #expect((0...2).contains(failed), "\(result.failures)")
        #expect(result.notAttempted == 100 - failed)
    }

    @Test("cancelled (the run interrupted), the opening ends at once: attempts under way end, none starts, none fails")
    func cancelEndsOpening() async throws {
        var (listener, opener) = try await Self.silentServer()
        // Each attempt would wait 10 minutes: an end within a few minutes (a machine busy with the whole suite took
        // 14 s) can only be the cancellation's.
        opener.establishTimeout = .seconds(600)
        let opening = Task { [opener] in await opener.open(count: 100, concurrency: 2) }
        try await Task.sleep(for: .milliseconds(300))
        let cancelled = NIODeadline.now()
        opening.cancel()
        let result = await opening.value
        let took = NIODeadline.now() - cancelled
        try await listener.close()
        #expect(took < .seconds(300), "the attempts under way ran on: \(took)")
        #expect(result.channels.isEmpty)
        #expect(result.failures.isEmpty, "cut short, not failed: \(result.failures)")
        #expect(result.notAttempted == 100)
    }

    /// A listener that accepts TCP connections and never answers the TLS handshake (each attempt would wait its
    /// 10 s), and an opener aimed at it.
    static func silentServer() async throws -> (any Channel, ConnectionOpener) {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(listener.localAddress?.port)
        var tls = TLSConfiguration.client(trustRoots: .system)
        tls.applicationProtocols = ["nrpc/1"]
        return (listener, ConnectionOpener(host: "127.0.0.1", port: port, context: try TLSContext(configuration: tls)))
    }
}
