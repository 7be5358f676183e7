import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// TestSupport's `SpawnedProcess`, which starts every child process of the tests in place of Foundation's `Process`
/// (whose `run()` could crash the test process): how children end, their standard streams, what they inherit.
@Suite("SpawnedProcess")
struct SpawnedProcessTests {
    /// `/bin/sh -c script`, streams as given (the test process's own when nil).
    private func shell(_ script: String) -> SpawnedProcess {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.standardInput = FileHandle.nullDevice
        return process
    }

    /// Waits (at most 60 s) for `process` to end.
    private func ending(_ process: SpawnedProcess) async throws -> ChildExit.Ending {
        try #require(await ChildExit.wait(process, timeout: .seconds(60)))
    }

    /// Everything left in `pipe`, read after its writers are gone (no wait past end of file).
    private func text(_ pipe: Pipe) -> String {
        String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test("an exit status is reported as Foundation reports it")
    func exitStatus() async throws {
        let process = shell("exit 3")
        #expect(!process.isRunning)
        #expect(process.processIdentifier == 0)
        try process.run()
        #expect(process.processIdentifier > 0)
        #expect(try await ending(process) == .exited(3))
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 3)
        #expect(process.terminationReason == .exit)
        // Kept once reaped: asking again gives the same answer.
        #expect(process.ending == .exited(3))
    }

    @Test("a child ended by a signal reports the signal's number")
    func signalled() async throws {
        let process = shell("kill -TERM $$; sleep 10")
        try process.run()
        #expect(try await ending(process) == .signalled(SIGTERM))
        #expect(process.terminationStatus == 15)
        #expect(process.terminationReason == .uncaughtSignal)
    }

    @Test("terminate() sends SIGTERM; the child leads a process group of its own, as with Foundation's Process")
    func terminateAndProcessGroup() async throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        try process.run()
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // pid (comm) state ppid pgrp …
        let fields = stat[stat.index(after: try #require(stat.lastIndex(of: ")")))...].split(separator: " ")
        #expect(fields.count > 2 && fields[2] == "\(process.processIdentifier)", "\(stat)")
        #expect(process.isRunning)
        process.terminate()
        #expect(try await ending(process) == .signalled(SIGTERM))
        // Reaped: a later signal goes nowhere (the pid may be another process's by now).
        process.send(SIGKILL)
        #expect(process.ending == .signalled(SIGTERM))
    }

    @Test("standard output and standard error through pipes, separate or one shared")
    func outputThroughPipes() async throws {
        let separate = shell("echo out; echo err >&2")
        let output = Pipe()
        let errors = Pipe()
        separate.standardOutput = output
        separate.standardError = errors
        try separate.run()
        #expect(try await ending(separate) == .exited(0))
        #expect(text(output) == "out\n")
        #expect(text(errors) == "err\n")

        let merged = shell("echo out; echo err >&2")
        let both = Pipe()
        merged.standardOutput = both
        merged.standardError = both
        try merged.run()
        #expect(try await ending(merged) == .exited(0))
        #expect(text(both) == "out\nerr\n")
    }

    @Test("standard input from a pipe, to end of file")
    func inputFromPipe() async throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/cat")
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        try input.fileHandleForWriting.write(contentsOf: Data("ping\n".utf8))
        try input.fileHandleForWriting.close()
        #expect(try await ending(process) == .exited(0))
        #expect(text(output) == "ping\n")
    }

    @Test("the environment given is the child's whole environment; nil gives it the test process's")
    func environment() async throws {
        let given = SpawnedProcess()
        given.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        given.environment = ["SPAWNED_PROCESS_TEST": "given"]
        let output = Pipe()
        given.standardOutput = output
        try given.run()
        #expect(try await ending(given) == .exited(0))
        #expect(text(output) == "SPAWNED_PROCESS_TEST=given\n")

        let inherited = shell("printf %s \"$PATH\"")
        let inheritedOutput = Pipe()
        inherited.standardOutput = inheritedOutput
        try inherited.run()
        #expect(try await ending(inherited) == .exited(0))
        #expect(text(inheritedOutput) == ProcessInfo.processInfo.environment["PATH"] ?? "")
    }

    @Test("currentDirectoryURL is the child's working directory")
    func workingDirectory() async throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/pwd")
        process.currentDirectoryURL = URL(fileURLWithPath: "/")
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        #expect(try await ending(process) == .exited(0))
        #expect(text(output) == "/\n")
    }

    @Test("a missing executable throws from run(), with ENOENT")
    func missingExecutable() throws {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/nonexistent/spawned-process-test")
        let error = #expect(throws: SpawnedProcess.SpawnError.self) { try process.run() }
        #expect(error?.code == ENOENT, "\(String(describing: error))")
        #expect(!process.isRunning)
        #expect(process.processIdentifier == 0)
    }

    @Test("the child gets descriptors 0-2 only: not a pipe of the test process opened without close-on-exec")
    func noInheritedDescriptors() async throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        var writeEndOpen = true
        defer {
            close(ends[0])
            if writeEndOpen { close(ends[1]) }
        }
        // What the child has open: ls lists /proc/self/fd with its own descriptor for that directory (3).
        let listing = SpawnedProcess()
        listing.executableURL = URL(fileURLWithPath: "/bin/ls")
        listing.arguments = ["/proc/self/fd"]
        let output = Pipe()
        listing.standardOutput = output
        try listing.run()
        #expect(try await ending(listing) == .exited(0))
        let descriptors = text(output).split(separator: "\n").compactMap { Int32($0) }
        #expect(descriptors == [0, 1, 2, 3], "\(descriptors); the test's pipe is \(ends)")

        // A child still running holds no copy of the write end: its reader sees end of file once the test closes it.
        let sleeper = SpawnedProcess()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        defer {
            sleeper.send(SIGKILL)
            ChildExit.waitBlocking(sleeper, timeout: .seconds(10))
        }
        close(ends[1])
        writeEndOpen = false
        var watch = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        #expect(poll(&watch, 1, 10_000) == 1)
        var byte: UInt8 = 0
        #expect(read(ends[0], &byte, 1) == 0, "end of file")
        #expect(sleeper.isRunning)
    }

    @Test("the child starts with no signal blocked or ignored, though the test process ignores SIGPIPE")
    func defaultSignals() async throws {
        // NIO ignores SIGPIPE in this process anyway.
        signal(SIGPIPE, SIG_IGN)
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: "/bin/grep")
        process.arguments = ["-E", "^Sig(Blk|Ign):", "/proc/self/status"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        #expect(try await ending(process) == .exited(0))
        let masks = Dictionary(
            uniqueKeysWithValues: text(output).split(separator: "\n").compactMap { line -> (String, UInt64)? in
                let parts = line.split(separator: ":")
                guard parts.count == 2 else { return nil }
                return (String(parts[0]), UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) ?? .max)
            })
        #expect(masks["SigBlk"] == 0, "\(masks)")
        // Signals 1-31 (SIGPIPE is 13) at their default action. glibc's posix_spawn leaves its own two internal
        // signals (32 and 33, for thread cancellation and set*id) ignored in every child it starts (Foundation's
        // too): no program uses them but glibc, which installs its handlers for them when it needs them.
        #expect(masks["SigIgn"].map { $0 & 0x7FFF_FFFF } == 0, "\(masks)")
    }

    @Test("waitUntilExit() blocks until the child has ended")
    func waitUntilExit() throws {
        let process = shell("sleep 0.2; exit 7")
        try process.run()
        process.waitUntilExit()
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 7)
    }
}
