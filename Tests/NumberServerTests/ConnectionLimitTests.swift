import Logging
import NIOCore
import TestSupport
import Testing

@testable import NumberServer

/// `connectionsMax`: the connection over the limit is closed at once, those under it stay, a slot freed by a closed
/// connection is taken again, and connections arriving all at once never get past the limit.
@Suite("connectionsMax", .serialized)
struct ConnectionLimitTests {
    let tls: TestTLS

    init() throws { tls = try TestTLS() }

    @Test("the connection over the limit is closed at once; a freed slot is taken again")
    func overTheLimit() async throws {
        // The connections send nothing: a loaded full run once took over 10 s here, and the server's default SETTINGS
        // timeout (10 s) closed the ones the test keeps open.
        let configuration = NumberServerConfiguration(
            port: 0, connection: .init(connectionsMax: 4, settingsTimeout: .seconds(600)))
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration) { server, port in
            var open: [RawConnection] = []
            for count in 1...4 {
                open.append(try await RawConnection.connect(port: port, tls: tls))
                // Admitted before the next one connects: each event loop admits its own connections, and a busy one
                // could otherwise admit this one after the one over the limit, which then takes its slot.
                try await Self.waitUntil { server.connectionCount == count }
            }
            let over = try await RawConnection.connect(port: port, tls: tls)
            #expect(await over.waitForClose(timeout: .seconds(60)) != nil)
            #expect(open.allSatisfy { !$0.isClosed })
            // A slot comes back once the server has seen a connection close (its task ends asynchronously): wait for
            // that, then the next connection must be admitted (counted), not refused (closed).
            try await open.removeFirst().channel.close()
            try await Self.waitUntil { server.connectionCount == 3 }
            #expect(server.connectionCount == 3, "the server did not let go of the closed connection")
            let again = try await RawConnection.connect(port: port, tls: tls)
            try await Self.waitUntil { server.connectionCount == 4 || again.isClosed }
            #expect(server.connectionCount == 4, "no slot came back after a connection closed")
            #expect(!again.isClosed, "the connection into the freed slot was refused")
            #expect(open.allSatisfy { !$0.isClosed })
            for connection in open + [again] { try? await connection.channel.close() }
        }
    }

    /// A connection over the limit is closed before its TLS handshake (a handshake each would spend the CPU the
    /// limit protects), which its client sees as a connection that carried nothing. The operator is told: one warning
    /// naming the limit, then at most one per 10 s with how many were refused since (and the refusal counter).
    @Test("refusals at the limit are logged, one line for a burst of them")
    func refusalsAreLogged() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        // The kept connection sends nothing: the SETTINGS timeout (10 s by default) must not close it in a starved run.
        let configuration = NumberServerConfiguration(
            port: 0, connection: .init(connectionsMax: 1, settingsTimeout: .seconds(600)))
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration, logger: logger) {
            server, port in
            let kept = try await RawConnection.connect(port: port, tls: tls)
            try await Self.waitUntil { server.connectionCount == 1 }
            let started = ContinuousClock.now
            for _ in 0..<5 {
                let over = try await RawConnection.connect(port: port, tls: tls)
                #expect(await over.waitForClose(timeout: .seconds(60)) != nil)
            }
            let refused = lines.all.filter { $0.message == "connections refused: connection limit reached" }
            Self.expectOneLinePerInterval(refused, since: started)
            #expect(refused.first?.level == .warning)
            #expect(refused.first?.metadata["connections_max"] == "1")
            #expect(refused.first?.metadata["refused"] == "1")
            #expect(!kept.isClosed)
            try await kept.channel.close()
        }
    }

    /// Checks that a burst of refusals, the first made after `started`, was logged in one line; a loaded machine may
    /// take longer than ``NumberServer/refusalLogInterval`` for the burst, and then at most one line per interval
    /// begun is allowed.
    static func expectOneLinePerInterval(
        _ refused: [CapturingLogHandler.Line], since started: ContinuousClock.Instant,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let took = ContinuousClock.now - started
        let interval = NumberServer.refusalLogInterval
        if took < interval {
            #expect(refused.count == 1, "\(refused)", sourceLocation: sourceLocation)
        } else {
            let intervals = Int(took / interval) + 1
            #expect(
                refused.count >= 1 && refused.count <= intervals, "\(refused) in \(took)",
                sourceLocation: sourceLocation)
        }
    }

    /// Waits until `condition` holds, 120 s at most (what it waits for takes milliseconds when the machine is idle; a
    /// starved test process gets no CPU for up to 50 s).
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while !condition(), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
    }

    @Test("connections arriving all at once on both event loops never get past the limit")
    func allAtOnce() async throws {
        // The admitted ones never start TLS: neither the handshake timeout nor the SETTINGS timeout (10 s each by
        // default) may close them before they are counted, however long a starved run takes to get there.
        let tls = try TestTLS(handshakeTimeout: .seconds(600))
        let configuration = NumberServerConfiguration(
            port: 0, connection: .init(connectionsMax: 5, settingsTimeout: .seconds(600)))
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration) { server, port in
            for _ in 0..<10 {
                let connections = try await withThrowingTaskGroup(of: RawConnection.self) { group in
                    for _ in 0..<40 { group.addTask { try await RawConnection.connect(port: port, tls: nil) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                // Refused ones are closed at accept; seeing that can take a while on a busy machine (an admitted one
                // stays open), so wait for it, then count the rest and ask the server too.
                let deadline = ContinuousClock.now + .seconds(120)
                var kept = connections.filter { !$0.isClosed }.count
                while kept > 5, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                    kept = connections.filter { !$0.isClosed }.count
                }
                #expect(kept <= 5 && kept >= 1, "\(kept) connections kept of 40 with connectionsMax 5")
                #expect(server.connectionCount <= 5, "\(server.connectionCount) connections admitted")
                for connection in connections { try? await connection.channel.close() }
                // Wait until the server has let go of every slot before the next round.
                try await Self.waitUntil { server.connectionCount == 0 }
                #expect(server.connectionCount == 0, "slots still held after every connection closed")
            }
        }
    }

    /// `connectionsPerAddressMax` (3 here, the loopback exemption turned off: the tests connect from 127.0.0.1): the
    /// fourth connection from the address is closed at accept, the three stay, a slot freed is taken again, and the
    /// server's count for the address goes back to zero once they close. Refusals are logged once for a burst.
    @Test("the connection over the per-address limit is closed at once; a freed slot is taken again")
    func perAddressLimit() async throws {
        let lines = CapturingLogHandler.Lines()
        let logger = Logger(label: "numberd-test") { _ in CapturingLogHandler(lines: lines) }
        // A starved run must not see a kept connection closed by the SETTINGS timeout during its handshake.
        var limits = NumberServerConfiguration.ConnectionLimits(
            connectionsPerAddressMax: 3, settingsTimeout: .seconds(600))
        limits.loopbackExempt = false
        let configuration = NumberServerConfiguration(port: 0, connection: limits)
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration, logger: logger) {
            server, port in
            var open: [RawConnection] = []
            for count in 1...3 {
                // Past SETTINGS: only the idle timeout (300 s) would close it.
                let connection = try await RawConnection.connect(port: port, tls: tls)
                try await connection.send(clientStart())
                open.append(connection)
                try await Self.waitUntil { server.connectionCount(from: "127.0.0.1") == count }
            }
            let started = ContinuousClock.now
            for _ in 0..<3 {
                let over = try await RawConnection.connect(port: port, tls: tls)
                #expect(await over.waitForClose(timeout: .seconds(60)) != nil)
            }
            #expect(open.allSatisfy { !$0.isClosed })
            #expect(server.connectionCount(from: "127.0.0.1") == 3)
            let refused = lines.all.filter { $0.message == "connections refused: per-address connection limit reached" }
            Self.expectOneLinePerInterval(refused, since: started)
            #expect(refused.first?.metadata["address"] == "127.0.0.1")
            try await open.removeFirst().channel.close()
            try await Self.waitUntil { server.connectionCount(from: "127.0.0.1") == 2 }
            let again = try await RawConnection.connect(port: port, tls: tls)
            // Admitted (counted for the address), not refused (closed at accept).
            try await Self.waitUntil { server.connectionCount(from: "127.0.0.1") == 3 || again.isClosed }
            #expect(server.connectionCount(from: "127.0.0.1") == 3, "no slot came back")
            #expect(!again.isClosed, "the connection into the freed slot was refused")
            for connection in open + [again] { try? await connection.channel.close() }
            try await Self.waitUntil { server.connectionCount(from: "127.0.0.1") == 0 }
            #expect(server.connectionCount(from: "127.0.0.1") == 0)
        }
    }

    /// Loopback clients are exempt (numbers-load opens 10,000 connections from 127.0.0.1): with a per-address limit
    /// of 2, ten connections from 127.0.0.1 all stay, and none is counted against it.
    @Test("loopback connections are exempt from the per-address limit")
    func loopbackIsExempt() async throws {
        // They send nothing: the SETTINGS timeout (10 s by default) must not close them in a starved run.
        let configuration = NumberServerConfiguration(
            port: 0, connection: .init(connectionsPerAddressMax: 2, settingsTimeout: .seconds(600)))
        try await withTestServer(router: abuseRouter(), tls: tls, configuration: configuration) { server, port in
            var open: [RawConnection] = []
            for _ in 0..<10 { open.append(try await RawConnection.connect(port: port, tls: tls)) }
            try await Self.waitUntil { server.connectionCount == 10 }
            #expect(server.connectionCount == 10)
            #expect(open.allSatisfy { !$0.isClosed })
            #expect(server.connectionCount(from: "127.0.0.1") == 0)
            for connection in open { try? await connection.channel.close() }
        }
    }

    @Test("the address the per-address limit counts: IPv4-mapped as IPv4, IPv6 by its /64, loopback exempt")
    func limitedAddresses() throws {
        func limited(_ ip: String, exempting: Bool = true) throws -> String? {
            NumberServer.limitedAddress(try SocketAddress(ipAddress: ip, port: 1), exemptingLoopback: exempting)
        }
        #expect(try limited("10.1.2.3") == "10.1.2.3")
        #expect(try limited("::ffff:10.1.2.3") == "10.1.2.3")
        // A host picks its IPv6 addresses from its /64 at will: one key for all of them.
        #expect(try limited("2001:db8::1") == "2001:db8:0:0::/64")
        #expect(try limited("2001:db8:0:0:ffff:1:2:3") == "2001:db8:0:0::/64")
        #expect(try limited("2001:db8:0:1::1") == "2001:db8:0:1::/64")
        #expect(try limited("fe80::1") == "fe80:0:0:0::/64")
        #expect(try limited("127.0.0.1") == nil)
        #expect(try limited("127.9.9.9") == nil)
        #expect(try limited("::1") == nil)
        #expect(try limited("::ffff:127.0.0.1") == nil)
        #expect(try limited("127.0.0.1", exempting: false) == "127.0.0.1")
        #expect(NumberServer.limitedAddress(nil, exemptingLoopback: true) == nil)
    }
}
