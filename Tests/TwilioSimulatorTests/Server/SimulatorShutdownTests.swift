import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import TwilioSimulator

@Suite struct SimulatorShutdownTests {
    /// A connection the listener accepted before `shutdown` closed it, but whose set-up ran on its own event loop only
    /// after `shutdown` had closed the open ones, is closed too, never served. The event loop the accepted
    /// connections are handed to is held while they are accepted and while `shutdown` runs, which makes the late
    /// set-up certain. (SwiftNIO's accept handler closes such a connection itself, as the listener is closed by
    /// then; `ConnectionSet` refuses it as well: `aDrainedSetAdmitsNothing`.)
    @Test func aConnectionSetUpAfterShutdownIsClosed() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.connectionIdleTimeoutMilliseconds = 600_000  // no idle close can be taken for this one
        let sim = try await TwilioSimulator.start(
            configuration: configuration, eventLoopGroup: group, clock: { Date() }, fileOperations: .system)
        let listenerLoop = sim.channel.eventLoop
        let held = try #require(group.makeIterator().first { $0 !== listenerLoop })
        let entered = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        held.execute {
            entered.signal()
            release.wait()
        }
        entered.wait()
        defer { release.signal() }  // whatever happens: a held loop would hang the group's shutdown

        var clients: [RawConnection] = []
        for _ in 0..<8 { clients.append(try await RawConnection.open(port: sim.port)) }
        // Accepted by the listener's loop at once; those handed to `held` wait there. Give the accepts time.
        let end = ContinuousClock.now + .seconds(30)
        while sim.openConnections < 1, ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        try await Task.sleep(for: .milliseconds(500))
        let admittedBeforeShutdown = sim.openConnections
        try await sim.shutdown()
        release.signal()
        // Connections are handed to the two loops in turn: some waited on the held one (else the race was not run).
        try #require(admittedBeforeShutdown < clients.count, "no connection waited for its set-up")

        let request =
            "GET /trunking/v1/Trunks HTTP/1.1\r\nHost: x\r\nAuthorization: \(sim.authorization)\r\n\r\n"
        for client in clients {
            try? await client.send(request)
            let outcome = await client.waitForClose(cutOff: .seconds(20))
            #expect(outcome.closedByServer, "a connection set up after shutdown stayed open")
            #expect(!outcome.text.contains("HTTP/1.1"), "answered after shutdown: \(outcome.text)")
        }
        #expect(sim.openConnections == 0)
        try await group.shutdownGracefully()
    }

    /// Once drained (by `shutdown`), the set admits no connection: one admitted after the drain would be closed by
    /// nothing the simulator does.
    @Test func aDrainedSetAdmitsNothing() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let connections = ConnectionSet()
        #expect(connections.admit(channel, max: 1) == .admitted)
        // Authenticated, so that it keeps its place rather than give it to the newcomer.
        connections.markAuthenticated(channel)
        #expect(connections.admit(channel, max: 1) == .full)
        #expect(connections.drain().count == 1)
        #expect(connections.admit(channel, max: 1) == .closed)
        #expect(connections.count == 0)
        #expect(connections.refusedCount == 1)
        try await channel.close()
    }

    /// The open connections are closed even when the listener is closed already: `channel.close()` then threw
    /// `alreadyClosed` before the drain, so a keep-alive connection went on serving until its idle timeout, and
    /// every later `shutdown()` threw the same. A second `shutdown()` does nothing and does not throw.
    @Test func aShutdownAfterTheListenerClosedStillClosesTheConnections() async throws {
        var configuration = SimulatorConfiguration.defaults
        configuration.limits.connectionIdleTimeoutMilliseconds = 600_000
        let sim = try await TwilioSimulator.start(
            configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, clock: { Date() },
            fileOperations: .system)
        let client = try await RawConnection.open(port: sim.port)
        let request = "GET /trunking/v1/Trunks HTTP/1.1\r\nHost: x\r\nAuthorization: \(sim.authorization)\r\n\r\n"
        try await client.send(request)
        #expect(try await client.waitForResponses(1).hasPrefix("HTTP/1.1 200"))
        #expect(sim.openConnections == 1)

        // The listener closes first (as a shutdown whose drain did not run left it).
        try await sim.channel.close()
        try await sim.shutdown()
        let outcome = await client.waitForClose(cutOff: .seconds(20))
        #expect(outcome.closedByServer, "a keep-alive connection outlived the shutdown")
        #expect(sim.openConnections == 0)
        try await sim.shutdown()
    }
}
