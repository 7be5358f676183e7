import Foundation
import NIOCore
import NIOPosix
import NumberTLS
import NumberWire
import Synchronization

/// The raw TLS baseline of a run: a child `raw-server` process with a freshly issued certificate, loaded with the
/// RPC run's connections, depth (``depth(concurrency:)``) and per-call wire bytes; reports the RPC/raw throughput
/// ratio (OK RPC calls only).
struct RawComparisonRun {
    let target: TargetOptions
    let connections: Int
    let concurrency: Int
    let duration: Double
    let warmup: Double
    let timeout: TimeAmount
    let rpc: LoadReport
    /// How long the child may take to report its port.
    static let startTimeoutSeconds = 20.0
    /// Calls numberd runs at once on one connection (its SETTINGS' `maxConcurrentStreams`: the protocol's default,
    /// which numberd has no option to change); the client holds the rest of a deeper `--concurrency` unsent.
    static let serverCallsPerConnection = Int(ConnectionSettings.defaults.maxConcurrentStreams)

    /// The raw side's depth per connection: the RPC run's calls in flight at the server, `--concurrency` up to
    /// `serverCallsPerConnection`. At `--concurrency` above it the raw side kept more messages in flight than numberd
    /// ever ran, and the ratio compared unequal depths.
    static func depth(concurrency: Int) -> Int { min(concurrency, serverCallsPerConnection) }

    func run(log: (String) -> Void) async throws -> LoadReport.RawComparison {
        let depth = Self.depth(concurrency: concurrency)
        let requestBytes = max(RawProtocol.requestHeaderLength, Int(rpc.averageRequestBytes.rounded()))
        let responseBytes = max(RawProtocol.responseHeaderLength, Int(rpc.averageResponseBytes.rounded()))
        let authority = try CertificateAuthority.generate(commonName: "numbers-load raw baseline CA")
        let issued = try authority.issueServerCertificate()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-load-\(UUID())").path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try issued.write(certificateTo: directory + "/cert.pem", privateKeyTo: directory + "/key.pem")

        let child = try await ChildServer.start(
            arguments: [
                "raw-server", "--cert", directory + "/cert.pem", "--key", directory + "/key.pem",
                "--lifetime", "\(Int(warmup + duration + 60))",
            ], timeoutSeconds: Self.startTimeoutSeconds)
        defer { child.kill() }
        log("raw baseline: \(requestBytes) B out / \(responseBytes) B back, depth \(depth), port \(child.port)")

        var clientTLS = TLSConfiguration.client(trustRoots: authority.trustRoots)
        clientTLS.applicationProtocols = ["nrpc/1"]
        let context = try TLSContext(configuration: clientTLS)
        // Cancelled (the run interrupted), the child is killed at once: every connection to it ends, and with it each
        // wait below (a connect refused, a handshake or the run failed), instead of lasting the whole window while
        // the signal did nothing.
        let pid = child.process.processIdentifier
        let comparison = try await withTaskCancellationHandler {
            try await measure(
                port: child.port, context: context, depth: depth, requestBytes: requestBytes,
                responseBytes: responseBytes)
        } onCancel: {
            _ = Foundation.kill(pid, SIGKILL)
        }
        try Task.checkCancellation()
        return comparison
    }

    /// Connects to the child server on `port`, runs the window and returns its figures.
    private func measure(
        port: Int, context: TLSContext, depth: Int, requestBytes: Int, responseBytes: Int
    ) async throws -> LoadReport.RawComparison {
        // Every connection is made and its handshake done before the clock starts, as the RPC side connects every
        // client before its start: with the clock started first, the connects (awaited in turn) took the warm-up of
        // the later connections, and past it their time counted against the raw rate.
        var channels: [any Channel] = []
        var handshakes: [EventLoopFuture<Void>] = []
        var finished: [EventLoopFuture<Void>] = []
        do {
            for index in 0..<connections {
                let loop = MultiThreadedEventLoopGroup.singleton.next()
                let done = loop.makePromise(of: Void.self)
                let handshaken = loop.makePromise(of: Void.self)
                do {
                    let connected = try await ClientBootstrap(group: loop)
                        .connectTimeout(.seconds(5))
                        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addTLSClientHandler(
                                    context: context, serverHostname: "localhost")
                                try channel.pipeline.syncOperations.addHandler(
                                    RawClientHandler(
                                        requestBytes: requestBytes, responseBytes: responseBytes, depth: depth,
                                        timeout: timeout, stripe: index, done: done, handshaken: handshaken))
                            }
                        }
                        .connect(host: "127.0.0.1", port: port).get()
                    channels.append(connected)
                } catch {
                    // No channel became active, so its handler never completes its promises (a dropped promise traps
                    // in debug).
                    done.fail(error)
                    handshaken.fail(error)
                    throw error
                }
                handshakes.append(handshaken.futureResult)
                finished.append(done.futureResult)
            }
            for handshake in handshakes { try await handshake.get() }
        } catch {
            // The connections made so far wait for a start that will not come: closing them settles their promises.
            for channel in channels { channel.close(promise: nil) }
            throw error
        }
        let start = NIODeadline.now()
        let measureFrom = start + .nanoseconds(Int64(warmup * 1e9))
        let end = measureFrom + .nanoseconds(Int64(duration * 1e9))
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        for channel in channels {
            channel.pipeline.fireUserInboundEventTriggered(RawClientHandler.Start(end: end, recorder: recorder))
        }
        for future in finished { try await future.get() }
        let seconds = Double((end - measureFrom).nanoseconds) / 1e9
        let merged = recorder.snapshot()
        let raw = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: seconds)
        return LoadReport.RawComparison(
            requestBytes: requestBytes, responseBytes: responseBytes, raw: raw,
            rpcToRawRatio: LoadReport.RawComparison.ratio(rpc: rpc.total, raw: raw), depth: depth)
    }
}

/// A child process of this executable that prints `listening <port>` first.
struct ChildServer {
    let process: Process
    let port: Int

    static func start(arguments: [String], timeoutSeconds: Double) async throws -> ChildServer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try executablePath())
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let reader = output.fileHandleForReading
        // A child that never reports is killed, which ends the read below with EOF.
        let reported = ReportedFlag()
        let pid = process.processIdentifier
        DispatchQueue.global().asyncAfter(deadline: .now() + timeoutSeconds) {
            if !reported.value.load(ordering: .acquiring) { Foundation.kill(pid, SIGKILL) }
        }
        let line: String? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var collected = Data()
                let deadline = Date().addingTimeInterval(timeoutSeconds)
                // Bounded: until a newline, EOF, 256 bytes or the deadline.
                while collected.count < 256, Date() < deadline, !collected.contains(UInt8(ascii: "\n")) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    collected.append(chunk)
                }
                continuation.resume(returning: String(decoding: collected, as: UTF8.self))
            }
        }
        reported.value.store(true, ordering: .releasing)
        let words = (line ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count >= 2, words[0] == "listening", let port = Int(words[1]), port > 0 else {
            Foundation.kill(process.processIdentifier, SIGKILL)
            throw ChildServerError(message: "the child server did not report its port: \(line ?? "")")
        }
        return ChildServer(process: process, port: port)
    }

    /// SIGKILL: cannot be blocked, unlike SIGTERM which Swift runtime threads (and so children) may have masked. Not
    /// sent to a child already reaped (killed by a cancelled run), whose pid the system may have given another.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    private static func executablePath() throws -> String {
        let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return path
    }
}

/// The child server could not be started.
struct ChildServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Whether the child reported its port (shared with the start-up timer).
private final class ReportedFlag: Sendable {
    let value = Atomic<Bool>(false)
}
