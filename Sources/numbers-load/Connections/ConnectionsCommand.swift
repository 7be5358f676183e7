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
    @Option(help: "Connections to open and hold (1...100000).") var count = 10_000
    @Option(help: "Connection attempts in parallel (1...1024).") var concurrency = 32
    @Option(help: "Seconds to hold them idle (0...280, below the server's idle timeout).") var hold: Double = 5
    @Option(name: .customLong("server-pid"), help: "The server process, for its RSS before and after.")
    var serverPID: Int32?
    @Option(name: .customLong("json-report"), help: "Write the report as JSON to this file.") var jsonReport: String?

    func validate() throws {
        guard (1...100_000).contains(count) else { throw ValidationError("--count must be 1...100000") }
        guard (1...1024).contains(concurrency) else { throw ValidationError("--concurrency must be 1...1024") }
        guard (0...280).contains(hold) else { throw ValidationError("--hold must be 0...280") }
        _ = try target.address()
        _ = try target.clientCertificate()
    }

    struct Report: Codable {
        var requested: Int
        var fileDescriptorLimit: Int
        var established: Int
        var failed: Int
        var failures: [String: Int]
        var seconds: Double
        var handshakesPerSecond: Double
        var handshakeLatencyMicros: LoadReport.Latency
        var stillOpenAfterHold: Int
        var serverRSSBeforeMiB: Double?
        var serverRSSHeldMiB: Double?
        var serverKiBPerConnection: Double?
    }

    func run() async throws {
        let limit = OpenFilesLimit.raiseToHard()
        // Keep room for the process's own descriptors (event loops, pipes, libraries).
        let reachable = min(count, max(0, limit - 64))
        if reachable < count {
            log("file descriptor limit \(limit): opening \(reachable) of \(count) connections")
        }
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
        let start = NIODeadline.now()
        let result = await opener.open(count: reachable, concurrency: concurrency)
        let seconds = Double((NIODeadline.now() - start).nanoseconds) / 1e9
        log("established \(result.channels.count) connections in \(String(format: "%.2f", seconds)) s; holding")
        try? await Task.sleep(nanoseconds: UInt64(hold * 1e9))
        let rssHeld = serverPID.flatMap(ProcessStatus.residentMiB(pid:))
        let open = result.channels.filter(\.isActive).count
        for channel in result.channels { channel.close(promise: nil) }
        let report = Report(
            requested: count, fileDescriptorLimit: limit, established: result.channels.count,
            failed: result.failures.values.reduce(0, +), failures: result.failures, seconds: seconds,
            handshakesPerSecond: Double(result.channels.count) / seconds,
            handshakeLatencyMicros: LoadReport.Latency(result.latency), stillOpenAfterHold: open,
            serverRSSBeforeMiB: rssBefore, serverRSSHeldMiB: rssHeld,
            serverKiBPerConnection: rssBefore.flatMap { before in
                rssHeld.map { ($0 - before) * 1024 / Double(max(1, result.channels.count)) }
            })
        print(summary(report))
        if let jsonReport {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: jsonReport))
        }
    }

    private func summary(_ report: Report) -> String {
        var lines = [
            "connections: \(report.established) established of \(report.requested) requested "
                + "(fd limit \(report.fileDescriptorLimit)), \(report.failed) failed",
            String(
                format: "new TLS connections (full handshake + nrpc/1 SETTINGS): %.1f /s", report.handshakesPerSecond)
                + "; latency p50 \(Format.micros(report.handshakeLatencyMicros.p50)) p99 "
                + "\(Format.micros(report.handshakeLatencyMicros.p99)) max \(Format.micros(report.handshakeLatencyMicros.max))",
            "still open after holding \(hold) s: \(report.stillOpenAfterHold)",
        ]
        if !report.failures.isEmpty {
            lines.append("failures: " + report.failures.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        if let before = report.serverRSSBeforeMiB, let held = report.serverRSSHeldMiB {
            lines.append(
                String(format: "server RSS: %.1f MiB before, %.1f MiB holding them", before, held)
                    + (report.serverKiBPerConnection.map { String(format: " (%.1f KiB per connection)", $0) } ?? ""))
        }
        return lines.joined(separator: "\n")
    }
}

/// Opens connections with a fixed number of attempts in flight.
struct ConnectionOpener {
    let host: String
    let port: Int
    let context: TLSContext
    /// Per-connection set-up bound (connect + handshake + SETTINGS).
    static let establishTimeout = TimeAmount.seconds(10)

    struct Result {
        var channels: [any Channel] = []
        var failures: [String: Int] = [:]
        var latency = LatencyRecorder.makeHistogram()
    }

    func open(count: Int, concurrency: Int) async -> Result {
        let next = SharedCounter()
        return await withTaskGroup(of: Result.self) { group in
            for _ in 0..<min(concurrency, max(1, count)) {
                group.addTask {
                    var result = Result()
                    while next.value.add(1, ordering: .relaxed).oldValue < count {
                        let start = NIODeadline.now()
                        do {
                            result.channels.append(try await openOne())
                            _ = result.latency.record(UInt64(max(1, (NIODeadline.now() - start).nanoseconds / 1000)))
                        } catch {
                            result.failures["\(error)".prefix(80).description, default: 0] += 1
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
            return total
        }
    }

    private func openOne() async throws -> any Channel {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let established = loop.makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(Self.establishTimeout)
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
                .connect(host: host, port: port).get()
        } catch {
            // No channel became active, so no handler completes the promise: a dropped promise traps in debug builds.
            established.fail(error)
            throw error
        }
        let timeout = loop.scheduleTask(in: Self.establishTimeout) {
            established.fail(GreetingError(message: "not established within \(Self.establishTimeout)"))
        }
        do {
            try await established.futureResult.get()
            timeout.cancel()
            return channel
        } catch {
            timeout.cancel()
            channel.close(promise: nil)
            throw error
        }
    }
}
