import Foundation
import NumberAPI
import NumberClient
import NumberDaemon
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// numberd as the service user it is meant to run as, not root. Every socket of numberd, its client, the simulator and
/// the load harness was made with `.socketOption(.tcp_nodelay)`, which NIO sets at SOL_SOCKET: option 1 there is
/// SO_DEBUG, which needs CAP_NET_ADMIN. As root (every test here) nothing showed; as any other user numberd stopped at
/// its first incoming connection (`setsockopt … Permission denied`) and the client could reach no server.
@Suite("numberd as an unprivileged user")
struct UnprivilegedUserTests {
    @Test(
        "run as nobody, numberd serves calls over TLS, writes its store and reaches the simulator",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func servesAsNobody() async throws {
        let port = try freeLoopbackPort()
        let child = try ServingChild(arguments: ["--listen", "127.0.0.1:\(port)"], unprivileged: true)
        do {
            try await child.waitUntilServing()
            let status = try String(contentsOfFile: "/proc/\(child.process.processIdentifier)/status", encoding: .utf8)
            #expect(status.contains("\nUid:\t65534\t65534\t65534\t65534\n"), "\(status)")
            let key = try String(contentsOfFile: child.dataDirectory + "/admin.key", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let configuration = NumbersClientConfiguration(
                host: "127.0.0.1", port: port, apiKey: key, trustRoots: .file(child.dataDirectory + "/tls/ca.pem"))
            try await withNumbersClient(configuration) { client in
                let health = try await client.healthCheck(HealthCheckRequest())
                #expect(health.status == .serving)
                let account = try await client.createAccount(CreateAccountRequest(name: "Nobody's", currency: "USD"))
                #expect(account.account.id.hasPrefix("ACC_"))
                // Through the Twilio adapter to the in-process simulator, whose sockets had the same option.
                let found = try await client.searchNumbers(
                    SearchNumbersRequest(accountId: account.account.id, country: "US", limit: 1))
                #expect(found.numbers.count == 1)
            }
            #expect(child.process.isRunning, "\(child.standardOutput)")
        } catch {
            await child.stop()
            throw error
        }
        await child.stop()
    }

    /// `sudo numberd serve --data-dir /var/lib/numberd`, the unit stopped, rewrote `clock`, `downtimes`, the
    /// simulator's state, snapshots and certificates as root's (mode 0600): the service's user could no longer read
    /// them, and its next start was refused (or, with Twilio, forgot the earlier downtimes). As root on a data
    /// directory another user owns, the start is now refused before it writes anything, as `numberd verify` is.
    @Test(
        "as root on another user's data directory, numberd serve is refused and writes nothing",
        .enabled(if: getuid() == 0))
    func rootOnAnotherUsersDirectoryIsRefused() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-owner-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        let served = try await Numberd.prepare(configuration, logger: quietLogger)
        await served.close()
        // An hour back: a start that went on would move the mark to now and record the time since as a downtime.
        let now = Int64(Date().timeIntervalSince1970)
        let clock = "\(now - 3_600)\n"
        let downtimes = "\(now - 7_200) \(now - 5_400)\n"
        try clock.write(toFile: directory + "/clock", atomically: false, encoding: .utf8)
        try downtimes.write(toFile: directory + "/downtimes", atomically: false, encoding: .utf8)
        // The service user's directory, as systemd's StateDirectory= leaves it.
        let entries = [""] + (FileManager.default.subpaths(atPath: directory) ?? []).map { "/" + $0 }
        for entry in entries { #expect(lchown(directory + entry, 65_534, 65_534) == 0, "\(entry)") }

        let environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("NUMBERD_") && !$0.key.hasPrefix("TWILIO_")
        }
        let result = try await ChildProcess.run(
            try BuiltProduct.path("numberd"),
            ["serve", "--data-dir", directory, "--listen", "127.0.0.1:0", "--metrics-listen", "off"],
            environment: environment, timeout: .seconds(60))
        #expect(!result.timedOut && result.status == 1, "\(result.text)")
        #expect(result.text.contains("belongs to user id 65534"), "\(result.text)")
        #expect(result.text.contains("sudo -u"), "\(result.text)")
        #expect(try String(contentsOfFile: directory + "/clock", encoding: .utf8) == clock)
        #expect(try String(contentsOfFile: directory + "/downtimes", encoding: .utf8) == downtimes)
        // Nothing made, and nothing replaced, as root's.
        let after = [""] + (FileManager.default.subpaths(atPath: directory) ?? []).map { "/" + $0 }
        #expect(Set(after) == Set(entries), "\(Set(after).symmetricDifference(entries))")
        for entry in after {
            var status = stat()
            #expect(lstat(directory + entry, &status) == 0 && status.st_uid == 65_534, "\(entry)")
        }
    }

    /// A container run as root on a volume whose mount point another uid owns has served there as root: its store
    /// and files are root's, and the start goes on (judged by `store/`, not the folder above it). The same folder
    /// with no `store/` yet is refused: a first start would fill another user's folder with root's files.
    @Test(
        "as root, a store/ of root's in a folder another user owns is served; with no store/ yet, refused",
        .enabled(if: getuid() == 0))
    func rootsStoreInAnotherUsersFolder() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-mount-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        await (try await Numberd.prepare(configuration, logger: quietLogger)).close()
        #expect(lchown(directory, 65_534, 65_534) == 0)
        await (try await Numberd.prepare(configuration, logger: quietLogger)).close()
        let fresh = directory + "/fresh"
        #expect(mkdir(fresh, 0o700) == 0 && lchown(fresh, 65_534, 65_534) == 0)
        var freshConfiguration = configuration
        freshConfiguration.dataDirectory = fresh
        await #expect(throws: ConfigurationError.self) {
            await (try await Numberd.prepare(freshConfiguration, logger: quietLogger)).close()
        }
        #expect((FileManager.default.subpaths(atPath: fresh) ?? []).isEmpty, "nothing written in the fresh folder")
    }

    /// A store on a mount point that root owns and numberd's group may write in (root:numberd 0770) is the operator's:
    /// numberd serves it as its own user, leaving the folder's owner and mode as they are (chmod there failed the
    /// start). Only root is refused a folder of another user (above).
    @Test(
        "run as nobody, numberd serves a store/ of root's that its group may write in, its mode left as it is",
        .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func servesAStoreItsGroupMayWriteIn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-mount-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        #expect(chown(directory, 65_534, 65_534) == 0 && chmod(directory, 0o700) == 0)
        #expect(chown(directory + "/store", 0, 65_534) == 0 && chmod(directory + "/store", 0o770) == 0)
        let port = try freeLoopbackPort()
        let child = try ServingChild(
            arguments: ["--listen", "127.0.0.1:\(port)"], unprivileged: true, dataDirectory: directory)
        var status = stat()
        do {
            try await child.waitUntilServing()
            #expect(stat(directory + "/store", &status) == 0)
        } catch {
            await child.stop()
            throw error
        }
        await child.stop(keepingDataDirectory: true)
        #expect(status.st_uid == 0 && status.st_gid == 65_534, "\(status.st_uid):\(status.st_gid)")
        #expect(status.st_mode & 0o777 == 0o770, "\(String(status.st_mode & 0o777, radix: 8))")

        // numberd's user verifies and backs up the store it served there: the folder's owner (root) refused both.
        let numberd = try Self.binaryCopy()
        defer { try? FileManager.default.removeItem(atPath: (numberd as NSString).deletingLastPathComponent) }
        let verified = try await Self.runAsNobody(numberd, ["verify", "--data-dir", directory])
        #expect(verified.status == 0, "\(verified.output)")
        let backedUp = try await Self.runAsNobody(numberd, ["backup", "--data-dir", directory])
        #expect(backedUp.status == 0, "\(backedUp.output)")
        // Root may not serve it: the store is numberd's user's, whoever owns the folder (it was root's to serve).
        let before = try Self.owners(directory + "/store")
        let refused = await #expect(throws: ConfigurationError.self) {
            await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        }
        #expect(
            refused?.description.contains("store/FORMAT belongs to user id 65534") == true,
            "\(String(describing: refused))")
        #expect(try Self.owners(directory + "/store") == before, "nothing written as root")
    }

    /// A store whose folder and files are another user's but whose `FORMAT` is root's (`sudo cp` of it from a backup,
    /// as the damaged-FORMAT advice says, without `-a`), or whose `FORMAT` is a link (which that user could point at a
    /// file of root's), is not root's to serve: root would write its 0600 files among the other user's.
    @Test(
        "as root, a store of another user's is refused even with a FORMAT of root's, or a FORMAT that is a link",
        .enabled(if: getuid() == 0))
    func rootsFormatInAnotherUsersStore() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-format-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        let store = directory + "/store"
        for path in [store] + (try FileManager.default.contentsOfDirectory(atPath: store)).map({ store + "/" + $0 }) {
            #expect(lchown(path, 65_534, 65_534) == 0, "\(path)")
        }
        #expect(lchown(store + "/FORMAT", 0, 0) == 0)
        let before = try Self.owners(store)
        let refused = await #expect(throws: ConfigurationError.self) {
            await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        }
        #expect(
            refused?.description.contains("store belongs to user id 65534") == true, "\(String(describing: refused))")
        #expect(try Self.owners(store) == before, "nothing written as root")

        // FORMAT a link to a file of root's with the same text.
        let copy = directory + "/format-copy"
        try FileManager.default.copyItem(atPath: store + "/FORMAT", toPath: copy)
        try FileManager.default.removeItem(atPath: store + "/FORMAT")
        try FileManager.default.createSymbolicLink(atPath: store + "/FORMAT", withDestinationPath: copy)
        #expect(lchown(store, 0, 0) == 0)
        let linked = await #expect(throws: ConfigurationError.self) {
            await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        }
        #expect(linked?.description.contains("not a regular file") == true, "\(String(describing: linked))")
    }

    /// A store root served whose files are partly another user's (a store root served, then its user, under the
    /// folder-owner rule): refused naming the files and the chown that mends it, not failed later on one it cannot use.
    @Test(
        "as root, a store of root's holding a file of another user's is refused, naming it", .enabled(if: getuid() == 0)
    )
    func storeWithFilesOfTwoOwners() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-mixed-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        let store = directory + "/store"
        let segment = try #require(
            try FileManager.default.contentsOfDirectory(atPath: store).first { $0.hasPrefix("journal-") })
        #expect(lchown(store + "/" + segment, 65_534, 65_534) == 0)
        // A mount point's lost+found, root's or another's, is not the store's.
        #expect(mkdir(store + "/lost+found", 0o700) == 0 && lchown(store + "/lost+found", 12_345, 12_345) == 0)
        let refused = await #expect(throws: ConfigurationError.self) {
            await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
        }
        let message = refused?.description ?? ""
        #expect(message.contains("\(segment) (user id 65534)") && message.contains("chown"), "\(message)")
        #expect(!message.contains("lost+found"), "\(message)")
        #expect(lchown(store + "/" + segment, 0, 0) == 0)
        await (try await Numberd.prepare(Self.configuration(directory), logger: quietLogger)).close()
    }

    /// numberd's configuration for `directory`: no ports of its own.
    private static func configuration(_ directory: String) -> NumberdConfiguration {
        var configuration = NumberdConfiguration(dataDirectory: directory)
        configuration.listen.port = 0
        configuration.metricsListen = nil
        return configuration
    }

    /// The owner of each file in `folder`, and of the folder itself ("").
    private static func owners(_ folder: String) throws -> [String: uid_t] {
        var owners: [String: uid_t] = [:]
        for name in [""] + (try FileManager.default.contentsOfDirectory(atPath: folder)) {
            var status = stat()
            if lstat(folder + "/" + name, &status) == 0 { owners[name] = status.st_uid }
        }
        return owners
    }

    /// A copy of the built numberd in a folder anyone may enter (the build folder's parents may not be).
    private static func binaryCopy() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-bin-\(UUID())").path
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        try FileManager.default.copyItem(atPath: try BuiltProduct.path("numberd"), toPath: folder + "/numberd")
        return folder + "/numberd"
    }

    /// A run's exit status (nil: it did not exit) and what it printed.
    private typealias NobodyRun = (status: Int32?, output: String)

    /// Runs `numberd` with `arguments` as uid/gid 65534 (nobody) through `setpriv`; its exit status and output.
    private static func runAsNobody(_ numberd: String, _ arguments: [String]) async throws -> NobodyRun {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-out-\(UUID())").path
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: output) }
        let child = SpawnedProcess()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        child.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", numberd] + arguments
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        child.standardOutput = handle
        child.standardError = handle
        try child.run()
        let ending = await ChildExit.wait(child, timeout: .seconds(300))
        try handle.close()
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard case .exited(let status) = ending else { return (nil, "\(String(describing: ending)): \(printed)") }
        return (status, printed)
    }
}
