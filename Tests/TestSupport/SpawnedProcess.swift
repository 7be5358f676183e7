import CPosixSpawn
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, offering the part of Foundation's `Process` API the tests use, under
/// the same names.
///
/// The tests do not use Foundation's `Process`: on Linux its `run()` (swift-corelibs-foundation before PR #5472) finds
/// the highest open descriptor by copying the whole 256-byte `d_name` of every `/proc/self/fd` entry, although glibc
/// sizes each entry to its `d_reclen`; an entry at the end of readdir's buffer, just before an unmapped page, crashed
/// the whole test process (SIGSEGV in `__memcpy_avx512_unaligned_erms` under `Process.run()`), so the whole suite,
/// which runs in one process and spawns many children, failed now and then.
///
/// What the child gets:
/// - descriptors 0, 1 and 2 as ``standardInput``, ``standardOutput`` and ``standardError`` say (a `Pipe`, a
///   `FileHandle`, `FileHandle.nullDevice`; nil: the test process's own), and no other descriptor of the test process
///   (glibc's `posix_spawn_file_actions_addclosefrom_np`, which uses `close_range`): a pipe's write end inherited by
///   some other child would keep that pipe's reader from ever seeing end of file;
/// - an empty signal mask and every signal at its default action: the test process's threads block signals, and it
///   ignores SIGPIPE (NIO) and may ignore SIGHUP, which a child started from a shell would not;
/// - a process group of its own, as Foundation's `Process` gives it;
/// - ``environment``, or the test process's environment when it is nil;
/// - ``currentDirectoryURL`` as its working directory when set.
///
/// `run()` closes the test process's copies of the child's pipe ends (the read end of a standard input pipe, the write
/// end of an output pipe), as Foundation does, so a reader sees end of file once the child and its own children are
/// done. A spawn that fails (a missing executable: ENOENT) throws ``SpawnError``.
///
/// Only this object waits for its child, by its pid (`waitpid(pid, WNOHANG)` under a lock when asked, the status kept
/// once reaped), so no exit is missed and none is reaped twice; nothing in the tests waits for any child
/// (`waitpid(-1, …)`). A signal is sent only to a child not reaped yet, never to a pid the system may have reused.
/// ``waitUntilExit()`` blocks its thread: async code waits with ``ChildExit/wait(_:timeout:)``.
public final class SpawnedProcess: Sendable {
    /// How a child ended: `Foundation.Process`'s type (`.exit`, `.uncaughtSignal`), so call sites compare as before.
    public typealias TerminationReason = Process.TerminationReason

    /// What `run()` reads, and what it did.
    private struct State {
        var executableURL: URL?
        var arguments: [String] = []
        var environment: [String: String]?
        var currentDirectoryURL: URL?
        var standardInput = Given()
        var standardOutput = Given()
        var standardError = Given()
        var closedStandardDescriptors: Set<Int32> = []
        /// The child's pid once `run()` started it; 0 before.
        var pid: pid_t = 0
        /// How it ended, once reaped.
        var ending: ChildExit.Ending?
    }

    /// A standard stream as set: `Any?` as in `Process`, holding a `Pipe` or `FileHandle` (both thread-safe).
    private struct Given: @unchecked Sendable {
        var value: Any?
    }

    private let state = Mutex(State())

    /// A process to configure, then start with ``run()``.
    public init() {}

    /// The executable (an absolute path: no `PATH` search, as with `Process`).
    public var executableURL: URL? {
        get { state.withLock { $0.executableURL } }
        set { state.withLock { $0.executableURL = newValue } }
    }

    /// The arguments after the executable (whose path is `argv[0]`).
    public var arguments: [String] {
        get { state.withLock { $0.arguments } }
        set { state.withLock { $0.arguments = newValue } }
    }

    /// The child's whole environment; nil gives it the test process's.
    public var environment: [String: String]? {
        get { state.withLock { $0.environment } }
        set { state.withLock { $0.environment = newValue } }
    }

    /// The child's working directory; nil: the test process's.
    public var currentDirectoryURL: URL? {
        get { state.withLock { $0.currentDirectoryURL } }
        set { state.withLock { $0.currentDirectoryURL = newValue } }
    }

    /// Descriptor 0: a `Pipe` (the child reads its read end), a `FileHandle`, `FileHandle.nullDevice`; nil: the test
    /// process's own.
    public var standardInput: Any? {
        get { state.withLock { $0.standardInput.value } }
        set {
            let given = Given(value: newValue)
            state.withLock { $0.standardInput = given }
        }
    }

    /// Descriptor 1: a `Pipe` (the child writes its write end), a `FileHandle`, `FileHandle.nullDevice`; nil: the
    /// test process's own.
    public var standardOutput: Any? {
        get { state.withLock { $0.standardOutput.value } }
        set {
            let given = Given(value: newValue)
            state.withLock { $0.standardOutput = given }
        }
    }

    /// Descriptor 2, as ``standardOutput``.
    public var standardError: Any? {
        get { state.withLock { $0.standardError.value } }
        set {
            let given = Given(value: newValue)
            state.withLock { $0.standardError = given }
        }
    }

    /// Which of descriptors 0, 1 and 2 the child starts with closed, as a shell's `>&- 2>&-` starts it (whatever
    /// ``standardInput``, ``standardOutput`` or ``standardError`` say for them). Default none.
    public var closedStandardDescriptors: Set<Int32> {
        get { state.withLock { $0.closedStandardDescriptors } }
        set { state.withLock { $0.closedStandardDescriptors = newValue } }
    }

    /// The child's pid; 0 before ``run()``.
    public var processIdentifier: Int32 { state.withLock { $0.pid } }

    /// Whether the child was started and has not ended (reaping it if it just did).
    public var isRunning: Bool {
        state.withLock { $0.pid > 0 && Self.reap(&$0) == nil }
    }

    /// How the child ended (reaping it if it just did); nil before ``run()`` and while it runs.
    public var ending: ChildExit.Ending? { state.withLock { Self.reap(&$0) } }

    /// Its exit status, or the number of the signal that ended it, as Foundation reports it; -1 while it runs (where
    /// `Process` traps: a trap would end the whole test run).
    public var terminationStatus: Int32 { ending?.status ?? -1 }

    /// Whether it exited or a signal ended it; `.exit` while it runs.
    public var terminationReason: TerminationReason {
        if case .signalled = ending { return .uncaughtSignal }
        return .exit
    }

    /// Starts the child as configured; throws ``SpawnError`` if it cannot be started (a missing executable: ENOENT),
    /// was started already, or a standard stream is not a `Pipe` or `FileHandle`.
    public func run() throws {
        try state.withLock { (state: inout State) throws(SpawnError) in
            guard state.pid == 0 else { throw SpawnError("already started (pid \(state.pid))") }
            state.pid = try Self.spawn(state)
        }
    }

    /// Blocks the calling thread until the child has ended (polling, never waiting for it twice). From async code use
    /// ``ChildExit/wait(_:timeout:)``, which suspends instead and is bounded.
    public func waitUntilExit() {
        var pause: useconds_t = 1_000
        while isRunning {
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    /// Sends `signal` to the child unless it has not started or was reaped already (its pid may be another
    /// process's by then); a child that ended but was not reaped yet ignores it.
    public func send(_ signal: Int32) {
        state.withLock { state in
            guard state.pid > 0, state.ending == nil else { return }
            _ = kill(state.pid, signal)
        }
    }

    /// SIGTERM (``send(_:)``).
    public func terminate() { send(SIGTERM) }

    /// SIGINT (``send(_:)``).
    public func interrupt() { send(SIGINT) }

    /// A child still running when its object goes is reaped by a thread of its own once it ends (it is not killed,
    /// as with `Process`): it does not stay a zombie for the rest of the run.
    deinit {
        let unreaped = state.withLock { state -> pid_t in
            guard state.pid > 0, Self.reap(&state) == nil else { return 0 }
            return state.pid
        }
        guard unreaped > 0 else { return }
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(unreaped, &status, 0) == -1, errno == EINTR {}
        }
    }

    /// Why a child could not be started.
    public struct SpawnError: Error, CustomStringConvertible {
        /// What went wrong.
        public var message: String
        /// The error number, when a call failed.
        public var code: Int32?

        init(_ message: String, code: Int32? = nil) {
            self.message = message
            self.code = code
        }

        public var description: String {
            guard let code else { return message }
            return "\(message): \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    /// The ending of the child in `state`, reaping it (without blocking) if it has just ended; nil while it runs.
    /// Under the lock, so a child is reaped exactly once.
    private static func reap(_ state: inout State) -> ChildExit.Ending? {
        if let ending = state.ending { return ending }
        guard state.pid > 0 else { return nil }
        var status: Int32 = 0
        while true {
            let result = waitpid(state.pid, &status, WNOHANG)
            if result == 0 { return nil }
            if result == state.pid {
                // WIFSIGNALED and friends are macros Swift does not import: Linux's encoding, decoded as Foundation does.
                let signal = status & 0x7F
                state.ending = signal == 0 ? .exited((status >> 8) & 0xFF) : .signalled(signal)
                return state.ending
            }
            if errno == EINTR { continue }
            // ECHILD: something else reaped it (nothing in the tests should). It is gone; say so with a status no
            // exit can have rather than report it running for ever.
            state.ending = .exited(-1)
            return state.ending
        }
    }

    /// What one of the child's descriptors 0 to 2 is made from.
    private struct ChildStream {
        /// The test process's descriptor the child gets (dup2), nil: the test process's own stays.
        var source: Int32?
        /// The test process's copy of the child's pipe end, closed once the child has it.
        var parentCopy: FileHandle?
    }

    /// Spawns the child `state` describes; its pid.
    private static func spawn(_ state: State) throws(SpawnError) -> pid_t {
        guard let executable = state.executableURL?.path else { throw SpawnError("no executableURL") }
        // Descriptors opened or duplicated here (/dev/null, moves out of 0-2), closed whatever happens.
        var temporary: [Int32] = []
        defer { for descriptor in temporary { close(descriptor) } }
        var nullDevice: Int32?
        func openNullDevice() throws(SpawnError) -> Int32 {
            if let nullDevice { return nullDevice }
            let descriptor = open("/dev/null", O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { throw SpawnError("cannot open /dev/null", code: errno) }
            temporary.append(descriptor)
            nullDevice = descriptor
            return descriptor
        }
        func stream(_ value: Any?, reads: Bool, name: String) throws(SpawnError) -> ChildStream {
            guard let value else { return ChildStream(source: nil, parentCopy: nil) }
            if let pipe = value as? Pipe {
                let childEnd = reads ? pipe.fileHandleForReading : pipe.fileHandleForWriting
                guard childEnd.fileDescriptor >= 0 else { throw SpawnError("\(name): the pipe's end is closed") }
                return ChildStream(source: childEnd.fileDescriptor, parentCopy: childEnd)
            }
            guard let handle = value as? FileHandle else {
                throw SpawnError("\(name) is a \(type(of: value)), not a Pipe or FileHandle")
            }
            if handle === FileHandle.nullDevice { return ChildStream(source: try openNullDevice(), parentCopy: nil) }
            guard handle.fileDescriptor >= 0 else { throw SpawnError("\(name): the file handle is closed") }
            return ChildStream(source: handle.fileDescriptor, parentCopy: nil)
        }
        let streams = [
            try stream(state.standardInput.value, reads: true, name: "standardInput"),
            try stream(state.standardOutput.value, reads: false, name: "standardOutput"),
            try stream(state.standardError.value, reads: false, name: "standardError"),
        ]

        func check(_ code: Int32, _ call: String) throws(SpawnError) {
            guard code == 0 else { throw SpawnError(call, code: code) }
        }
        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, stream) in streams.enumerated() {
            guard var source = stream.source else { continue }
            // A source among 0-2 other than its target (the test's stdout as the child's stderr) could be replaced
            // by an earlier dup2: the child takes a copy from above 2 instead.
            if source < 3, source != Int32(target) {
                let copy = fcntl(source, F_DUPFD_CLOEXEC, 3)
                guard copy >= 0 else { throw SpawnError("fcntl(F_DUPFD_CLOEXEC)", code: errno) }
                temporary.append(copy)
                source = copy
            }
            try check(
                posix_spawn_file_actions_adddup2(&actions, source, Int32(target)), "posix_spawn_file_actions_adddup2")
        }
        for descriptor in state.closedStandardDescriptors.sorted() where (0...2).contains(descriptor) {
            try check(posix_spawn_file_actions_addclose(&actions, descriptor), "posix_spawn_file_actions_addclose")
        }
        try check(c_posix_spawn_file_actions_add_close_from(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")
        if let directory = state.currentDirectoryURL?.path {
            try check(c_posix_spawn_file_actions_add_chdir(&actions, directory), "posix_spawn_file_actions_addchdir_np")
        }

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        try check(posix_spawnattr_setsigmask(&attributes, &noSignals), "posix_spawnattr_setsigmask")
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        try check(posix_spawnattr_setsigdefault(&attributes, &allSignals), "posix_spawnattr_setsigdefault")
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")
        let flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP
        try check(posix_spawnattr_setflags(&attributes, Int16(flags)), "posix_spawnattr_setflags")

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + state.arguments).map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = state.environment.map { environment in
            environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { for variable in envp ?? [] { free(variable) } }
        var pid: pid_t = 0
        let code: Int32
        if let envp {
            code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        } else {
            code = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        guard code == 0 else {
            let directory = state.currentDirectoryURL.map { " in \($0.path)" } ?? ""
            throw SpawnError("cannot run \(executable)\(directory)", code: code)
        }
        // The child has its ends: the test process keeps only its own (a reader then sees EOF when the child is done).
        var closed = Set<ObjectIdentifier>()
        for case let handle? in streams.map(\.parentCopy) where closed.insert(ObjectIdentifier(handle)).inserted {
            try? handle.close()
        }
        return pid
    }
}
