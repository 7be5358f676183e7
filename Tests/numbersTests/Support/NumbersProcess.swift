import Foundation
import Synchronization
import TestSupport

/// What one run of the `numbers` executable did.
struct NumbersRun: Sendable {
    /// Its exit status.
    var status: Int32
    /// Everything it printed on standard output.
    var stdout: String
    /// Everything it printed on standard error.
    var stderr: String
}

/// Runs the built `numbers` executable with `arguments` and waits for it to exit. Its data directory is an empty
/// temporary one, so no local admin key or CA is found: the arguments must name the server, key and CA.
/// `input` is its whole standard input (default none: a question it asks reads end of input); `environment` is added
/// to (and may replace) what it inherits, its data directory (`NUMBERD_DATA_DIR`) included. `output`, when given, is
/// its standard output instead of a pipe (`/dev/full`: a result that cannot be written); its `stdout` is then empty.
func runNumbers(
    _ arguments: [String], input: String = "", environment: [String: String] = [:], output: FileHandle? = nil
) async throws -> NumbersRun {
    try await RunningNumbers(arguments, input: input, environment: environment, output: output).finish()
}

/// The built `numbers` executable started as a child process (as `runNumbers` runs it), for tests that act on it
/// while it runs: send it a signal, or leave its standard input open and unanswered.
final class RunningNumbers {
    let process = SpawnedProcess()
    let arguments: [String]
    private let stdout = Pipe()
    private let stderr = Pipe()
    private let stdin = Pipe()
    /// What it printed so far, read as it comes (a test can wait for a line), each until end of file.
    private let printed = (stdout: Output(), stderr: Output())

    /// Starts `numbers` with `arguments`; `input` is written to its standard input, which is then closed. With nil
    /// its standard input stays open and unwritten until it ends (a question it asks waits for an answer).
    /// `environment` is added to the inherited one (without its `NUMBERS_` variables) and the empty data directory.
    /// `ignoringHangUp`: started with SIGHUP ignored, as `nohup` starts it (through `sh`, which execs it). `output`:
    /// its standard output instead of a pipe, nothing read from it.
    init(
        _ arguments: [String], input: String? = nil, environment added: [String: String] = [:],
        ignoringHangUp: Bool = false, output: FileHandle? = nil
    ) throws {
        self.arguments = arguments
        let numbers = try BuiltProduct.path("numbers")
        if ignoringHangUp {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "trap '' HUP; exec \"$0\" \"$@\"", numbers] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: numbers)
            process.arguments = arguments
        }
        let dataDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("numbers-data-\(UUID())").path
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NUMBERS_") }
        environment["NUMBERD_DATA_DIR"] = dataDirectory
        environment.merge(added) { _, new in new }
        process.environment = environment
        process.standardOutput = output ?? stdout
        process.standardError = stderr
        process.standardInput = stdin
        try process.run()
        if output == nil {
            printed.stdout.read(stdout.fileHandleForReading)
        } else {
            printed.stdout.end()
        }
        printed.stderr.read(stderr.fileHandleForReading)
        if let input {
            try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
    }

    /// Sends it `signal`.
    func send(_ signal: Int32) {
        process.send(signal)
    }

    /// Waits (up to 60 s) until it has printed `text` on stderr; false if it did not.
    func waitForStderr(_ text: String) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if printed.stderr.text.contains(text) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Waits for it to exit and returns what it did.
    func finish() async throws -> NumbersRun {
        // Bounded: a CLI that hangs must fail its test, not the run.
        guard let ending = await ChildExit.wait(process, timeout: .seconds(120)) else {
            process.send(SIGKILL)
            throw NumbersProcessTimeout(arguments: arguments)
        }
        // Its output is complete at end of file, which a child of its own holding the pipes could delay: bounded.
        let deadline = ContinuousClock.now + .seconds(10)
        while !(printed.stdout.ended && printed.stderr.ended), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        return NumbersRun(status: ending.status, stdout: printed.stdout.text, stderr: printed.stderr.text)
    }

    /// One output stream of the child, read on a thread of its own until end of file.
    final class Output: Sendable {
        private let state = Mutex((data: Data(), ended: false))

        /// Everything read so far, as text.
        var text: String { String(decoding: state.withLock { $0.data }, as: UTF8.self) }
        /// Whether end of file was read.
        var ended: Bool { state.withLock { $0.ended } }

        /// Marks it read to its end without reading anything: the child's stream went elsewhere.
        func end() { state.withLock { $0.ended = true } }

        /// Starts reading `handle` until end of file.
        func read(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                while case let chunk = handle.availableData, !chunk.isEmpty {
                    state.withLock { $0.data.append(chunk) }
                }
                state.withLock { $0.ended = true }
            }
        }
    }
}

/// The CLI did not exit within its bound.
struct NumbersProcessTimeout: Error, CustomStringConvertible {
    let arguments: [String]
    var description: String { "numbers \(arguments.joined(separator: " ")) did not exit within 120 s" }
}
