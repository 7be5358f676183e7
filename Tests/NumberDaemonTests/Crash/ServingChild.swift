import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// `numberd` on its own defaults (the in-process simulator, a fresh data directory, any free port) as a child
/// process, with its standard output a pipe (as under systemd or Docker) or a terminal (a pseudo-terminal, as
/// `swift run numberd` in a shell), read until it prints that it serves.
final class ServingChild {
    let process = SpawnedProcess()
    let dataDirectory: String
    /// The folder of the binary's copy an unprivileged child runs, removed at `stop()`.
    private var binaryCopy: String?
    /// What it printed on standard output so far.
    private let output = Printed()

    /// Bytes read on another thread.
    private final class Printed: Sendable {
        let data = Mutex(Data())
    }

    /// Starts numberd with `arguments` after the defaults; `terminal`: standard output is a pseudo-terminal;
    /// `coreLimitBlocks`: the soft RLIMIT_CORE it starts with, in `ulimit -c` blocks (set by `sh` before it execs
    /// numberd, so the pid is numberd's); `environment` added to the test's (without its `NUMBERD_` and `TWILIO_` variables).
    /// `unprivileged`: run as uid/gid 65534 (nobody) through `setpriv`, from a copy of the binary in a folder anyone
    /// may enter (the build folder's parents may not be), with `--listen` in `arguments`. `dataDirectory`: an existing
    /// one (a restart) instead of a fresh one; `fileSizeLimitBlocks`: the soft RLIMIT_FSIZE it starts with (`ulimit -f`).
    init(
        arguments: [String] = [], terminal: Bool = false, coreLimitBlocks: Int? = nil,
        environment added: [String: String] = [:], unprivileged: Bool = false, dataDirectory reused: String? = nil,
        fileSizeLimitBlocks: Int? = nil
    ) throws {
        precondition(
            [coreLimitBlocks != nil, fileSizeLimitBlocks != nil, unprivileged].filter { $0 }.count <= 1,
            "one of coreLimitBlocks, fileSizeLimitBlocks and unprivileged at most")
        dataDirectory =
            reused ?? FileManager.default.temporaryDirectory.appendingPathComponent("numberd-serving-\(UUID())").path
        var numberd = try BuiltProduct.path("numberd")
        let command =
            ["serve", "--data-dir", dataDirectory, "--listen", "127.0.0.1:0", "--metrics-listen", "off"] + arguments
        if unprivileged {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-bin-\(UUID())").path
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
            try FileManager.default.copyItem(atPath: numberd, toPath: folder + "/numberd")
            binaryCopy = folder
            numberd = folder + "/numberd"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", numberd] + command
        } else if let coreLimitBlocks {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -S -c \(coreLimitBlocks) && exec \"$0\" \"$@\"", numberd] + command
        } else if let fileSizeLimitBlocks {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "ulimit -S -f \(fileSizeLimitBlocks) && exec \"$0\" \"$@\"", numberd] + command
        } else {
            process.executableURL = URL(fileURLWithPath: numberd)
            process.arguments = command
        }
        var environment = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("NUMBERD_") && !$0.key.hasPrefix("TWILIO_")
        }
        environment.merge(added) { _, new in new }
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let reader: FileHandle
        if terminal {
            let pty = try PseudoTerminal.functions()
            let primary = pty.open(O_RDWR | O_NOCTTY)
            guard primary >= 0, pty.grant(primary) == 0, pty.unlock(primary) == 0, let name = pty.name(primary) else {
                throw HarnessError("no pseudo-terminal: \(String(cString: strerror(errno)))")
            }
            let secondary = open(String(cString: name), O_RDWR | O_NOCTTY)
            guard secondary >= 0 else { throw HarnessError("cannot open \(String(cString: name))") }
            process.standardOutput = FileHandle(fileDescriptor: secondary, closeOnDealloc: true)
            reader = FileHandle(fileDescriptor: primary, closeOnDealloc: true)
        } else {
            let pipe = Pipe()
            process.standardOutput = pipe
            reader = pipe.fileHandleForReading
        }
        try process.run()
        if terminal {
            // Only the child holds the terminal's other end now: reading ends (EIO) when it exits.
            try (process.standardOutput as? FileHandle)?.close()
        }
        Thread.detachNewThread { [output] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(reader.fileDescriptor, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                output.data.withLock { $0.append(contentsOf: buffer[..<count]) }
            }
            try? reader.close()
        }
    }

    /// Everything it printed on standard output so far.
    var standardOutput: String { String(decoding: output.data.withLock { $0 }, as: UTF8.self) }

    /// Waits (at most 60 s) until it says it serves; throws if it exits or does not say so.
    func waitUntilServing() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !standardOutput.contains("serving nrpc/1") {
            guard process.isRunning, ContinuousClock.now < deadline else {
                throw HarnessError("numberd did not start serving: \(standardOutput)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The soft limit of a line of `/proc/<pid>/limits` (`Max core file size` …): "0", "4194304", "unlimited".
    func softLimit(_ name: String) throws -> String? {
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        guard let line = limits.split(separator: "\n").first(where: { $0.hasPrefix(name) }) else { return nil }
        return line.dropFirst(name.count).split(separator: " ").first.map(String.init)
    }

    /// SIGTERM, then waits for it (SIGKILL after 60 s) and removes its data directory, unless `keepingDataDirectory`.
    func stop(keepingDataDirectory: Bool = false) async {
        process.send(SIGTERM)
        if await ChildExit.wait(process, timeout: .seconds(60)) == nil {
            process.send(SIGKILL)
            _ = await ChildExit.wait(process, timeout: .seconds(10))
        }
        if !keepingDataDirectory { try? FileManager.default.removeItem(atPath: dataDirectory) }
        if let binaryCopy { try? FileManager.default.removeItem(atPath: binaryCopy) }
    }

    deinit {
        if process.isRunning {
            process.send(SIGKILL)
            ChildExit.waitBlocking(process, timeout: .seconds(10))
        }
    }
}

/// glibc's pseudo-terminal calls, which its Swift module does not show (they sit behind `_XOPEN_SOURCE`), looked up
/// by name.
enum PseudoTerminal {
    typealias Open = @convention(c) (Int32) -> Int32
    typealias Name = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?

    static func functions() throws -> (open: Open, grant: Open, unlock: Open, name: Name) {
        func look<F>(_ symbol: String, as type: F.Type) throws -> F {
            guard let address = dlsym(dlopen(nil, RTLD_NOW), symbol) else {
                throw HarnessError("no \(symbol) in this process")
            }
            return unsafeBitCast(address, to: type)
        }
        return (
            try look("posix_openpt", as: Open.self), try look("grantpt", as: Open.self),
            try look("unlockpt", as: Open.self), try look("ptsname", as: Name.self)
        )
    }
}
