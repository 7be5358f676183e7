import Foundation
import NumberCore
import NumberDaemon
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `numberd verify` checks a data directory under the limits numberd opens it with, not always the defaults: the
/// same `--snapshot-bytes-max` (flag, `NUMBERD_SNAPSHOT_BYTES_MAX`, or the config file). Its default is also its
/// maximum, so a directory can only be valid under the default and not under a smaller limit: a snapshot larger than
/// the limit, which numberd run with it cannot read (its start falls back to an older snapshot or the whole journal,
/// and no new snapshot fits). Before, verify said OK to that directory.
@Suite struct VerifyCommandTests {
    /// A data directory a numberd started in once and closed: an empty store.
    static func emptyStore() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-verify-\(UUID())").path
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        await (try await Numberd.prepare(configuration, logger: quietLogger)).close()
        return directory
    }

    /// A data directory whose newest snapshot (written at the second start) holds 200 accounts: about 20 KiB.
    static func directoryWithALargeSnapshot() async throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-verify-\(UUID())").path
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        for start in 0..<2 {
            let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
            if start == 0 {
                for index in 0..<200 {
                    _ = try await numberd.service.createAccount(name: "a\(index)", currency: "USD")
                }
            }
            await numberd.close()
        }
        return directory
    }

    @Test func verifyChecksUnderTheSnapshotLimitNumberdRunsWith() async throws {
        let directory = try await Self.directoryWithALargeSnapshot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let limit = "8192"
        let store = URL(fileURLWithPath: directory + "/store")
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: store.path).filter {
            $0.hasPrefix("snapshot-")
        }
        let sizes = try snapshots.map {
            try FileManager.default.attributesOfItem(atPath: store.path + "/" + $0)[.size] as? Int ?? 0
        }
        #expect(sizes.contains { $0 > Int(limit)! }, "a snapshot larger than \(limit) bytes: \(sizes)")

        let defaults = try await runNumberdVerify(dataDirectory: directory)
        #expect(defaults.status == 0, "\(defaults.output)")
        // numberd started with --snapshot-bytes-max 8192 could not read that snapshot: verify under it says so.
        let flag = try await runNumberdVerify(dataDirectory: directory, arguments: ["--snapshot-bytes-max", limit])
        #expect(flag.status == 1, "\(flag.output)")
        #expect(flag.output.contains("PROBLEMS FOUND"), "\(flag.output)")
        #expect(flag.output.contains("snapshot-bytes-max 8192"), "\(flag.output)")
        let environment = try await runNumberdVerify(
            dataDirectory: directory, environment: ["NUMBERD_SNAPSHOT_BYTES_MAX": limit])
        #expect(environment.status == 1, "\(environment.output)")
        let file = directory + "/numberd.json"
        try Data("{\"snapshot-bytes-max\": \(limit)}".utf8).write(to: URL(fileURLWithPath: file))
        let config = try await runNumberdVerify(dataDirectory: directory, arguments: ["--config", file])
        #expect(config.status == 1, "\(config.output)")
        // The library call takes the same limits.
        var limits = JournalOptions.Limits.defaults
        limits.snapshotBytesMax = Int(limit)!
        #expect(await verifyDataDirectory(store, limits: limits).isSound == false)
        #expect(await verifyDataDirectory(store).isSound)
    }

    @Test func verifyIgnoresSettingsItDoesNotUse() async throws {
        let directory = try await Self.directoryWithALargeSnapshot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // `serve` refuses both (half-set Twilio credentials, a bad listen address); verify needs neither.
        let result = try await runNumberdVerify(
            dataDirectory: directory, environment: ["TWILIO_ACCOUNT_SID": "AC123", "NUMBERD_LISTEN": "nonsense"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("numberd verify: OK"), "\(result.output)")
        // What it does use is still checked.
        let bad = try await runNumberdVerify(
            dataDirectory: directory, environment: ["NUMBERD_SNAPSHOT_BYTES_MAX": "-1"])
        #expect(bad.status != 0, "\(bad.output)")
    }

    /// Verify prints the store's format; one numberd must not open (a newer reader asked for, a damaged `FORMAT`) is a
    /// problem, a store from before the file is not.
    @Test func verifyReportsTheStoreFormat() async throws {
        let directory = try await Self.emptyStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let format = URL(fileURLWithPath: directory + "/store/FORMAT")
        let current = try await runNumberdVerify(dataDirectory: directory)
        let own = StoreFormat.current
        #expect(current.status == 0, "\(current.output)")
        #expect(
            current.output.contains(
                "format: \(own.format), opened by numberd of format \(own.readers) or later (this numberd reads store "
                    + "formats up to \(own.format))"),
            "\(current.output)")
        try FileManager.default.removeItem(at: format)
        let legacy = try await runNumberdVerify(dataDirectory: directory)
        #expect(legacy.status == 0, "\(legacy.output)")
        #expect(legacy.output.contains("format: no FORMAT file: a store from before it, format 1"), "\(legacy.output)")
        let next = own.format + 1
        try Data(#"{"format":\#(next),"readers":\#(next)}"#.utf8).write(to: format)
        let newer = try await runNumberdVerify(dataDirectory: directory)
        #expect(newer.status == 1, "\(newer.output)")
        #expect(
            newer.output.contains("format: \(next), opened by numberd of format \(next) or later"), "\(newer.output)")
        #expect(newer.output.contains("journal: error formatTooNew FORMAT"), "\(newer.output)")
        try Data("{".utf8).write(to: format)
        let damaged = try await runNumberdVerify(dataDirectory: directory)
        #expect(damaged.status == 1, "\(damaged.output)")
        #expect(damaged.output.contains("journal: error formatDamaged FORMAT"), "\(damaged.output)")
    }

    /// Run as another user on numberd's data directory (mode 0700), verify said "no store" and exited 2, which a
    /// monitoring job reads as a fresh directory. A data directory or store of another user is now refused (exit 1,
    /// with the reason) as `numberd backup` refuses it, and one this user cannot reach is "cannot read" (exit 1);
    /// only a store that is not there is exit 2.
    @Test func verifyTellsAStoreItCannotReadFromNoStore() async throws {
        let directory = try await Self.emptyStore()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let none = try await runNumberdVerify(dataDirectory: directory + "-none")
        #expect(none.status == 2 && none.output.contains("no store at"), "\(none.output)")
        if geteuid() == 0 {
            // Root reads every folder: another user's directory is told by its owner, as the restore test does; a
            // store by the owner of its FORMAT file, which its first start wrote (its folder may be a mount point's).
            for paths in [[directory], [directory + "/store", directory + "/store/FORMAT"]] {
                let folder = paths[0]
                for path in paths { #expect(chown(path, 65_534, 65_534) == 0) }
                let foreign = try await runNumberdVerify(dataDirectory: directory)
                for path in paths { #expect(chown(path, 0, 0) == 0) }
                #expect(foreign.status == 1, "\(folder): \(foreign.output)")
                #expect(foreign.output.contains("belongs to user id 65534"), "\(folder): \(foreign.output)")
                #expect(!foreign.output.contains("no store"), "\(folder): \(foreign.output)")
            }
        } else {
            // A data directory this user may not search: its store cannot be reached, which is not "no store".
            #expect(chmod(directory, 0) == 0)
            let unreachable = try await runNumberdVerify(dataDirectory: directory)
            #expect(chmod(directory, 0o700) == 0)
            #expect(unreachable.status == 1, "\(unreachable.output)")
            #expect(unreachable.output.contains("cannot read"), "\(unreachable.output)")
        }
        let own = try await runNumberdVerify(dataDirectory: directory)
        #expect(own.status == 0, "\(own.output)")
    }

    @Test func verifyHelpNamesTheLimitFlags() async throws {
        let help = try await runNumberdVerify(dataDirectory: "/nonexistent", arguments: ["--help"])
        #expect(help.output.contains("--snapshot-bytes-max"), "\(help.output)")
        #expect(help.output.contains("--config"), "\(help.output)")
    }

    /// Verify takes the directory's lock while it reads, and says so when a running numberd holds it (its files may
    /// change under the read); its scratch copy goes beside the store, not into a small /tmp, and is removed.
    @Test func verifyReportsARunningNumberdAndLeavesNoCopy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-live-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let store = URL(fileURLWithPath: directory + "/store")
        let numberd = try await Numberd.prepare(configuration, logger: quietLogger)
        _ = try await numberd.service.createAccount(name: "a", currency: "USD")
        let live = await verifyDataDirectory(store)
        let liveOutput = try await runNumberdVerify(dataDirectory: directory)
        await numberd.close()
        #expect(live.inUse)
        #expect(liveOutput.output.contains("warning: a running numberd holds this directory"), "\(liveOutput.output)")
        let idle = await verifyDataDirectory(store)
        #expect(!idle.inUse)
        #expect(idle.isSound)
        #expect(idle.state?.accounts.count == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains("verify") }
        #expect(left.isEmpty, "\(left)")
        // While verify holds the lock, numberd does not start on the directory.
        let files = POSIXJournalFileSystem()
        let lock = try files.lockDirectory(store.path)
        await #expect(throws: JournalError.self) { _ = try await Numberd.prepare(configuration, logger: quietLogger) }
        files.unlockDirectory(lock)
        let output = try await runNumberdVerify(dataDirectory: directory)
        #expect(output.status == 0 && !output.output.contains("warning"), "\(output.output)")
    }

    /// A read-only review: `numberd verify` copies the whole store beside it (it checks there is room for the copy and
    /// a margin) and removed the copy only when it returned. Killed (Ctrl-C, the out-of-memory killer), it left the
    /// copy for good: the running numberd's snapshots found no room, its segments were never deleted and the journal
    /// grew until a write failed. Now each copy has an owner file locked while its verify lives, and leftovers whose
    /// owner is gone are removed by the next verify and by numberd's start.
    @Test("the store copy of a killed `numberd verify` is removed by the next start (and the next verify)")
    func killedVerifyLeavesNoCopy() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-killed-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        await (try await Numberd.prepare(configuration, logger: quietLogger)).close()
        func copies() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
                $0.hasPrefix(".numberd-verify-")
            }
        }
        for round in 0..<2 {
            let child = SpawnedProcess()
            child.executableURL = URL(fileURLWithPath: try BuiltProduct.path("numberd"))
            child.arguments = ["verify", "--data-dir", directory]
            child.standardOutput = FileHandle.nullDevice
            child.standardError = FileHandle.nullDevice
            // Killed once its copy is made (it used to be caught on a FIFO in the store, which verify now leaves out).
            child.environment = ProcessInfo.processInfo.environment.merging([
                CrashPoint.environmentVariable: CrashPoint.afterVerifyCopy.rawValue
            ]) { $1 }
            try child.run()
            _ = await ChildExit.wait(child, timeout: .seconds(60))
            #expect(copies().count == 2, "the killed verify left its copy and its owner file: \(copies())")
            if round == 0 {
                // numberd's start removes it.
                await (try await Numberd.prepare(configuration, logger: quietLogger)).close()
                #expect(copies().isEmpty, "\(copies())")
            } else {
                // So does the next verify (whose own copy is gone when it ends).
                let verified = try await runNumberdVerify(dataDirectory: directory)
                #expect(verified.status == 0, "\(verified.output)")
                #expect(copies().isEmpty, "\(copies())")
            }
        }
    }
}
