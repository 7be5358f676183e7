import Foundation
import Testing

/// numberd as a child process, SIGKILLed at random moments under load and restarted, never loses an acknowledged
/// operation and ends, after reconciliation, in agreement with the provider; an adoption a kill left unanswered,
/// run again under its key after the restart, is answered `replayed` exactly when the store had recorded it. Its clock is the real one, so no billing
/// date passes: renewals under SIGKILL are `RenewalCrashStormTests`' (a clock set back with libfaketime).
///
/// `NUMBERD_CRASH_CYCLES` (default 50) sets the kill cycles and `NUMBERD_CRASH_SEED` the seed; the long run is
/// `NUMBERD_CRASH_CYCLES=1000 swift test --skip-build --filter CrashStormTests` (see RELIABILITY.md).
@Suite("numberd crash storm (child process, SIGKILL)", .serialized)
struct CrashStormTests {
    @Test("a purchase/release/funds/adoption/trunk storm survives random SIGKILLs with nothing acknowledged lost")
    func stormSurvivesKills() async throws {
        let (cycles, seed) = CrashStorm.runSettings("crash storm", cyclesVariable: "NUMBERD_CRASH_CYCLES", cycles: 50)
        let report = try await CrashStorm(plan: CrashStorm.Plan(cycles: cycles, seed: seed)).run()
        print("crash storm, seed \(seed): \(report)")
        #expect(report.problems.isEmpty, "seed \(seed): \(report.problems.prefix(20).joined(separator: "\n"))")
        #expect(report.cycles == cycles, "seed \(seed)")
        #expect(report.restartMilliseconds.count == cycles, "seed \(seed)")
        // The kills must land while operations flow, or the run proves nothing.
        #expect(report.acknowledged > cycles, "seed \(seed): \(report)")
        #expect(report.maybe > 0, "seed \(seed): no kill landed during an operation: \(report)")
        #expect(report.idleKills == 0, "seed \(seed): cycles killed before the load flowed: \(report)")
        #expect(report.adjustments > 0, "seed \(seed): the storm posted no adjustment: \(report)")
        #expect(report.adoptions > 0, "seed \(seed): the storm adopted no number: \(report)")
        // Every restart repeats each account's last acknowledged adoption under its key.
        #expect(report.adoptionsReplayed > cycles, "seed \(seed): \(report)")
        #expect(report.trunkChanges > 0, "seed \(seed): the storm moved no number onto or off a trunk: \(report)")
    }
}
