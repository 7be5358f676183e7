import Foundation

/// What `verifyDataDirectory(_:limits:)` found: the journal's own checks, and the core invariants of the state the
/// directory replays to.
public struct DataDirectoryReport: Sendable {
    /// Checksums, sequence continuity, torn tails, snapshots.
    public var journal: JournalVerificationReport
    /// Broken core invariants of the replayed state.
    public var violations: [Violation]
    /// Why the state could not be replayed, if it could not.
    public var replayError: String?
    /// The replayed state, if replay worked.
    public var state: CoreState?

    /// Whether there is nothing worse than a warning the journal repairs by itself.
    public var isSound: Bool {
        replayError == nil && violations.isEmpty && !journal.problems.contains { $0.severity == .error }
    }
}

/// Checks a data directory offline without modifying it (`numberd verify`): the journal's structure, then a replay
/// of a scratch copy (so recovery's repairs touch only the copy) and the invariants of the resulting state. Under
/// `limits`, the ones the service opens the directory with (a snapshot larger than its `snapshotBytesMax` is one it
/// cannot read); default: the documented defaults.
public func verifyDataDirectory(
    _ directory: URL, limits: JournalOptions.Limits = .defaults
) async -> DataDirectoryReport {
    let journal = JournalVerifier.verify(
        directory: directory, event: CoreEvent.self, state: CoreState.self, limits: limits)
    var report = DataDirectoryReport(journal: journal, violations: [], replayError: nil, state: nil)
    do {
        let state = try await replayDataDirectory(directory, limits: limits)
        report.state = state
        report.violations = state.checkInvariants()
    } catch {
        report.replayError = "\(error)"
    }
    return report
}

/// The state a data directory replays to (newest valid snapshot plus the journal after it), read from a scratch copy
/// so recovery's repairs touch only the copy; the directory itself is not modified. Cheaper than
/// `verifyDataDirectory(_:limits:)`, which also checks every snapshot and segment on its own. Opened under `limits`,
/// as the service would open it.
public func replayDataDirectory(
    _ directory: URL, limits: JournalOptions.Limits = .defaults
) async throws -> CoreState {
    let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("numberd-verify-\(Crypto.randomHex(8))", isDirectory: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    try FileManager.default.copyItem(at: directory, to: scratch)
    var options = JournalOptions.defaults
    options.limits = limits
    options.fatal = { _ in }
    let opened = try FileJournal<CoreEvent, CoreState>.open(
        directory: scratch, options: options, initialState: CoreState(),
        apply: { state, event in try state.applyChecked(event) })
    await opened.journal.close()
    return opened.state
}
