import CurlHTTP
import Foundation
import Logging
import NumberClient
import NumberCore
import NumberDaemon
import NumberTLS
import Synchronization
import TestSupport
import TwilioSimulator

#if canImport(Glibc)
import Glibc
#endif

/// A failure of the crash harness itself (a child that will not start).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The Twilio simulator in the test process over HTTPS with its own CA, so its state (what is bought) outlives
/// every kill of the numberd child that talks to it. `validFromSecondsAgo`: its certificates are valid from that long
/// ago (``backdatedSimulatorTLS(directory:validFromSecondsAgo:)``), for a child whose clock is set back; `clock`: the
/// time it dates what it does by (a purchased number's `date_created`).
func startExternalSimulator(
    directory: String, seed: UInt64 = 7, validFromSecondsAgo: Int64? = nil,
    clock: @escaping @Sendable () -> Date = { Date() }
) async throws -> TwilioSimulator {
    var configuration = SimulatorConfiguration.defaults
    configuration.seed = seed
    configuration.credentials = .generated(seed: seed)
    configuration.limits.requestLogEntriesMax = 100
    // A 1,000-cycle storm buys ~15,000 distinct numbers and Twilio never re-sells one: search deeper than the
    // default 200,000 candidates so the pool does not run dry.
    configuration.limits.searchScanMax = 2_000_000
    let tls: SimulatorTLS
    if let validFromSecondsAgo {
        tls = try backdatedSimulatorTLS(directory: directory + "/sim-tls", validFromSecondsAgo: validFromSecondsAgo)
    } else {
        tls = try SimulatorTLS.generated(directory: directory + "/sim-tls")
    }
    return try await TwilioSimulator.start(configuration: configuration, tls: tls, clock: clock)
}

/// HTTPS for the simulator from a fresh local CA in `directory` whose certificates are valid from `validFromSecondsAgo`
/// (and an hour more) until a year from now. A numberd child whose wall clock is set back (``FakedClock``) checks the
/// simulator's certificate by that clock — libcurl's OpenSSL reads the faked `time()` —, and refused one valid only
/// from an hour before the real time as not yet valid.
func backdatedSimulatorTLS(directory: String, validFromSecondsAgo: Int64) throws -> SimulatorTLS {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let validity = CertificateValidity(
        notBeforeOffsetSeconds: -validFromSecondsAgo - 3_600, notAfterOffsetSeconds: 365 * 86_400)
    let authority = try CertificateAuthority.generate(commonName: "twilio-sim backdated CA", validity: validity)
    let caPath = directory + "/twilio-sim-ca.pem"
    try authority.write(certificateTo: caPath, privateKeyTo: directory + "/twilio-sim-ca-key.pem")
    let server = try authority.issueServerCertificate(validity: validity)
    var configuration = TLSConfiguration.server(
        certificateChain: server.certificateChain, privateKey: server.privateKey)
    configuration.applicationProtocols = ["http/1.1"]
    return SimulatorTLS.numberTLS(context: try TLSContext(configuration: configuration), caPEMPath: caPath)
}

/// libfaketime (Debian package `faketime`) preloaded into a numberd child: its wall clock (`CLOCK_REALTIME`, `time()`,
/// `gettimeofday()`, so `Date()` and OpenSSL's certificate checks) reads a fixed offset from the real one, while the
/// monotonic and boot clocks are left alone (`FAKETIME_DONT_FAKE_MONOTONIC`): numberd's `ServiceClock`, which compares
/// the wall clock with the boot clock, sees a clock that was set before the start, never a step while it runs.
enum FakedClock {
    /// The thread-safe variant, where Debian and Ubuntu install it (`/usr/lib/<multiarch triplet>/faketime/`).
    static func library() throws -> String {
        let triplets = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib")) ?? []
        let directories = triplets.sorted().map { "/usr/lib/\($0)/faketime" } + ["/usr/lib/faketime"]
        let candidates = directories.map { $0 + "/libfaketimeMT.so.1" }
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw HarnessError(
                "libfaketime is not installed (Debian package `faketime`: apt-get install faketime); it sets a "
                    + "numberd child's clock off the real one")
        }
        return found
    }

    /// The environment that sets a child's wall clock `offsetSeconds` off the real one (negative: in the past), the
    /// libraries preloaded before `preloaded` (what the child would preload otherwise), if any: ``timerPassthrough``
    /// first, then libfaketime.
    static func environment(offsetSeconds: Int, preloaded: String?) throws -> [String: String] {
        let library = try timerPassthrough.get() + ":" + library()
        return [
            "LD_PRELOAD": preloaded.map { "\(library):\($0)" } ?? library,
            // A relative offset in seconds: "-5616000" is 65 days back.
            "FAKETIME": offsetSeconds < 0 ? "\(offsetSeconds)" : "+\(offsetSeconds)",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            // Set, so libfaketime's own (it finds these missing and makes `/faketime_sem_<pid>` and
            // `/faketime_shm_<pid>` in their place) replaces the value in place: added, it moved `environ` — and Swift
            // on Linux finds argv from it: the child then ran with no arguments (`numberd` alone: serve the default
            // data directory, on the default port). A fixed offset needs no shared state.
            "FAKETIME_SHARED": "/numberd-test-no-sem /numberd-test-no-shm",
        ]
    }

    /// A library preloaded before libfaketime that hands `timerfd_settime` on the monotonic and boot clocks to the
    /// kernel unchanged. libfaketime 0.9.10 moves every absolute timer expiration by its offset, also on the clocks
    /// `FAKETIME_DONT_FAKE_MONOTONIC` leaves alone: each Dispatch and NIO timer of a child on a clock 47 days back
    /// fired 47 days late — `Task.sleep` never woke, nor did numberd's periodic passes or its calls' deadline timers.
    /// Measured: a 500 ms `Task.sleep` under `FAKETIME=-4060800` had not woken after 8 s, and `strace` showed
    /// `timerfd_settime(CLOCK_MONOTONIC fd, TFD_TIMER_ABSTIME, 4085516 s)` for a timer due at 24 713 s. The renewal
    /// crash storm's aging then hung once in a few full runs: under load a purchase's look-up at the simulator timed
    /// out, and the Twilio adapter's back-off before its retry never ended, until the client gave the call up 300 s
    /// later (numberd's metrics: the purchase `CANCELLED`, one retry for `timeout`, the look-up `cancelled`). Timers on
    /// the wall clock (`CLOCK_REALTIME`) still go through libfaketime, whose shift is right for them. Compiled once a
    /// test process with the C compiler beside `swift` (`clang`, else `cc`).
    static let timerPassthrough: Result<String, HarnessError> = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-faketime-\(getpid())")
        let source = directory.appendingPathComponent("timerfd.c").path
        let library = directory.appendingPathComponent("libtimerfd-passthrough.so").path
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try timerPassthroughSource.write(toFile: source, atomically: true, encoding: .utf8)
        } catch {
            return .failure(HarnessError("cannot write \(source): \(error)"))
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let compilers = ["clang", "cc", "gcc"].flatMap { name in path.split(separator: ":").map { "\($0)/\(name)" } }
        guard let compiler = compilers.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(HarnessError("no C compiler (clang, cc, gcc) on PATH to build \(library)"))
        }
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"]
        let messages = directory.appendingPathComponent("compiler.log").path
        guard FileManager.default.createFile(atPath: messages, contents: nil),
            let log = FileHandle(forWritingAtPath: messages)
        else { return .failure(HarnessError("cannot write \(messages)")) }
        defer { try? log.close() }
        process.standardOutput = log
        process.standardError = log
        do { try process.run() } catch { return .failure(HarnessError("\(compiler) did not start: \(error)")) }
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: library) else {
            let said = (try? String(contentsOfFile: messages, encoding: .utf8)) ?? ""
            return .failure(
                HarnessError(
                    "\(compiler) failed (\(process.terminationStatus)) to build \(library): \(said.prefix(2_000))"))
        }
        return .success(library)
    }()

    /// ``timerPassthrough``'s source: the clock of each timer descriptor, then `timerfd_settime` by it.
    private static let timerPassthroughSource = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <sys/syscall.h>
        #include <sys/timerfd.h>
        #include <time.h>
        #include <unistd.h>

        static unsigned char on_wall_clock[65536];

        int timerfd_create(int clockid, int flags) {
            int fd = (int)syscall(SYS_timerfd_create, clockid, flags);
            if (fd >= 0 && fd < 65536) on_wall_clock[fd] = clockid == CLOCK_REALTIME || clockid == CLOCK_REALTIME_ALARM;
            return fd;
        }

        int timerfd_settime(int fd, int flags, const struct itimerspec *value, struct itimerspec *old) {
            if (fd >= 0 && fd < 65536 && on_wall_clock[fd]) {
                int (*faked)(int, int, const struct itimerspec *, struct itimerspec *) =
                    (int (*)(int, int, const struct itimerspec *, struct itimerspec *))dlsym(RTLD_NEXT, "timerfd_settime");
                if (faked) return faked(fd, flags, value, old);
            }
            return (int)syscall(SYS_timerfd_settime, fd, flags, value, old);
        }
        """

    /// Removes the semaphore and shared memory libfaketime made for process `pid`, once it has ended: a child killed
    /// with SIGKILL never removes its own. Left behind, a later child given the same process id (ids wrap at
    /// `kernel.pid_max`, 32768 here) found its names taken and exited at once ("sem_open failed and recreation
    /// attempts failed"): a renewal crash storm cycle failed with "ended before its kill" now and then, with 488 such
    /// files in /dev/shm.
    static func removeSharedObjects(ofEnded pid: Int32) {
        unlink("/dev/shm/sem.faketime_sem_\(pid)")
        unlink("/dev/shm/faketime_shm_\(pid)")
    }

    /// Removes what libfaketime left in /dev/shm for processes no longer running (children of earlier test runs
    /// killed or ended with the test process), once per test process, before the first child on a faked clock.
    static let removedStaleSharedObjects: Void = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []
        for name in names {
            guard
                let range = name.range(of: #"^(sem\.faketime_sem_|faketime_shm_)[0-9]+$"#, options: .regularExpression),
                let pid = Int32(name[range].split(separator: "_").last ?? "")
            else { continue }
            if !FileManager.default.fileExists(atPath: "/proc/\(pid)") { removeSharedObjects(ofEnded: pid) }
        }
    }()
}

/// A socket listening on 127.0.0.1:`port`, standing for another program that holds the port (numberd's bind, with
/// `SO_REUSEADDR` too, fails while it listens); closed by ``close()`` or when let go of.
final class HeldPort: Sendable {
    private let descriptor: Mutex<Int32>

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        // Past connections to the port (a killed numberd's) may be in TIME_WAIT: without it the bind could fail.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard bound, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(fd)
            throw HarnessError("cannot hold 127.0.0.1:\(port): \(reason)")
        }
        descriptor = Mutex(fd)
    }

    deinit { close() }

    /// Lets the port go.
    func close() {
        descriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func acceptsConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = loopbackAddress(port: port)
    return withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

/// `numberd` as a child process on a fixed loopback port, its provider the external simulator (real Twilio
/// adapter, libcurl, HTTPS), so it can be SIGKILLed and restarted over the same data directory.
final class NumberdChild: Sendable {
    /// How the child is started (the same for every restart).
    struct Launch: Sendable {
        var dataDirectory: String
        var port: Int
        var simulatorURL: String
        var simulatorCA: String
        var credentials: SimulatorCredentials
        /// Extra environment (e.g. `NUMBERD_CRASH_POINT`, a short Twilio timeout).
        var environment: [String: String] = [:]
        /// Standard output is a pipe nobody reads (closed before the spawn), as under a supervisor that went away
        /// or `numberd | head -0`: every write to it fails with EPIPE.
        var closedStandardOutput = false
        /// `--log-level` (nil: none given, so `NUMBERD_LOG_LEVEL` or the config file's `log-level` decides).
        var logLevel: String? = "error"
        /// Standard error (default: `numberd-child.log` beside the data directory, appended to).
        var standardError: FileHandle?
        /// `--metrics-listen`.
        var metricsListen = "off"
        /// Standard descriptors the child starts with closed (`numberd >&- 2>&-`: `[1, 2]`).
        var closedStandardDescriptors: Set<Int32> = []
        /// How many seconds the child's wall clock is set off the real one (negative: in the past) through libfaketime
        /// (``FakedClock``); nil or 0: the real clock. A start whose clock is far ahead of the data's latest record
        /// is refused unless `NUMBERD_CLOCK_LEAD_MAX` allows it.
        var clockOffsetSeconds: Int?

        /// The children's log (``standardError``'s default), appended to by every start.
        /// The text numberd's `--metrics-listen` endpoint serves now (HarnessError without one).
        func metrics() async throws -> String {
            guard let port = metricsListen.split(separator: ":").last.flatMap({ Int($0) }) else {
                throw HarnessError("no metrics endpoint (metricsListen \(metricsListen))")
            }
            let connection = try await TCPConnection.connect(port: port)
            try await connection.send("GET /metrics HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            _ = await connection.waitForClose(timeout: .seconds(30))
            return connection.text
        }

        var logPath: String { (dataDirectory as NSString).deletingLastPathComponent + "/numberd-child.log" }

        /// The log's last `lines` lines, for a failure's message: the log goes with the directory the test removes.
        func logTail(_ lines: Int = 15) -> String {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").suffix(lines)
                .joined(separator: "\n")
        }

        /// `numberd`'s arguments.
        var arguments: [String] {
            [
                "serve", "--data-dir", dataDirectory, "--listen", "127.0.0.1:\(port)", "--metrics-listen",
                metricsListen,
            ] + (logLevel.map { ["--log-level", $0] } ?? [])
        }

        /// `numberd`'s whole environment: the test's without its `NUMBERD_` and `TWILIO_` variables, the simulator's
        /// account and address, then ``environment``.
        var childEnvironment: [String: String] {
            var environment = ProcessInfo.processInfo.environment.filter {
                !$0.key.hasPrefix("NUMBERD_") && !$0.key.hasPrefix("TWILIO_")
            }
            environment["TWILIO_ACCOUNT_SID"] = credentials.accountSid
            environment["TWILIO_AUTH_TOKEN"] = credentials.authToken
            environment["NUMBERD_TWILIO_BASE_URL"] = simulatorURL
            environment["NUMBERD_TWILIO_CA_FILE"] = simulatorCA
            // High enough that the storm is never throttled: the limits have their own tests.
            environment["NUMBERD_RATE_LIMIT"] = "100000"
            environment["NUMBERD_PURCHASE_CAP"] = "1000000"
            environment.merge(self.environment) { _, new in new }
            return environment
        }
    }

    let process: SpawnedProcess
    /// Milliseconds from spawn until the RPC port accepted connections.
    let readyMilliseconds: Double
    /// How the child ended, once a wait saw it.
    private let ending = Mutex<ChildExit.Ending?>(nil)

    private init(process: SpawnedProcess, readyMilliseconds: Double) {
        self.process = process
        self.readyMilliseconds = readyMilliseconds
    }

    /// Spawns numberd and returns once its RPC port accepts connections (at most `readyTimeoutSeconds`).
    static func start(_ launch: Launch, readyTimeoutSeconds: Double = 60) async throws -> NumberdChild {
        let (process, log, started) = try launchProcess(launch)
        let deadline = started + .milliseconds(Int64(readyTimeoutSeconds * 1000))
        while !acceptsConnections(port: launch.port) {
            guard process.isRunning else {
                throw HarnessError(
                    "numberd exited (\(process.terminationStatus)) before listening on \(launch.port) (taken since it was free?); see \(log)"
                )
            }
            guard ContinuousClock.now < deadline else {
                process.send(SIGKILL)
                ChildExit.waitBlocking(process, timeout: .seconds(10))
                throw HarnessError("numberd did not listen within \(readyTimeoutSeconds) s; see \(log)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return NumberdChild(process: process, readyMilliseconds: milliseconds)
    }

    /// Spawns numberd and returns at once, before it listens (``readyMilliseconds`` 0), so that a kill can land
    /// anywhere in its start: opening the store, the start snapshot, binding, the start's billing and reconciliation.
    static func spawn(_ launch: Launch) throws -> NumberdChild {
        NumberdChild(process: try launchProcess(launch).process, readyMilliseconds: 0)
    }

    /// Runs numberd as `launch` says: the process, the log its standard error goes to, and when it was spawned.
    private static func launchProcess(
        _ launch: Launch
    ) throws -> (process: SpawnedProcess, log: String, started: ContinuousClock.Instant) {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
        process.arguments = launch.arguments
        var environment = launch.childEnvironment
        if let offset = launch.clockOffsetSeconds, offset != 0 {
            FakedClock.removedStaleSharedObjects
            let faked = try FakedClock.environment(offsetSeconds: offset, preloaded: environment["LD_PRELOAD"])
            environment.merge(faked) { _, new in new }
        }
        process.environment = environment
        if launch.closedStandardOutput {
            let pipe = Pipe()
            try pipe.fileHandleForReading.close()
            process.standardOutput = pipe
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        let log = launch.logPath
        let handle: FileHandle
        if let given = launch.standardError {
            handle = given
        } else {
            if !FileManager.default.fileExists(atPath: log) {
                _ = FileManager.default.createFile(atPath: log, contents: nil)
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            handle.seekToEndOfFile()
        }
        process.standardError = handle
        process.closedStandardDescriptors = launch.closedStandardDescriptors
        let started = ContinuousClock.now
        try process.run()
        try? handle.close()
        return (process, log, started)
    }

    /// A child still running when the test lets go of it (a failed check threw before the test's `crash()`) is
    /// killed and waited for: it does not outlive the test, nor write into the data directory as the test removes it.
    deinit {
        if ending.withLock({ $0 }) == nil, process.isRunning {
            process.send(SIGKILL)
            if ChildExit.waitBlocking(process, timeout: .seconds(10)) != nil {
                FakedClock.removeSharedObjects(ofEnded: process.processIdentifier)
            }
        }
    }

    /// SIGKILL (no cleanup, no final snapshot), then waits until the process is gone.
    func crash() async {
        process.send(SIGKILL)
        await waitForExit()
    }

    /// SIGTERM — a clean stop: numberd drains and writes its final snapshot —, then waits (as ``waitForExit()``) until
    /// the process is gone; how it ended.
    func stop() async -> ChildExit.Ending? {
        process.send(SIGTERM)
        await waitForExit()
        return ending.withLock { $0 }
    }

    /// Waits (bounded: 60 s, then SIGKILL) until the child has exited, e.g. after it killed itself.
    func waitForExit() async {
        var ended = await ChildExit.wait(process, timeout: .seconds(60))
        if ended == nil {
            process.send(SIGKILL)
            ended = await ChildExit.wait(process, timeout: .seconds(10))
        }
        if ended != nil { FakedClock.removeSharedObjects(ofEnded: process.processIdentifier) }
        ending.withLock { $0 = ended }
    }

    /// Whether the child died of SIGKILL.
    var killedBySignal: Bool { ending.withLock { $0 } == .signalled(SIGKILL) }
}

/// The real Twilio adapter against `simulator` (its account's auth token, its CA), for work done in-process on a
/// child's data directory.
func twilioAdapter(for simulator: TwilioSimulator, logger: Logger) throws -> TwilioProvider {
    let credentials = try TwilioCredentials.authToken(
        accountSid: simulator.credentials.accountSid, authToken: simulator.credentials.authToken)
    var twilio = TwilioConfiguration(credentials: credentials, endpoints: .simulator(at: simulator.baseURL))
    twilio.http.tls.caFilePath = simulator.caPEMPath
    return try TwilioProvider(configuration: twilio, logger: logger)
}

/// Settles what numberd left open, offline and in-process: opens the data directory's store with the real
/// Twilio adapter against the simulator and runs reconciliation and the orphan sweep until nothing is open (at
/// most `passes`). Each sweep looks up every watched number (numberd's look at most 200 a sweep: a chaos storm's
/// hundreds of watches left a landed number to a later sweep, after the final check).
func reconcileOffline(dataDirectory: String, simulator: TwilioSimulator, passes: Int = 5) async throws -> CoreState {
    let logger = Logger(label: "crash-reconcile", factory: { _ in SwiftLogNoOpLogHandler() })
    let store = try FileNumberStore.open(directory: URL(fileURLWithPath: dataDirectory + "/store"))
    let provider = try twilioAdapter(for: simulator, logger: logger)
    var state = CoreState()
    var config = NumberServiceConfig.defaults
    config.reconcile.orphanLookUpsPerSweep = 10_000
    do {
        let service = try await NumberService.open(store: store, provider: provider, config: config, logger: logger)
        for _ in 0..<passes {
            _ = await service.reconcile()
            _ = await service.sweepOrphans()
            state = service.durableState()
            let pendingReleases = state.numbers.values.contains {
                $0.status != .released && $0.releaseRequestedAt != nil
            }
            if state.intents.isEmpty && !pendingReleases { break }
        }
    } catch {
        await provider.shutdown()
        await store.close()
        throw error
    }
    await provider.shutdown()
    await store.close()
    return state
}

/// Runs `numberd verify --data-dir` with `arguments` after it (and `environment` added to the test's) and returns its
/// exit status (128 + the signal's number for a signal) and output; killed after 120 s.
func runNumberdVerify(
    dataDirectory: String, arguments: [String] = [], environment: [String: String] = [:]
) async throws -> (status: Int32, output: String) {
    let result = try await ChildProcess.run(
        try BuiltProduct.path("numberd"), ["verify", "--data-dir", dataDirectory] + arguments,
        environment: environment.isEmpty
            ? nil : ProcessInfo.processInfo.environment.merging(environment) { _, added in added })
    guard !result.timedOut else { throw HarnessError("numberd verify did not exit within 120 s: \(result.text)") }
    switch result.ending {
    case .exited(let code): return (code, result.text)
    case .signalled(let signal): return (128 + signal, result.text)
    }
}

/// Percentile (0...100) of `values` by nearest rank; 0 when empty.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

extension NumberdChild.Launch {
    /// A client of this numberd with the admin key its first start saved, trusting its CA, one attempt per call.
    func adminClient() throws -> NumbersClientConfiguration {
        client(try adminKey())
    }

    /// The admin key this numberd's first start saved.
    func adminKey() throws -> String {
        try String(contentsOfFile: dataDirectory + "/admin.key", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A client of this numberd with `key`, trusting its CA, one attempt per call. Its waits are past what a loaded
    /// full run makes a child's calls take (a renewal storm's call ran out the default 30 s in a clean-clone CI run;
    /// the call's deadline covers its connect and handshake too); tests of a deadline give their own.
    func client(_ key: String) -> NumbersClientConfiguration {
        var configuration = NumbersClientConfiguration(
            host: "127.0.0.1", port: port, apiKey: key, trustRoots: .file(dataDirectory + "/tls/ca.pem"),
            connectTimeout: .seconds(60), defaultTimeout: .seconds(300), retry: .none)
        configuration.handshakeTimeout = .seconds(60)
        return configuration
    }
}
