import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP relay on 127.0.0.1 in front of a server, for one connection, on a thread of its own: it tells when it
/// accepted the client's connection, when the server's first bytes (TLS 1.3: its whole handshake flight) were handed
/// to the client, and when the client first answered them (its Finished) — between the first and the last, the
/// client's TLS library makes its ClientHello and then works on the server's flight (verifying the certificate chain
/// and signature, deriving keys).
final class HandshakeRelay: Sendable {
    /// Where the client connects.
    let port: Int
    private let listener: Int32

    /// When the relayed connection's events happened.
    struct Timing: Sendable {
        /// The client's connection was accepted.
        var accepted: ContinuousClock.Instant?
        /// The server's first bytes were written to the client; nil if none came.
        var flightDelivered: ContinuousClock.Instant?
        /// The client's first bytes after those; nil if none came.
        var clientAnswered: ContinuousClock.Instant?

        /// From the connection's accept to the client's answer to the server's flight (its whole handshake but the
        /// server's answer: the ClientHello's key shares, the flight's verification); nil if it never answered.
        var clientHandshake: Duration? {
            guard let accepted, let clientAnswered else { return nil }
            return clientAnswered - accepted
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Listens on a port of the kernel's choosing (only this relay's client is told it).
    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw Failure(description: "bind/listen on 127.0.0.1: errno \(errno)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(listener) }

    /// Accepts one connection (waiting at most `timeout`), connects it to 127.0.0.1:`target` and relays both ways
    /// until both sides have closed or `timeout` has passed since the accept; `accepted` runs on the relay's thread
    /// right after the accept.
    func relayOne(
        to target: Int, timeout: Duration = .seconds(60), accepted: @escaping @Sendable () -> Void
    ) async throws -> Timing {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { [self] in
                continuation.resume(
                    with: Result { try relay(to: target, timeout: timeout, accepted: accepted) })
            }
        }
    }

    private func relay(to target: Int, timeout: Duration, accepted: () -> Void) throws -> Timing {
        var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&waiting, 1, Int32(timeout / .milliseconds(1))) == 1 else {
            throw Failure(description: "no client connected within \(timeout)")
        }
        let client = accept(listener, nil, nil)
        guard client >= 0 else { throw Failure(description: "accept: errno \(errno)") }
        // One connection only: another (a client connecting again) is refused at once, not left in the backlog.
        shutdown(listener, Int32(SHUT_RDWR))
        defer { close(client) }
        var timing = Timing(accepted: .now)
        accepted()
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard server >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(server) }
        var address = loopbackAddress(port: target)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else { throw Failure(description: "connect to port \(target): errno \(errno)") }
        var open = (client: true, server: true)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let end = ContinuousClock.now + timeout
        while open.client || open.server, ContinuousClock.now < end {
            var fds = [
                pollfd(fd: open.client ? client : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: open.server ? server : -1, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&fds, 2, 100) >= 0 || errno == EINTR else { throw Failure(description: "poll: errno \(errno)") }
            if fds[0].revents != 0 {
                open.client = Self.pass(from: client, to: server, buffer: &buffer)
                if timing.flightDelivered != nil, timing.clientAnswered == nil, open.client {
                    timing.clientAnswered = .now
                }
            }
            if fds[1].revents != 0 {
                open.server = Self.pass(from: server, to: client, buffer: &buffer)
                if timing.flightDelivered == nil, open.server { timing.flightDelivered = .now }
            }
        }
        return timing
    }

    /// Moves what `source` has to `destination`; false (and `destination`'s sending side shut) once `source` ended
    /// or either failed.
    private static func pass(from source: Int32, to destination: Int32, buffer: inout [UInt8]) -> Bool {
        let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
        guard count > 0 else {
            shutdown(destination, Int32(SHUT_WR))
            return false
        }
        var written = 0
        while written < count {
            let result = buffer.withUnsafeBytes {
                send(destination, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL))
            }
            guard result > 0 else {
                shutdown(destination, Int32(SHUT_WR))
                return false
            }
            written += result
        }
        return true
    }
}
