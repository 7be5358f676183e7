import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A file layer that counts calls and injects faults into another one (the POSIX one by default).
///
/// Rules match an operation, optionally a path fragment, and the n-th matching call (each rule counts its own
/// matches); the action fails the call with an errno (ENOSPC, EIO...), delays it, or crashes the process before
/// it, after it, or in the middle of a write (the crash handler defaults to `SIGKILL` on itself, for crash tests
/// run in a child process). Delays add up; of the other actions firing on one call, the first rule's wins.
///
/// ```swift
/// let fs = FaultInjectingFileSystem()
/// fs.addRule(.init(.fdatasync, occurrence: 3, action: .fail(errno: EIO)))
/// ```
public final class FaultInjectingFileSystem: JournalFileSystem {
    /// The operations a rule can target.
    public enum Operation: String, Sendable, Hashable, CaseIterable {
        case open, read, write, fdatasync, truncate, rename, remove, fsyncDirectory, readFile, listDirectory, link,
            makeDirectory,
            removeDirectory, dropCachedPages
    }

    /// What happens when a rule fires.
    public enum Action: Sendable, Hashable {
        /// The call fails with this errno and does nothing.
        case fail(errno: Int32)
        /// The process crashes before the call.
        case crashBefore
        /// The process crashes right after the call succeeded.
        case crashAfter
        /// A write puts only its first `bytes` bytes on disk, then the process crashes.
        case partialWriteThenCrash(bytes: Int)
        /// A write puts only its first `bytes` bytes in the file, then fails with this errno (a disk that fills up
        /// half-way through a write: a short write, then `ENOSPC`).
        case partialWriteThenFail(bytes: Int, errno: Int32)
        /// The call waits this long, then runs (a slow disk: lets appenders pile up behind a sync).
        case delay(milliseconds: Int)
    }

    /// One fault: which call, and what to do.
    public struct Rule: Sendable, Hashable {
        /// The operation it targets.
        public var operation: Operation
        /// Only calls on a file whose name (the last path component, not the directories above it) contains this
        /// fragment match (nil: all).
        public var pathContains: String?
        /// Fires on this matching call (1 = the first).
        public var occurrence: Int
        /// Whether it also fires on every later matching call.
        public var repeats: Bool
        /// What it does.
        public var action: Action

        /// Creates a rule.
        public init(
            _ operation: Operation, pathContains: String? = nil, occurrence: Int = 1, repeats: Bool = false,
            action: Action
        ) {
            self.operation = operation
            self.pathContains = pathContains
            self.occurrence = occurrence
            self.repeats = repeats
            self.action = action
        }
    }

    struct State {
        var rules: [(rule: Rule, seen: Int)] = []
        var counts: [Operation: Int] = [:]
        var paused: Set<Operation> = []
        var availableBytes: Int64?
    }

    let base: any JournalFileSystem
    let crash: @Sendable () -> Void
    let state = Mutex(State())

    /// Wraps `base`; `crash` ends the process (default: `SIGKILL` to itself). If a custom `crash` returns, the
    /// call fails with `EIO` instead, which the journal treats as any I/O failure (fail-stop).
    public init(
        base: any JournalFileSystem = POSIXJournalFileSystem(), rules: [Rule] = [],
        crash: (@Sendable () -> Void)? = nil
    ) {
        self.base = base
        self.crash = crash ?? { _ = kill(getpid(), SIGKILL) }
        state.withLock { $0.rules = rules.map { ($0, 0) } }
    }

    /// Adds a rule.
    public func addRule(_ rule: Rule) {
        state.withLock { $0.rules.append((rule, 0)) }
    }

    /// Removes every rule.
    public func removeAllRules() {
        state.withLock { $0.rules.removeAll() }
    }

    /// Holds every call of `operation` (after counting it) until `resume`: a disk stuck in a sync, released at
    /// the moment a test chooses.
    public func pause(_ operation: Operation) {
        state.withLock { _ = $0.paused.insert(operation) }
    }

    /// Lets held and later calls of `operation` run.
    public func resume(_ operation: Operation) {
        state.withLock { _ = $0.paused.remove(operation) }
    }

    /// How many calls of `operation` were made (including failed ones).
    public func count(_ operation: Operation) -> Int {
        state.withLock { $0.counts[operation, default: 0] }
    }

    /// Counts the call, sleeps for every `delay` rule firing on it, and returns the first other action firing.
    func fire(_ operation: Operation, _ path: String) -> Action? {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let actions = state.withLock { state -> [Action] in
            state.counts[operation, default: 0] += 1
            var actions: [Action] = []
            for index in state.rules.indices {
                let rule = state.rules[index].rule
                guard rule.operation == operation, rule.pathContains.map({ name.contains($0) }) ?? true else {
                    continue
                }
                state.rules[index].seen += 1
                let seen = state.rules[index].seen
                if seen == rule.occurrence || (rule.repeats && seen > rule.occurrence) { actions.append(rule.action) }
            }
            return actions
        }
        while state.withLock({ $0.paused.contains(operation) }) { usleep(1000) }
        var result: Action?
        for action in actions {
            if case .delay(let milliseconds) = action {
                usleep(useconds_t(milliseconds * 1000))
            } else if result == nil {
                result = action
            }
        }
        return result
    }

    /// Runs `body` under the action that fires for this call, if any.
    func run<T>(_ operation: Operation, _ path: String, _ body: () throws -> T) throws -> T {
        switch fire(operation, path) {
        case .none, .partialWriteThenCrash, .partialWriteThenFail, .delay:
            return try body()
        case .fail(let code):
            throw JournalFailure(operation: operation.rawValue, path: path, errno: code)
        case .crashBefore:
            crash()
            throw JournalFailure(operation: "\(operation.rawValue) (crashed before)", path: path, errno: EIO)
        case .crashAfter:
            let result = try body()
            crash()
            _ = result
            throw JournalFailure(operation: "\(operation.rawValue) (crashed after)", path: path, errno: EIO)
        }
    }

    /// See `JournalFileSystem`.
    public func createDirectory(_ path: String) throws { try base.createDirectory(path) }

    /// See `JournalFileSystem`.
    /// Makes ``availableBytes(_:)`` answer `bytes` (nil: the real file system's answer): a disk nearly full.
    public func setAvailableBytes(_ bytes: Int64?) {
        state.withLock { $0.availableBytes = bytes }
    }

    /// See `JournalFileSystem`.
    public func availableBytes(_ path: String) throws -> Int64 {
        try state.withLock { $0.availableBytes } ?? base.availableBytes(path)
    }

    /// See `JournalFileSystem`.
    public func listDirectory(_ path: String) throws -> [String] {
        try run(.listDirectory, path) { try base.listDirectory(path) }
    }

    /// See `JournalFileSystem`.
    public func readFile(_ path: String, limitBytes: Int) throws -> [UInt8] {
        try run(.readFile, path) { try base.readFile(path, limitBytes: limitBytes) }
    }

    /// See `JournalFileSystem`.
    public func open(_ path: String, mode: JournalOpenMode) throws -> JournalFileHandle {
        try run(.open, path) { try base.open(path, mode: mode) }
    }

    /// See `JournalFileSystem`.
    public func read(_ handle: JournalFileHandle, count: Int) throws -> [UInt8] {
        try run(.read, handle.path) { try base.read(handle, count: count) }
    }

    /// See `JournalFileSystem`; `partialWriteThenCrash` writes a prefix and crashes.
    public func write(_ handle: JournalFileHandle, _ bytes: [UInt8]) throws {
        let action = fire(.write, handle.path)
        switch action {
        case .partialWriteThenCrash(let count):
            try base.write(handle, Array(bytes.prefix(max(0, count))))
            crash()
            throw JournalFailure(operation: "write (crashed mid-write)", path: handle.path, errno: EIO)
        case .fail(let code):
            throw JournalFailure(operation: "write", path: handle.path, errno: code)
        case .partialWriteThenFail(let count, let code):
            try base.write(handle, Array(bytes.prefix(max(0, count))))
            throw JournalFailure(operation: "write", path: handle.path, errno: code)
        case .crashBefore:
            crash()
            throw JournalFailure(operation: "write (crashed before)", path: handle.path, errno: EIO)
        case .crashAfter:
            try base.write(handle, bytes)
            crash()
            throw JournalFailure(operation: "write (crashed after)", path: handle.path, errno: EIO)
        case .none, .delay:
            try base.write(handle, bytes)
        }
    }

    /// See `JournalFileSystem`.
    public func fdatasync(_ handle: JournalFileHandle) throws {
        try run(.fdatasync, handle.path) { try base.fdatasync(handle) }
    }

    /// See `JournalFileSystem` (counted; never fails).
    public func dropCachedPages(_ handle: JournalFileHandle) {
        _ = fire(.dropCachedPages, handle.path)
        base.dropCachedPages(handle)
    }

    /// See `JournalFileSystem`.
    public func truncate(_ handle: JournalFileHandle, length: Int) throws {
        try run(.truncate, handle.path) { try base.truncate(handle, length: length) }
    }

    /// See `JournalFileSystem`.
    public func close(_ handle: JournalFileHandle) { base.close(handle) }

    /// See `JournalFileSystem`.
    public func rename(_ from: String, to: String) throws {
        try run(.rename, to) { try base.rename(from, to: to) }
    }

    /// See `JournalFileSystem`.
    public func remove(_ path: String) throws {
        try run(.remove, path) { try base.remove(path) }
    }

    /// See `JournalFileSystem`.
    public func link(_ existing: String, to new: String) throws {
        try run(.link, new) { try base.link(existing, to: new) }
    }

    /// See `JournalFileSystem`; counted, paused and failed as `link`, so a rule on `link` reaches a backup's link
    /// whichever way it is made.
    public func linkOpen(_ handle: JournalFileHandle, to new: String) throws {
        try run(.link, new) { try base.linkOpen(handle, to: new) }
    }

    /// See `JournalFileSystem`.
    public func makeDirectory(_ path: String) throws {
        try run(.makeDirectory, path) { try base.makeDirectory(path) }
    }

    /// See `JournalFileSystem`.
    public func removeDirectory(_ path: String) throws {
        try run(.removeDirectory, path) { try base.removeDirectory(path) }
    }

    /// See `JournalFileSystem`.
    public func fsyncDirectory(_ path: String) throws {
        try run(.fsyncDirectory, path) { try base.fsyncDirectory(path) }
    }

    /// See `JournalFileSystem`.
    public func lockDirectory(_ path: String) throws -> JournalFileHandle { try base.lockDirectory(path) }

    /// See `JournalFileSystem`.
    public func unlockDirectory(_ handle: JournalFileHandle) { base.unlockDirectory(handle) }
}
