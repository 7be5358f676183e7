import CProcessControl
import Foundation
import NumberDaemon
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Core dumps off in numberd unless `--allow-core-dumps` (command line only): a crash would write the Twilio secret,
/// the bearer headers of calls in flight and the TLS private keys to a core file or a crash collector. Serialized:
/// the in-process test changes this process's limit and dumpable flag for a moment.
@Suite("numberd: core dumps", .serialized)
struct CoreDumpTests {
    static let coreLine = "Max core file size"

    @Test("a running numberd has RLIMIT_CORE 0, whatever it inherited and whatever NUMBERD_ALLOW_CORE_DUMPS says")
    func runningNumberdDumpsNoCore() async throws {
        let child = try ServingChild(coreLimitBlocks: 4096, environment: ["NUMBERD_ALLOW_CORE_DUMPS": "true"])
        try await child.waitUntilServing()
        let limit = try child.softLimit(Self.coreLine)
        await child.stop()
        #expect(limit == "0")
    }

    @Test("--allow-core-dumps leaves the limit it inherited")
    func optOut() async throws {
        let child = try ServingChild(arguments: ["--allow-core-dumps"], coreLimitBlocks: 4096)
        try await child.waitUntilServing()
        let limit = try child.softLimit(Self.coreLine)
        await child.stop()
        // `sh`'s ulimit counts in blocks (dash: 512 bytes, bash: 1024): any size but 0 is the one inherited.
        #expect(limit != nil && limit != "0", "\(String(describing: limit))")
    }

    @Test("allow-core-dumps is no config file key")
    func optOutIsNoFileKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-\(UUID()).json").path
        try #"{"allow-core-dumps": true}"#.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: ConfigurationError.self) {
            try NumberdConfiguration.resolve(flags: ["config": file], environment: [:])
        }
    }

    /// `PR_SET_DUMPABLE` 0 also stops a `core_pattern` pipe to a crash collector, which ignores `RLIMIT_CORE`; the
    /// kernel shows it nowhere another process (running as root here) could read, so it is checked in-process, then
    /// put back.
    @Test("CoreDumps.disable: not dumpable and RLIMIT_CORE 0")
    func disableInProcess() throws {
        var saved = rlimit()
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &saved) == 0)
        let dumpable = process_control_get_dumpable()
        defer {
            _ = process_control_set_dumpable(dumpable)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &saved)
        }
        var raised = saved
        raised.rlim_cur = min(4096 * 1024, saved.rlim_max)
        #expect(setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &raised) == 0)
        #expect(process_control_set_dumpable(1) == 0)
        #expect(CoreDumps.enabled)
        try CoreDumps.disable()
        #expect(process_control_get_dumpable() == 0)
        var limit = rlimit()
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &limit) == 0)
        #expect(limit.rlim_cur == 0)
        #expect(limit.rlim_max == saved.rlim_max, "the hard limit is left as it was")
        #expect(!CoreDumps.enabled)
    }
}
