import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// ``freeLoopbackPort()`` found no port it could bind.
public struct LoopbackPortError: Error, CustomStringConvertible {
    public var description: String { "bind() of a loopback port failed" }
}

/// A free TCP port on 127.0.0.1 (bound and released; numberd binds it with SO_REUSEADDR across restarts), below the
/// kernel's ephemeral range when there is room: a port from that range (what binding port 0 gives) can be handed to
/// another test's listener or connection in this process while a child is down, and the restarted child then could
/// not listen on it (or a stranger accepted its readiness probe). Never one handed out before in this run: two tests
/// drawing the same port before either child listened both passed the bind check, and one test's client reached the
/// other's numberd (a certificate from another CA).
public func freeLoopbackPort() throws -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    let ephemeralLow = range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
    let low = 10_000
    return try handedOutPorts.withLock { handedOut in
        if ephemeralLow > low + 1000 {
            for _ in 0..<100 {
                let candidate = Int.random(in: low..<ephemeralLow)
                guard !handedOut.contains(candidate), let port = bindLoopback(port: candidate) else { continue }
                handedOut.insert(port)
                return port
            }
        }
        guard let port = bindLoopback(port: 0) else { throw LoopbackPortError() }
        handedOut.insert(port)
        return port
    }
}

/// Ports ``freeLoopbackPort()`` handed out in this run.
private let handedOutPorts = Mutex(Set<Int>())

/// Binds a TCP socket to 127.0.0.1:`port` (0: any) and closes it; the port bound, nil if the bind failed.
private func bindLoopback(port: Int) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var address = loopbackAddress(port: port)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            bind(fd, address, length) == 0 && getsockname(fd, address, &length) == 0
        }
    }
    return bound ? Int(UInt16(bigEndian: address.sin_port)) : nil
}

/// 127.0.0.1:`port` (0: any) as a socket address.
public func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return address
}
