import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "One client (one HTTP/2 + TLS connection), N tasks calling /bench.Bench/Call in a closed loop."
    )

    @Option(help: "Server port on 127.0.0.1.") var port: Int = 50051
    @Option(help: "PEM file of the CA that signed the server certificate (or the self-signed certificate).")
    var ca: String
    @Option(help: "Concurrent callers, all on one connection.") var concurrency: Int = 64
    @Option(help: "Measured window, in seconds.") var duration: Double = 6
    @Option(help: "Warm-up before the measured window, in seconds.") var warmup: Double = 2
    @Option(help: "Size of each request, in bytes.") var requestBytes: Int = 40
    @Option(help: "Server process id, to report its CPU time per call.") var serverPid: Int?
    @Option(help: "Also write the figures as JSON to this file.") var json: String?

    func validate() throws {
        guard self.concurrency > 0, self.duration > 0, self.warmup >= 0 else {
            throw ValidationError("need --concurrency > 0, --duration > 0, --warmup >= 0")
        }
    }

    func run() async throws {
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: self.port),
            transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: self.ca, format: .pem)]) }
        )
        let request = RawBytes(bytes: [UInt8](repeating: 0x2B, count: self.requestBytes))

        let report = try await withGRPCClient(transport: transport) { client in
            // One call up front: fails fast if the server is unreachable, and opens the connection.
            var probeOptions = CallOptions.defaults
            probeOptions.timeout = .seconds(5)
            let responseBytes = try await client.unary(
                request: ClientRequest(message: request), descriptor: callMethod,
                serializer: RawSerializer(), deserializer: RawDeserializer(), options: probeOptions
            ) { try $0.message.bytes.count }
            return try await self.measure(client: client, request: request, responseBytes: responseBytes)
        }

        print(report.summary)
        if let path = self.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: path))
        }
    }

    /// Every task calls back to back from the start of warm-up to the end of the window. A call
    /// counts (calls, errors, latency) when it *completes* inside the measured window; CPU time is
    /// read from /proc at the window's two edges.
    func measure(
        client: GRPCClient<HTTP2ClientTransport.Posix>, request: RawBytes, responseBytes: Int
    ) async throws -> LoadReport {
        let clock = ContinuousClock()
        let windowStart = clock.now.advanced(by: .seconds(self.warmup))
        let windowEnd = windowStart.advanced(by: .seconds(self.duration))
        let serverPid = self.serverPid

        return try await withThrowingTaskGroup(of: WorkerResult?.self) { group in
            for _ in 0..<self.concurrency {
                group.addTask {
                    var result = WorkerResult()
                    while true {
                        let t0 = clock.now
                        var failed = false
                        do {
                            _ = try await client.unary(
                                request: ClientRequest(message: request), descriptor: callMethod,
                                serializer: RawSerializer(), deserializer: RawDeserializer(), options: .defaults
                            ) { try $0.message }
                        } catch {
                            failed = true
                            if Task.isCancelled { return result }
                        }
                        let t1 = clock.now
                        if t1 >= windowEnd { return result }
                        if t1 >= windowStart {
                            if failed { result.errors += 1 } else { result.latenciesNanos.append(nanos(t1 - t0)) }
                        }
                    }
                }
            }

            try await Task.sleep(until: windowStart, clock: clock)
            let cpuBefore = (client: cpuTicks(pid: "self"), server: serverPid.flatMap { cpuTicks(pid: "\($0)") })
            try await Task.sleep(until: windowEnd, clock: clock)
            let cpuAfter = (client: cpuTicks(pid: "self"), server: serverPid.flatMap { cpuTicks(pid: "\($0)") })

            // Watchdog: a call stuck past the window must not hang the run.
            group.addTask {
                try? await Task.sleep(until: windowEnd.advanced(by: .seconds(5)), clock: clock)
                return nil
            }
            var latencies: [Int64] = []
            var errors = 0
            var finished = 0
            while finished < self.concurrency, let next = try await group.next() {
                guard let worker = next else {
                    FileHandle.standardError.write(
                        Data("warning: calls still in flight 5 s after the window; cancelling\n".utf8))
                    group.cancelAll()
                    continue
                }
                finished += 1
                latencies += worker.latenciesNanos
                errors += worker.errors
            }
            group.cancelAll()

            let calls = latencies.count
            func cpuMicrosPerCall(_ before: Int?, _ after: Int?) -> Double? {
                guard let before, let after, calls > 0 else { return nil }
                return Double(after - before) / clockTicksPerSecond * 1e6 / Double(calls)
            }
            return LoadReport(
                concurrency: self.concurrency, warmupSeconds: self.warmup, durationSeconds: self.duration,
                requestBytes: self.requestBytes, responseBytes: responseBytes,
                calls: calls, callsPerSecond: Double(calls) / self.duration, errors: errors,
                latencyMicros: LatencySummary(nanos: latencies),
                harnessCPUMicrosPerCall: cpuMicrosPerCall(cpuBefore.client, cpuAfter.client),
                serverCPUMicrosPerCall: cpuMicrosPerCall(cpuBefore.server, cpuAfter.server)
            )
        }
    }
}

struct WorkerResult: Sendable {
    var latenciesNanos: [Int64] = []
    var errors = 0
}

func nanos(_ d: Duration) -> Int64 {
    d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
}
