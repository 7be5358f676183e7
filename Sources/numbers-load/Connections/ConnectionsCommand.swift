import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import NumberAPI
import NumberTLS
import NumberWire
import Synchronization

/// `numbers-load connections`: opens many nrpc/1 connections (full TLS handshakes, no resumption) as fast as the
/// server takes them, holds them idle, and reports the handshake rate and the server's memory per connection.
struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "New TLS connections per second, then idle connections held.")

    @OptionGroup var target: TargetOptions
    @Option(parsing: .unconditional, help: "Connections to open and hold (1...100000).") var count = 10_000
    @Option(parsing: .unconditional, help: "Connection attempts in parallel (1...1024).") var concurrency = 32
    @Option(parsing: .unconditional, help: "Seconds to hold them idle (0...280, below the server's idle timeout).")
    var hold: Double = 5
    @Option(
        name: .customLong("open-timeout"), parsing: .unconditional,
        help: """
            Seconds to open them in all (1...3600, default 120): no attempt starts later and none runs past it; \
            those not made count as not established.
            """)
    var openTimeout: Double = 120
    @Option(
        name: .customLong("server-pid"), parsing: .unconditional,
        help: "The server process, for its RSS before and after.")
    var serverPID: Int32?
    @Option(name: .customLong("json-report"), help: "Write the report as JSON to this file.") var jsonReport: String?

    func validate() throws {
        guard (1...100_000).contains(count) else { throw ValidationError("--count must be 1...100000") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1...1024") }
        guard (0...280).contains(hold) else { throw ValidationError("--hold must be 0...280") }
        guard (1...3600).contains(openTimeout) else { throw ValidationError("--open-timeout must be 1...3600") }
        // As `run` does: a process whose RSS cannot be read now is refused, not found missing in the report.
        if let serverPID, ProcessStatus.residentMiB(pid: serverPID) == nil {
            throw ValidationError("--server-pid \(serverPID): its RSS cannot be read (no such process?)")
        }
        _ = try target.address()
        _ = try target.clientCertificate()
    }

    struct Report: Codable {
        var requested: Int
        var fileDescriptorLimit: Int
        var established: Int
        var failed: Int
        /// Connections never attempted: `--open-timeout` passed first.
        var notAttempted: Int
        var failures: [String: Int]
        var seconds: Double
        var handshakesPerSecond: Double
        var handshakeLatencyMicros: LoadReport.Latency
        var stillOpenAfterHold: Int
        var serverRSSBeforeMiB: Double?
        var serverRSSHeldMiB: Double?
        var serverKiBPerConnection: Double?
        /// The signal (SIGINT, SIGTERM, SIGHUP) that cut the opening or the hold short, nil when none did: the figures
        /// are those of what was done until then, and the exit status 128 + its number.
        var interruptedBySignal: Int32?

        /// Why the run did not open and hold what was asked (exit ``LoadExitStatus/noFigure``), nil when it did:
        /// fewer connections established than requested (the server down showed "0 established of 10000" and exited
        /// 0), or fewer still open after the hold than established.
        var failure: String? {
            if established < requested {
                return "\(established) of the \(requested) connections requested were established"
            }
            if stillOpenAfterHold < established {
                return "\(established - stillOpenAfterHold) of the \(established) connections closed while held"
            }
            return nil
        }

        /// The server's RSS growth per connection (KiB) over the connections still open when `held` was read: those
        /// that closed during the hold hold nothing. Nil without both readings or without an open connection.
        static func kibPerConnection(rssBefore: Double?, rssHeld: Double?, open: Int) -> Double? {
            guard let rssBefore, let rssHeld, open > 0 else { return nil }
            return (rssHeld - rssBefore) * 1024 / Double(open)
        }
    }

    func run() async throws {
        // As `run` does: past the open-files limit, with room kept for the process's own descriptors, connects fail
        // (EMFILE). It opened fewer than --count without failing.
        let limit = OpenFilesLimit.raiseToHard()
        try RunLoad.checkConnections(count, openFilesLimit: limit, flag: "--count")
        if let jsonReport { try ReportFile.prepare(jsonReport) }
        var tls = TLSConfiguration.client(trustRoots: .file(try target.caPath()))
        tls.applicationProtocols = ["nrpc/1"]
        if let certificate = try target.clientCertificate() {
            tls.certificateChain = certificate.chain
            tls.privateKey = certificate.key
        }
        let context = try TLSContext(configuration: tls)
        let (host, port) = try target.address()
        let rssBefore = serverPID.flatMap(ProcessStatus.residentMiB(pid:))
        let opener = ConnectionOpener(host: host, port: port, context: context)
        // The first SIGINT, SIGTERM or SIGHUP ends the opening (no attempt starts after it; those under way end) or
        // the hold: the figures of what was done are printed and written, marked. Killed outright, the run printed
        // nothing of a long opening or hold.
        Interruption.shared.install()
        let (openTimeout, count, concurrency, hold) = (self.openTimeout, self.count, self.concurrency, self.hold)
        let openAndHold = Task {
            let start = NIODeadline.now()
            let result = await opener.open(
                count: count, concurrency: concurrency, until: start + .nanoseconds(Int64(openTimeout * 1e9)))
            let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
            if result.notAttempted > 0, !Task.isCancelled {
                log("--open-timeout \(openTimeout) s passed: \(result.notAttempted) connections not attempted")
            }
            log("established \(result.channels.count) connections in \(String(format: "%.2f", seconds)) s; holding")
            try? await Task.sleep(nanoseconds: UInt64(hold * 1e9))
            return (result, seconds)
        }
        Interruption.shared.onFirstSignal { openAndHold.cancel() }
        let (result, seconds) = await openAndHold.value
        if let signal = Interruption.shared.firstSignal {
            log("interrupted (signal \(signal)): reporting what was done")
        }
        let open = result.channels.filter(\.isActive).count
        let rssHeld = serverPID.flatMap(ProcessStatus.residentMiB(pid:))
        for channel in result.channels { channel.close(promise: nil) }
        let report = Report(
            requested: count, fileDescriptorLimit: limit, established: result.channels.count,
            failed: result.failures.values.reduce(0, +), notAttempted: result.notAttempted, failures: result.failures,
            seconds: seconds, handshakesPerSecond: Double(result.channels.count) / seconds,
            handshakeLatencyMicros: LoadReport.Latency(result.latency), stillOpenAfterHold: open,
            serverRSSBeforeMiB: rssBefore, serverRSSHeldMiB: rssHeld,
            serverKiBPerConnection: Report.kibPerConnection(rssBefore: rssBefore, rssHeld: rssHeld, open: open),
            interruptedBySignal: Interruption.shared.firstSignal)
        print(summary(report))
        if let jsonReport {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: jsonReport))
        }
        if let interrupted = Interruption.shared.exitCode { throw ExitCode(interrupted) }
        if let failure = report.failure {
            log(failure)
            throw ExitCode(LoadExitStatus.noFigure)
        }
    }

    private func summary(_ report: Report) -> String {
        var lines = [
            "connections: \(report.established) established of \(report.requested) requested "
                + "(fd limit \(report.fileDescriptorLimit)), \(report.failed) failed"
                + (report.notAttempted > 0 ? ", \(report.notAttempted) not attempted within --open-timeout" : ""),
            String(
                format: "new TLS connections (full handshake + nrpc/1 SETTINGS): %.1f /s", report.handshakesPerSecond)
                + "; latency p50 \(Format.micros(report.handshakeLatencyMicros.p50)) p99 "
                + "\(Format.micros(report.handshakeLatencyMicros.p99)) max \(Format.micros(report.handshakeLatencyMicros.max))",
            report.interruptedBySignal == nil
                ? "still open after holding \(hold) s: \(report.stillOpenAfterHold)"
                : "still open when interrupted: \(report.stillOpenAfterHold)",
        ]
        if let signal = report.interruptedBySignal {
            lines.insert("interrupted by signal \(signal): the figures of what was done until then", at: 0)
        }
        if !report.failures.isEmpty {
            lines.append("failures: " + report.failures.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let before = report.serverRSSBeforeMiB, let held = report.serverRSSHeldMiB {
            lines.append(
                String(format: "server RSS: %.1f MiB before, %.1f MiB holding them", before, held)
                    + (report.serverKiBPerConnection.map { String(format: " (%.1f KiB per connection open)", $0) }
                        ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}

/// Opens connections with a fixed number of attempts in flight.
struct ConnectionOpener {
    let host: String
    let port: Int
    let context: TLSContext
    /// Per-connection set-up bound (connect + handshake + SETTINGS): 10 s (a test sets it longer).
    var establishTimeout = TimeAmount.seconds(10)

    struct Result {
        var channels: [any Channel] = []
        var failures: [String: Int] = [:]
        /// Connections of the `count` asked for that no attempt was made for: the deadline passed first.
        var notAttempted = 0
        var latency = LatencyRecorder.makeHistogram()
    }

    /// Opens `count` connections, `concurrency` attempts at once, until `deadline` (`--open-timeout`): no attempt
    /// starts after it and none runs past it. Each attempt has 10 s in all (connect, handshake and the server's
    /// SETTINGS), and had them whatever the rest took: a server that accepted and never answered held 10,000
    /// connections at 32 at once for 52 minutes.
    func open(count: Int, concurrency: Int, until deadline: NIODeadline = .distantFuture) async -> Result {
        let next = SharedCounter()
        return await withTaskGroup(of: Result.self) { group in
            for _ in 0..<min(concurrency, max(1, count)) {
                group.addTask {
                    var result = Result()
                    // Cancelled (the run interrupted): no attempt starts; those it cut short count as not attempted.
                    while !Task.isCancelled, next.value.add(1, ordering: .relaxed).oldValue < count {
                        let start = NIODeadline.now()
                        let attemptDeadline = min(start + establishTimeout, deadline)
                        guard attemptDeadline > start else { break }
                        do {
                            result.channels.append(try await openOne(until: attemptDeadline))
                            _ = result.latency.record(UInt64(max(1, (NIODeadline.now() - start).nanoseconds / 1000)))
                        } catch  where !Task.isCancelled {
                            result.failures[ConnectionsCommand.failureReason(error), default: 0] += 1
                        } catch {
                            break
                        }
                    }
                    return result
                }
            }
            var total = Result()
            for await part in group {
                total.channels += part.channels
                total.failures.merge(part.failures, uniquingKeysWith: +)
                total.latency.add(part.latency)
            }
            total.notAttempted = count - total.channels.count - total.failures.values.reduce(0, +)
            return total
        }
    }

    /// `promise`'s value; when the calling task is cancelled, `CancellationError` at once (and `onCancel` runs).
    private static func value<T: Sendable>(
        of promise: EventLoopPromise<T>, onCancel: @escaping @Sendable () -> Void = {}
    ) async throws -> T {
        try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
            onCancel()
        }
    }

    /// One connection, established (connect, handshake, the server's SETTINGS) by `deadline`: the connect's time
    /// counts against the greeting's.
    private func openOne(until deadline: NIODeadline) async throws -> any Channel {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let established = loop.makePromise(of: Void.self)
        let channel: any Channel
        do {
            let connecting = ClientBootstrap(group: loop)
                .connectTimeout(max(.milliseconds(1), deadline - .now()))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { [context] channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addTLSClientHandler(
                            context: context, serverHostname: "localhost")
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(FrameDecoder(expectsPreface: false)))
                        try channel.pipeline.syncOperations.addHandler(GreetingHandler(established: established))
                    }
                }
                .connect(host: host, port: port)
            // The run interrupted: the attempt ends now, not at its connect timeout (a server whose backlog is full
            // drops the SYNs); a connect that completes later is closed.
            let connected = loop.makePromise(of: (any Channel).self)
            connecting.cascade(to: connected)
            channel = try await Self.value(of: connected) {
                connecting.whenSuccess { late in late.close(promise: nil) }
            }
        } catch {
            // No channel became active, so no handler completes the promise: a dropped promise traps in debug builds.
            established.fail(error)
            throw error
        }
        let expiry = loop.scheduleTask(deadline: deadline) {
            established.fail(GreetingError(message: "not established within the attempt's \(establishTimeout)"))
        }
        do {
            // The run interrupted: the attempt ends now, not at its deadline (a server that never answers).
            try await Self.value(of: established)
            expiry.cancel()
            return channel
        } catch {
            expiry.cancel()
            channel.close(promise: nil)
            throw error
        }
    }
}

extension ConnectionsCommand {
    /// How a connection attempt failed, in words a report groups by: the system's for an errno, the TLS handler's
    /// detail, else the error's own description cut at 120 characters (an operator's walk: a reset read
    /// "read(descriptor:pointer:size:): Connection reset by peer) (errno: 104)", cut mid-way at 80).
    static func failureReason(_ error: any Error) -> String {
        switch error {
        case let error as IOError: String(cString: strerror(error.errnoCode))
        case let error as TLSError: error.detail
        case let error as NIOConnectionError:
            error.connectionErrors.first.map { failureReason($0.error) }
                ?? (error.dnsAError ?? error.dnsAAAAError).map { "cannot resolve \(error.host): \($0)" }
                ?? "no address to connect to"
        default: String("\(error)".prefix(120))
        }
    }
}
