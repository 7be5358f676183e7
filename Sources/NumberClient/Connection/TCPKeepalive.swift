import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's part in noticing a dead connection (``NumbersClientConfiguration/LivenessPolicy``), as the socket
/// options every client socket gets: keepalive probes on an idle connection, and a bound on how long sent data or
/// probes may go unacknowledged (Linux; elsewhere only `SO_KEEPALIVE`, with the system's timings).
struct TCPKeepalive {
    /// The options, in the order they are set.
    let options: [(option: ChannelOptions.Types.SocketOption, value: SocketOptionValue)]

    /// The options `policy` asks for.
    init(_ policy: NumbersClientConfiguration.LivenessPolicy) {
        var options: [(option: ChannelOptions.Types.SocketOption, value: SocketOptionValue)] = []
        if let idle = policy.tcpKeepaliveIdle {
            options.append((ChannelOptions.Types.SocketOption(level: .socket, name: .so_keepalive), 1))
            #if os(Linux)
            options.append((Self.tcp(TCP_KEEPIDLE), Self.wholeSeconds(idle)))
            options.append((Self.tcp(TCP_KEEPINTVL), Self.wholeSeconds(policy.tcpKeepaliveInterval)))
            #endif
        }
        #if os(Linux)
        if let userTimeout = policy.tcpUserTimeout {
            let milliseconds = (userTimeout.nanoseconds + 999_999) / 1_000_000
            options.append((Self.tcp(TCP_USER_TIMEOUT), SocketOptionValue(clamping: max(1, milliseconds))))
        }
        #endif
        self.options = options
    }

    /// `bootstrap`, setting these options on every socket it makes.
    func apply(to bootstrap: ClientBootstrap) -> ClientBootstrap {
        options.reduce(bootstrap) { $0.channelOption($1.option, value: $1.value) }
    }

    /// A TCP-level option by its number.
    private static func tcp(_ name: Int32) -> ChannelOptions.Types.SocketOption {
        ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: name))
    }

    /// `amount` in whole seconds, rounded up, at least 1 (the kernel's unit and minimum for keepalive timings).
    private static func wholeSeconds(_ amount: TimeAmount) -> SocketOptionValue {
        SocketOptionValue(clamping: max(1, (amount.nanoseconds + 999_999_999) / 1_000_000_000))
    }
}
