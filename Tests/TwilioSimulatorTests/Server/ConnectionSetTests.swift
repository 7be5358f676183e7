import NIOCore
import NIOPosix
import Testing

@testable import TwilioSimulator

/// `ConnectionSet` at `connectionsMax`: a newcomer takes the place of the oldest connection that never sent the
/// account's credentials, which is closed; when every open connection has sent them, the newcomer is refused.
@Suite struct ConnectionSetTests {
    /// Listening sockets on 127.0.0.1 stand in for connections: the set only tracks and closes channels.
    private static func channels(_ count: Int) async throws -> [any Channel] {
        var channels: [any Channel] = []
        for _ in 0..<count {
            channels.append(
                try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .bind(host: "127.0.0.1", port: 0).get())
        }
        return channels
    }

    @Test func aFullSetEvictsTheOldestUnauthenticatedConnectionElseRefuses() async throws {
        let channels = try await Self.channels(5)
        let connections = ConnectionSet()
        for channel in channels.prefix(3) { #expect(connections.admit(channel, max: 3) == .admitted) }
        connections.markAuthenticated(channels[0])
        // channels[1] is the oldest that never authenticated: it is closed to make room for channels[3].
        #expect(connections.admit(channels[3], max: 3) == .admitted)
        try await channels[1].closeFuture.get()
        #expect(connections.count == 3)
        #expect(connections.evictedCount == 1 && connections.refusedCount == 0)
        #expect(channels[0].isActive && channels[2].isActive && channels[3].isActive)
        // With every open connection authenticated, the newcomer is refused and nothing is closed.
        connections.markAuthenticated(channels[2])
        connections.markAuthenticated(channels[3])
        #expect(connections.admit(channels[4], max: 3) == .full)
        #expect(connections.count == 3)
        #expect(connections.evictedCount == 1 && connections.refusedCount == 1)
        #expect(channels[0].isActive && channels[2].isActive && channels[3].isActive)
        for channel in channels { try? await channel.close() }
    }
}
