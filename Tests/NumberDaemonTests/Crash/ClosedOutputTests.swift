import Foundation
import NumberAPI
import NumberClient
import Synchronization
import TestSupport
import Testing
import TwilioSimulator

@Suite("numberd with nobody reading its standard output")
struct ClosedOutputTests {
    /// A new folder for one test's simulator and data directory.
    static func scratch(_ prefix: String) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// A simulator in `root` and a numberd child against it, launched as `configure` says.
    static func start(
        in root: String, _ configure: (inout NumberdChild.Launch) -> Void
    ) async throws -> (NumberdChild, TwilioSimulator, NumberdChild.Launch) {
        let simulator = try await startExternalSimulator(directory: root)
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials)
        configure(&launch)
        do {
            return (try await NumberdChild.start(launch), simulator, launch)
        } catch {
            try? await simulator.shutdown()
            throw error
        }
    }

    @Test("a closed stdout (a supervisor gone, `numberd | head -0`) does not stop numberd: it starts and serves")
    func closedStandardOutput() async throws {
        let root = try Self.scratch("numberd-stdout")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (child, simulator, launch) = try await Self.start(in: root) { $0.closedStandardOutput = true }
        // The banner (with the first admin key) went nowhere; the key file has it.
        let configuration = try launch.adminClient()
        let account = try await withNumbersClient(configuration) { client in
            _ = try await client.healthCheck(HealthCheckRequest())
            return try await client.createAccount(CreateAccountRequest(name: "stdout", currency: "USD")).account
        }
        #expect(account.id.hasPrefix("ACC_"))
        #expect(child.process.isRunning, "numberd died writing to a closed stdout")
        await child.crash()
        try await simulator.shutdown()
    }

    @Test(
        "a standard error nobody reads (a stalled log collector) does not stop numberd: calls that log are answered, and what was queued is written when the reader comes back"
    )
    func stalledStandardError() async throws {
        let root = try Self.scratch("numberd-stderr")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let standardError = Pipe()
        let (child, simulator, launch) = try await Self.start(in: root) { launch in
            launch.logLevel = "debug"  // a line for every call
            launch.standardError = standardError.fileHandleForWriting
        }
        var configuration = try launch.adminClient()
        configuration.defaultTimeout = .seconds(30)
        // 2,000 calls' lines (~200 bytes each) are 6 pipes' worth: when numberd wrote them itself, the ~300th call's
        // line blocked its event loop and every later call timed out.
        let calls = 2000
        try await withNumbersClient(configuration) { client in
            for _ in 0..<calls { _ = try await client.healthCheck(HealthCheckRequest()) }
        }
        #expect(child.process.isRunning)

        // The reader comes back: every queued line arrives while numberd runs (not only in its 2 s flush at exit,
        // which a loaded machine could outlast), then numberd stops (SIGTERM) and its last lines follow.
        let reader = standardError.fileHandleForReading.fileDescriptor
        _ = fcntl(reader, F_SETFL, fcntl(reader, F_GETFL) | O_NONBLOCK)
        let output = Mutex([UInt8]())
        let reading = Atomic(true)
        let drain: @Sendable () -> Void = {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = read(reader, &buffer, buffer.count)
                guard count > 0 else { return }
                output.withLock { $0 += buffer[..<count] }
            }
        }
        let drained = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while reading.load(ordering: .relaxed) {
                drain()
                usleep(1000)
            }
            drained.signal()
        }
        let lines = { String(decoding: output.withLock { $0 }, as: UTF8.self).split(separator: "\n") }
        let answered = { lines().filter { $0.contains("call finished") && $0.contains("HealthCheck") }.count }
        let deadline = ContinuousClock.now + .seconds(60)
        while answered() < calls && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(answered() == calls, "\(lines().suffix(5))")
        child.process.send(SIGTERM)
        await child.waitForExit()
        reading.store(false, ordering: .relaxed)
        drained.wait()
        drain()
        #expect(answered() == calls)
        #expect(lines().last?.contains("Service lifecycle ended") == true, "\(lines().suffix(3))")
        #expect(!lines().contains { $0.contains("log lines dropped") })
        // The service lifecycle's debug lines name each service (`sl-service=PeriodicService(clock)`), not its fields.
        #expect(lines().contains { $0.contains("sl-service=PeriodicService(clock)") })
        #expect(!lines().contains { $0.contains("PrometheusCollectorRegistry") })
        try await simulator.shutdown()
    }

    @Test(
        "numberd started with stdout and stderr closed (`numberd >&- 2>&-`) serves, and no log line lands in its store"
    )
    func closedStandardDescriptors() async throws {
        let root = try Self.scratch("numberd-closed-fds")
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A line for every call: when the store's first files took descriptors 1 and 2, each went into one of them.
        let (child, simulator, launch) = try await Self.start(in: root) { launch in
            launch.closedStandardDescriptors = [1, 2]
            launch.logLevel = "debug"
        }
        let account = try await withNumbersClient(try launch.adminClient()) { client in
            _ = try await client.healthCheck(HealthCheckRequest())
            return try await client.createAccount(CreateAccountRequest(name: "closed", currency: "USD")).account
        }
        #expect(account.id.hasPrefix("ACC_"))
        #expect(child.process.isRunning)
        child.process.send(SIGTERM)
        await child.waitForExit()
        try await simulator.shutdown()
        let verified = try await runNumberdVerify(dataDirectory: launch.dataDirectory)
        #expect(verified.status == 0, "\(verified.output)")
        // Every log line names its module in brackets (`[NumberServer] listening`); no journal record does.
        let store = launch.dataDirectory + "/store"
        for name in try FileManager.default.contentsOfDirectory(atPath: store) {
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: store + "/" + name))) ?? Data()
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(!text.contains("[Number"), "\(name) holds log lines")
            #expect(!text.contains("numberd: serving"), "\(name) holds the banner")
        }
    }
}
