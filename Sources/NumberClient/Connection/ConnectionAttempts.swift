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

    /// Set by `cancel()`: channels set up after it are closed at once.
    private let cancelled = NIOLockedValueBox(false)

    /// An attempt's channel is set up: `connection` over it, usable once `ready` succeeds. False when the connect
    /// was cancelled: the channel must not be used (its initializer fails, which fails the attempt).
    func record(_ connection: ClientConnection, ready: EventLoopFuture<Void>) -> Bool {
        // One lock for the flag and the table would make `cancel()` and `record` one order; two are fine because
        // `cancel()` sets the flag before it reads the table: a channel is either seen by it or sees the flag.
        made.withLockedValue { $0[ObjectIdentifier(connection.channel)] = (connection, ready) }
        return !cancelled.withLockedValue { $0 }
    }

    /// Cuts the connect short (the client is closing): closes the channels of the attempts set up so far, which
    /// fails them (in their TCP connect, TLS handshake or wait for the server's SETTINGS), and makes any set up later
    /// fail in their initializer.
    func cancel() {
        cancelled.withLockedValue { $0 = true }
        let channels = made.withLockedValue { made in made.values.map(\.connection.channel) }
        for channel in channels { channel.close(promise: nil) }
    }

    /// The connection over `channel`, the attempt that connected, and its readiness; the others are forgotten (NIO
    /// closes their channels). Nil if no attempt set `channel` up. The connection stays, for `cancel()` to close
    /// while its TLS handshake and the server's SETTINGS are awaited.
    func take(for channel: any Channel) -> (connection: ClientConnection, ready: EventLoopFuture<Void>)? {
        made.withLockedValue { made in
            let taken = made[ObjectIdentifier(channel)]
            made.removeAll()
            if let taken { made[ObjectIdentifier(channel)] = taken }
            return taken
        }
    }
}
