import Logging
import Metrics
import NIOCore
import NIOPosix
import NumberCore
import NumberTLS
import NumberWire
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The numberd RPC server: accepts TLS connections speaking nrpc/1 and runs each call's handler from `router`.
///
/// It is a ServiceLifecycle `Service`: `run()` serves until the task is cancelled or a graceful shutdown is
/// triggered, which sends GOAWAY on every connection, lets open calls finish (up to `drainTimeout`) and returns.
///
/// ```swift
/// let server = NumberServer(configuration: .defaults, tls: tlsContext, router: router, logger: logger)
/// let group = ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
/// try await group.run()
/// ```
public final class NumberServer: Service, Sendable {
    /// How connections are secured. Plaintext exists for in-process tests of the protocol only.
    public enum Transport: Sendable {
        /// TLS with this server context (ALPN `nrpc/1`).
        case tls(TLSContext)
        /// TLS with the context `reloadable` holds when a connection is accepted: replacing it (a renewed
        /// certificate) changes what new connections get; open ones keep theirs.
        case reloadableTLS(ReloadableTLSContext)
        /// No TLS. Never use outside tests.
        case plaintextForTesting
    }

    private let configuration: NumberServerConfiguration
    private let transport: Transport
    private let router: RPCRouter
    private let group: any EventLoopGroup
    private let logger: Logger
    private let metrics: ServerMetrics
    private let state = Mutex(State())
    private let boundAddress: EventLoopPromise<SocketAddress>

    private struct State {
        var connections: [ObjectIdentifier: NIOLoopBound<ServerConnectionHandler>] = [:]
        /// Connections open by remote address, for the addresses the per-address limit applies to (entries at zero
        /// are removed: at most one per open connection).
        var connectionsByAddress: [String: Int] = [:]
        /// Where the server is in its life: only ever forward (starting → serving → draining → stopped; a failed bind
        /// goes from starting to stopped).
        var phase = ServingState.starting
        /// Connections refused at `connectionsMax`, and at `connectionsPerAddressMax`, since the last line about them
        /// (``refusalLogInterval``).
        var refusals = ThrottledCount()
        var addressRefusals = ThrottledCount()
        /// The drain's force-close timer, while a drain runs: cancelled when `run()` returns, or it would hold the
        /// server (and through its router the service and the store) until it fired.
        var drainTimer: Scheduled<Void>?
        /// The listening socket ``bind()`` opened, until `run()` takes it or ``close()`` closes it.
        var listener = Listener.none

        /// Forgets an admitted connection.
        mutating func remove(_ key: ObjectIdentifier, address: String?) {
            connections.removeValue(forKey: key)
            guard let address, let open = connectionsByAddress[address] else { return }
            connectionsByAddress[address] = open > 1 ? open - 1 : nil
        }
    }

    /// The listening socket's owner.
    private enum Listener {
        /// Not bound yet: `run()` binds its own.
        case none
        /// Bound by ``bind()``, not accepting until `run()` takes it.
        case bound(NIOAsyncChannel<ConnectionHandle, Never>)
        /// `run()` serves it (and closes it when it ends).
        case taken
        /// ``close()`` closed it before any `run()`.
        case closed
    }

    /// Why a connection was not admitted, and how many such refusals to log now (nil: no line due).
    private enum Refusal {
        case draining
        case connectionsMax(log: Int?)
        case perAddress(log: Int?)
    }

    /// At most one line per this interval (10 s) about connections refused at `connectionsMax`, at
    /// `connectionsPerAddressMax` or for the budget of partially received frames (one series of lines each), with how
    /// many were refused since the last one: a flood at a limit must not flood the log too. The counters
    /// `numberd_connections_refused_total` (with `_per_address_total`) and `numberd_partial_frame_refusals_total`
    /// count each.
    static let refusalLogInterval = Duration.seconds(10)
    /// Bytes held in partially received frames, shared by every connection.
    private let partialFrames: ServerByteBudget
    /// The log lines any client can cause, budgeted across connections: a client that reconnects gets no new allowance.
    private let logBudgets = ServerLogBudgets()
    private let unsentReplies: ServerByteBudget

    /// Creates a server; nothing happens until ``bind()`` or `run()`. Its metrics are made by `metricsFactory`
    /// (default: the backend the process bootstrapped), every counter's series at 0 from the start.
    public init(
        configuration: NumberServerConfiguration, transport: Transport, router: RPCRouter,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
        metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metrics = ServerMetrics(factory: metricsFactory)
        self.configuration = configuration
        self.transport = transport
        self.router = router
        self.group = group
        self.logger = logger
        self.boundAddress = group.any().makePromise(of: SocketAddress.self)
        self.partialFrames = ServerByteBudget(limit: configuration.connection.partialFrameBytesMax)
        self.unsentReplies = ServerByteBudget(
            limit: configuration.connection.unsentReplyBytesMax,
            freePerConnection: configuration.connection.writeBufferBytesMax)
    }

    deinit {
        // A server made but never run (a caller that prepared numberd and closed it) still settles the promise, which
        // NIO would otherwise report as leaked; after `run()` bound or failed this does nothing.
        boundAddress.fail(ChannelError.ioOnClosedChannel)
    }

    /// The address the server listens on, once ``bind()`` or `run()` has bound it (useful with port 0).
    public func listeningAddress() async throws -> SocketAddress {
        try await boundAddress.futureResult.get()
    }

    /// Where the server is in its life, for readiness probes.
    public enum ServingState: String, Sendable, Hashable {
        /// `run()` has not started serving yet (its address may be bound: ``bind()``).
        case starting
        /// Listening and taking connections.
        case serving
        /// A graceful shutdown began: no new connections, open calls finishing.
        case draining
        /// `run()` ended (or could not bind).
        case stopped
    }

    /// Where the server is now: serving only while it listens and is not draining.
    public var servingState: ServingState {
        state.withLock { state in
            state.phase
        }
    }

    /// Connections open now: accepted and admitted, and not yet closed with their calls finished.
    package var connectionCount: Int {
        state.withLock { $0.connections.count }
    }

    /// Connections open now from `address` (as ``limitedAddress(_:exemptingLoopback:)`` writes it), counted for the
    /// per-address limit: 0 for an exempt (loopback) address.
    package func connectionCount(from address: String) -> Int {
        state.withLock { $0.connectionsByAddress[address] ?? 0 }
    }

    /// The remote address as the per-address connection limit counts it: its IPv4 address (an IPv4-mapped IPv6 one as
    /// the IPv4 one), an IPv6 address's /64 network (`2001:db8:0:1::/64`: one host, one LAN, is given a whole /64 and
    /// picks its addresses from it at will, so counting single IPv6 addresses limited nothing), or nil when the limit
    /// does not apply: loopback (127.0.0.0/8, ::1, unless `exemptingLoopback` is false: tests), a Unix socket, an
    /// unknown address.
    package static func limitedAddress(_ address: SocketAddress?, exemptingLoopback: Bool) -> String? {
        guard var ip = address?.ipAddress else { return nil }
        if ip.hasPrefix("::ffff:"), ip.contains(".") { ip.removeFirst("::ffff:".count) }
        if exemptingLoopback, ip.hasPrefix("127.") || ip == "::1" { return nil }
        guard ip.contains(":") else { return ip }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, ip, &bytes) == 1 else { return ip }
        let prefix = withUnsafeBytes(of: &bytes) { raw in
            stride(from: 0, to: 8, by: 2).map { String(UInt16(raw[$0]) << 8 | UInt16(raw[$0 + 1]), radix: 16) }
        }
        return prefix.joined(separator: ":") + "::/64"
    }

    /// Bytes held in partially received frames across connections now (``ServerByteBudget``).
    package var partialFrameBytes: Int {
        partialFrames.heldBytes
    }

    /// Reply bytes written to connections and not taken by their clients, beyond each one's allowance, now
    /// (``NumberServerConfiguration/ConnectionLimits/unsentReplyBytesMax``).
    package var unsentReplyBytes: Int {
        unsentReplies.heldBytes
    }

    /// Binds the listening address now and returns it, accepting nothing until `run()` (the kernel queues
    /// connections meanwhile, up to the backlog): a caller can fail its start on a taken port before it does anything
    /// else, and have `run()` serve that socket. Throws the bind's error (the server is then stopped); call it at most
    /// once, before `run()`. A server bound and never run must be closed (``close()``).
    @discardableResult
    public func bind() async throws -> SocketAddress {
        let channel = try await listen()
        state.withLock { $0.listener = .bound(channel) }
        return channel.channel.localAddress!
    }

    /// Closes the socket ``bind()`` opened when no `run()` took it (a start that failed after binding, a server
    /// prepared and never run); does nothing otherwise (`run()` closes its own).
    public func close() async {
        let bound = state.withLock { state -> NIOAsyncChannel<ConnectionHandle, Never>? in
            guard case .bound(let channel) = state.listener else { return nil }
            state.listener = .closed
            state.phase = .stopped
            return channel
        }
        try? await bound?.executeThenClose { _ in }
    }

    /// Binds the configured address, taking no connection until `autoRead` is set (`run()`); settles
    /// ``listeningAddress()`` either way.
    private func listen() async throws -> NIOAsyncChannel<ConnectionHandle, Never> {
        let channel: NIOAsyncChannel<ConnectionHandle, Never>
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.autoRead, value: false)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                // Past the high mark a connection stops reading (ServerConnectionHandler) until below the low one.
                .childChannelOption(
                    .writeBufferWaterMark,
                    value: .init(
                        low: configuration.connection.writeBufferBytesMax / 2,
                        high: configuration.connection.writeBufferBytesMax)
                )
                // Each connection keeps its receive buffer between reads: start it small (it grows with the
                // traffic) so ten thousand idle connections do not hold 2 KiB each.
                .childChannelOption(
                    .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536)
                )
                .bind(host: configuration.host, port: configuration.port) { child in
                    child.eventLoop.makeCompletedFuture { try self.configure(child) }
                }
        } catch {
            state.withLock { $0.phase = .stopped }
            boundAddress.fail(error)
            throw error
        }
        boundAddress.succeed(channel.channel.localAddress!)
        return channel
    }

    /// Serves until cancelled or gracefully shut down: the socket ``bind()`` opened, else one it binds now.
    public func run() async throws {
        let listener = state.withLock { state -> Listener in
            let listener = state.listener
            if case .bound = listener { state.listener = .taken }
            return listener
        }
        let channel: NIOAsyncChannel<ConnectionHandle, Never>
        switch listener {
        case .bound(let bound):
            channel = bound
        case .closed, .taken:
            throw ChannelError.ioOnClosedChannel
        case .none:
            channel = try await listen()
        }
        defer {
            let timer = state.withLock { state in
                state.phase = .stopped
                defer { state.drainTimer = nil }
                return state.drainTimer
            }
            timer?.cancel()
        }
        // Serving before the first connection is read: one queued since `bind()` (or accepted the moment reading
        // starts) was answered NOT_SERVING by HealthCheck while the phase still said starting.
        state.withLock { $0.phase = .serving }
        do {
            try await channel.channel.setOption(.autoRead, value: true).get()
        } catch {
            try? await channel.executeThenClose { _ in }
            throw error
        }
        let address = channel.channel.localAddress!
        logger.info("listening", metadata: ["address": "\(address)"])

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                try await channel.executeThenClose { connections in
                    for try await connection in connections {
                        tasks.addTask { await connection.serve() }
                    }
                }
            }
        } onGracefulShutdown: {
            self.beginDraining(serverChannel: channel.channel)
        }
        logger.info("stopped")
    }

    /// Stops accepting, sends GOAWAY everywhere, and closes what is still open after the drain timeout.
    private func beginDraining(serverChannel: any Channel) {
        let connections = state.withLock { state in
            if state.phase != .stopped { state.phase = .draining }
            return Array(state.connections.values)
        }
        logger.info("draining", metadata: ["connections": "\(connections.count)"])
        serverChannel.close(promise: nil)
        for connection in connections {
            connection.eventLoop.execute { connection.value.drain() }
        }
        let timeout = configuration.drainTimeout
        let loop = group.any()
        state.withLock { state in
            // Not after `run()` returned (it cancels the timer), nor twice.
            guard state.phase == .draining, state.drainTimer == nil else { return }
            state.drainTimer = loop.scheduleTask(in: timeout) { [self] in
                let left = self.state.withLock { Array($0.connections.values) }
                for connection in left {
                    connection.eventLoop.execute { connection.value.forceClose() }
                }
            }
        }
    }

    /// Builds one connection's pipeline (on its event loop) and returns the handle its task serves.
    private func configure(_ channel: any Channel) throws -> ConnectionHandle {
        let (calls, continuation) = AsyncStream.makeStream(of: ServerCall.self)
        let limits = configuration.connection
        let handler = ServerConnectionHandler(
            limits: .init(
                settings: limits.settings, pingsBetweenCallsMax: limits.pingsBetweenCallsMax,
                settingsBetweenCallsMax: limits.settingsBetweenCallsMax,
                cancelsBetweenCompletionsMax: limits.cancelsBetweenCompletionsMax,
                failedAuthenticationsMax: limits.failedAuthenticationsMax, budgetRenewal: limits.budgetRenewalInterval),
            timeouts: .init(
                settings: limits.settingsTimeout, requestArrival: limits.requestArrivalTimeout,
                frameArrival: limits.frameArrivalTimeout,
                idle: .milliseconds(Int64(limits.settings.idleTimeoutMilliseconds)),
                goAwayFlush: limits.goAwayFlushTimeout),
            router: router, calls: continuation, logger: logger, metrics: metrics,
            unflushedBytesMax: limits.writeBufferBytesMax, partialFrames: partialFrames, unsentReplies: unsentReplies,
            logBudgets: logBudgets)
        let key = ObjectIdentifier(handler)
        let address = Self.limitedAddress(channel.remoteAddress, exemptingLoopback: limits.loopbackExempt)
        // Checked and taken under one lock: connections accepted on two event loops at once cannot both take the
        // last slot, and one accepted while a drain starts is either refused or in the list the drain sends GOAWAY to.
        let refusal = state.withLock { state -> Refusal? in
            if state.phase == .draining || state.phase == .stopped { return .draining }
            guard state.connections.count < limits.connectionsMax else {
                return .connectionsMax(log: state.refusals.note(now: .now, interval: Self.refusalLogInterval))
            }
            if let address {
                guard state.connectionsByAddress[address, default: 0] < limits.connectionsPerAddressMax else {
                    return .perAddress(log: state.addressRefusals.note(now: .now, interval: Self.refusalLogInterval))
                }
                state.connectionsByAddress[address, default: 0] += 1
            }
            state.connections[key] = NIOLoopBound(handler, eventLoop: channel.eventLoop)
            return nil
        }
        if let refusal {
            // Closed before the TLS handshake: a handshake (and a GOAWAY after it) for every connection over the limit
            // would spend on a flood the CPU the limit protects. The client sees a connection that ended before the
            // server's SETTINGS, which carried nothing and may be tried again (FRAMING.md §2).
            metrics.connectionsRefused.increment()
            switch refusal {
            case .draining:
                break
            case .connectionsMax(let log):
                if let log {
                    logger.warning(
                        "connections refused: connection limit reached",
                        metadata: ["connections_max": "\(limits.connectionsMax)", "refused": "\(log)"])
                }
            case .perAddress(let log):
                metrics.connectionsRefusedPerAddress.increment()
                if let log {
                    logger.warning(
                        "connections refused: per-address connection limit reached",
                        metadata: [
                            "connections_per_address_max": "\(limits.connectionsPerAddressMax)",
                            "address": "\(address ?? "")", "refused": "\(log)",
                        ])
                }
            }
            continuation.finish()
            channel.close(promise: nil)
            return ConnectionHandle(calls: calls, onFinish: {})
        }
        do {
            let pipeline = channel.pipeline.syncOperations
            switch transport {
            case .tls(let context): try pipeline.addTLSServerHandler(context: context)
            case .reloadableTLS(let reloadable): try pipeline.addTLSServerHandler(context: reloadable.current)
            case .plaintextForTesting: break
            }
            try pipeline.addHandler(handler)
        } catch {
            state.withLock { $0.remove(key, address: address) }
            continuation.finish()
            throw error
        }
        metrics.connections.increment(by: 1)
        return ConnectionHandle(calls: calls) { [self] in
            self.state.withLock { $0.remove(key, address: address) }
            self.metrics.connections.decrement(by: 1)
        }
    }
}

/// One accepted connection as the server's task group sees it: a queue of calls to run.
struct ConnectionHandle: Sendable {
    let calls: AsyncStream<ServerCall>
    let onFinish: @Sendable () -> Void

    /// Runs every call of the connection as a child task; returns when the connection has closed and its calls
    /// have finished.
    func serve() async {
        await withDiscardingTaskGroup { group in
            for await call in calls {
                group.addTask { await call.run() }
            }
        }
        onFinish()
    }
}
