import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Running a short-lived child process to completion from an async test without blocking a cooperative thread.
///
/// Swift's cooperative pool has one thread per core (two in CI): a test that blocks one in `readDataToEndOfFile()` or
/// a sleeping wait stalls every other async task in the process (an in-process server's periodic work, client
/// deadlines, polling loops). Here the output is read on a dedicated thread, the exit is awaited by polling
/// (``ChildExit``), and a child still running at the deadline is SIGKILLed, so a hung child fails the test instead
/// of hanging the run.
///
/// ```swift
/// let result = try await ChildProcess.run("/usr/bin/openssl", ["version"])
/// #expect(result.status == 0, "\(result.text)")
/// ```
public enum ChildProcess {
    /// Where the child's standard error goes.
    public enum StandardError: Sendable {
        /// Into the same pipe as standard output (``Result/output`` has both, interleaved as written).
        case merged
        /// To /dev/null.
        case discarded
    }

    /// How a child ended and what it printed.
    public struct Result: Sendable {
        /// How it ended; `.signalled(SIGKILL)` when it was killed at the deadline (``timedOut``).
        public var ending: ChildExit.Ending
        /// Whether it was still running at the deadline and was killed.
        public var timedOut: Bool
        /// Its standard output (and standard error when merged).
        public var output: Data
        /// ``output`` as UTF-8 text.
        public var text: String { String(decoding: output, as: UTF8.self) }
        /// The exit status, or the signal's number (``ChildExit/Ending/status``).
        public var status: Int32 { ending.status }
    }

    /// The child did not end even after SIGKILL.
    public struct DidNotEnd: Error, CustomStringConvertible {
        /// The command that was run.
        public var command: [String]
        /// What to report.
        public var description: String { "\(command.joined(separator: " ")) did not end, even after SIGKILL" }
    }

    /// Runs `executable` with `arguments` until it exits, at most `timeout` (then SIGKILL).
    ///
    /// - Parameters:
    ///   - environment: the child's whole environment; nil inherits the test's.
    ///   - input: written to its standard input (then closed) from another thread; nil gives it /dev/null.
    ///   - standardError: merged into the output, or discarded.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil, input: Data? = nil,
        standardError: StandardError = .merged, timeout: Duration = .seconds(120)
    ) async throws -> Result {
        let process = SpawnedProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let stdin = input.map { _ in Pipe() }
        process.standardInput = stdin ?? FileHandle.nullDevice
        let stdout = Pipe()
        process.standardOutput = stdout
        switch standardError {
        case .merged: process.standardError = stdout
        case .discarded: process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let collected = Collected()
        startReading(stdout.fileHandleForReading, into: collected)
        if let input, let stdin { startWriting(input, to: stdin.fileHandleForWriting) }

        var timedOut = false
        var ending = await ChildExit.wait(process, timeout: timeout)
        if ending == nil {
            timedOut = true
            process.send(SIGKILL)
            ending = await ChildExit.wait(process, timeout: .seconds(10))
        }
        guard let ending else { throw DidNotEnd(command: [executable] + arguments) }
        // The reader reaches EOF just after the exit; bounded in case a grandchild kept the pipe open.
        let readEnd = ContinuousClock.now + .seconds(10)
        while !collected.state.withLock({ $0.finished }), ContinuousClock.now < readEnd {
            try? await Task.sleep(for: .milliseconds(5))
        }
        return Result(ending: ending, timedOut: timedOut, output: collected.state.withLock { $0.data })
    }

    /// Bytes read so far, and whether the reader saw EOF.
    private final class Collected: Sendable {
        let state = Mutex<(data: Data, finished: Bool)>((Data(), false))
    }

    /// Reads `handle` to EOF on a thread of its own (not a cooperative one), then closes it.
    private static func startReading(_ handle: FileHandle, into collected: Collected) {
        let descriptor = handle.fileDescriptor
        let box = UncheckedHandle(handle)
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(descriptor, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                collected.state.withLock { $0.data.append(contentsOf: buffer[..<count]) }
            }
            try? box.handle.close()
            collected.state.withLock { $0.finished = true }
        }
    }

    /// Writes `data` then closes `handle`, on a thread of its own: a child that does not read would block the write.
    /// A child that already exited makes the write fail (EPIPE): ignored, the caller checks what it printed.
    private static func startWriting(_ data: Data, to handle: FileHandle) {
        let box = UncheckedHandle(handle)
        Thread.detachNewThread {
            try? box.handle.write(contentsOf: data)
            try? box.handle.close()
        }
    }

    /// A `FileHandle` handed to exactly one thread, which alone uses it from then on.
    private struct UncheckedHandle: @unchecked Sendable {
        let handle: FileHandle
        init(_ handle: FileHandle) { self.handle = handle }
    }
}
