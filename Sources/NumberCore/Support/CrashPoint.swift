import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Named points of the purchase and release sagas where the crash tests kill the process (SIGKILL, no cleanup),
/// to prove each ends in the old or the new state after a restart and reconciliation; and of `numberd verify`, to
/// prove the store copy of one killed is removed.
///
/// Inert unless the environment variable `NUMBERD_CRASH_POINT` names a point when the process starts (production
/// never sets it); it is read once. Used by `Tests/NumberDaemonTests/SagaCrashPointTests.swift` and
/// `VerifyCommandTests.swift`.
public enum CrashPoint: String, Sendable, CaseIterable {
    /// Every number of a purchase is bought at the provider; the commit (debit + numbers) is not yet written.
    case afterProviderBuyBeforeCommit = "after-provider-buy-before-commit"
    /// A release is done at the provider; the release record (and refund) is not yet written.
    case afterProviderReleaseBeforeRecord = "after-provider-release-before-record"
    /// `numberd verify` has copied the store (the copy and its owner file are there); it has not replayed it.
    case afterVerifyCopy = "after-verify-copy"

    /// The environment variable naming the armed point.
    public static let environmentVariable = "NUMBERD_CRASH_POINT"

    /// The point armed for this process, if any.
    public static let armed: CrashPoint? = ProcessInfo.processInfo.environment[environmentVariable].flatMap {
        CrashPoint(rawValue: $0)
    }

    /// Kills the process at once when `self` is the armed point; otherwise does nothing.
    func hit() {
        guard Self.armed == self else { return }
        kill(getpid(), SIGKILL)
    }
}
