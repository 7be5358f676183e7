import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Named points of the purchase and release sagas where the crash tests kill the process (SIGKILL, no cleanup),
/// to prove each ends in the old or the new state after a restart and reconciliation; and of `numberd verify`, to
/// prove the store copy of one killed is removed.
///
/// Inert unless the environment variable `NUMBERD_CRASH_POINT` names a point when the process starts (production
/// never sets it); it is read once. `<point>:stop` stops the process there instead (`SIGSTOP`: a test sees it alive at
/// the point, its locks held, then kills it). Used by `Tests/NumberDaemonTests/SagaCrashPointTests.swift`,
/// `VerifyCommandTests.swift` and `BackupRestoreTests.swift`.
public enum CrashPoint: String, Sendable, CaseIterable {
    /// Every number of a purchase is bought at the provider; the commit (debit + numbers) is not yet written.
    case afterProviderBuyBeforeCommit = "after-provider-buy-before-commit"
    /// A release is done at the provider; the release record (and refund) is not yet written.
    case afterProviderReleaseBeforeRecord = "after-provider-release-before-record"
    /// `numberd verify` has copied the store (the copy and its owner file are there); it has not replayed it.
    case afterVerifyCopy = "after-verify-copy"
    /// `numberd restore` has copied the backup's store beside the data directory's (the copy, marked and locked, is
    /// there); it has not verified it.
    case afterRestoreCopy = "after-restore-copy"

    /// The environment variable naming the armed point.
    public static let environmentVariable = "NUMBERD_CRASH_POINT"
    /// The suffix of the variable's value that stops the process at the point rather than killing it.
    public static let stopSuffix = ":stop"

    /// The point armed for this process, if any, and whether it stops the process rather than killing it.
    static let armed: (point: CrashPoint, stops: Bool)? = ProcessInfo.processInfo.environment[environmentVariable]
        .flatMap { value in
            let stops = value.hasSuffix(stopSuffix)
            return CrashPoint(rawValue: stops ? String(value.dropLast(stopSuffix.count)) : value).map { ($0, stops) }
        }

    /// Kills (or stops) the process at once when `self` is the armed point; otherwise does nothing.
    package func hit() {
        guard let armed = Self.armed, armed.point == self else { return }
        kill(getpid(), armed.stops ? SIGSTOP : SIGKILL)
    }
}
