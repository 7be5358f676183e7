import NIOConcurrencyHelpers
import NIOCore

/// The connections made by the attempts of one connect, each under its own channel. NIO's Happy Eyeballs tries a
/// host's addresses side by side, running the channel initializer once per attempt, and hands back the channel that
/// connected first: its connection is the one whose channel that is. (One shared slot would hold the connection of
/// whichever attempt started last: a loser's, closed by NIO, failing the connect and orphaning the winner's channel.)
final class ConnectionAttempts: Sendable {
    private let made = NIOLockedValueBox<
        [ObjectIdentifier: (connection: ClientConnection, ready: EventLoopFuture<Void>)]
    >(
        [:])

    /// An attempt's channel is set up: `connection` over it, usable once `ready` succeeds.
    func record(_ connection: ClientConnection, ready: EventLoopFuture<Void>) {
        made.withLockedValue { $0[ObjectIdentifier(connection.channel)] = (connection, ready) }
    }

    /// The connection over `channel`, the attempt that connected, and its readiness; the others are forgotten (NIO
    /// closes their channels). Nil if no attempt set `channel` up.
    func take(for channel: any Channel) -> (connection: ClientConnection, ready: EventLoopFuture<Void>)? {
        made.withLockedValue { made in
            defer { made.removeAll() }
            return made[ObjectIdentifier(channel)]
        }
    }
}
