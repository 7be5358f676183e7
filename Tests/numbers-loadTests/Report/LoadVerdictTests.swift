import NIOCore
import Testing

@testable import numbers_load

/// A dead server failed every call at once (UNAVAILABLE / CONNECT_FAILED): the closed loop reported more calls/s than
/// a healthy run, and `numbers-load run` exited 0, as it did when its clean-up left numbers still owned; the sanitizer
/// script reads only the exit status.
@Suite("LoadVerdict: the exit status of a run says whether it measured anything and gave back what it made")
struct LoadVerdictTests {
    /// A report of a 1 s window whose measured calls ended with `outcomes` (1 ms each).
    static func report(_ outcomes: [String: Int]) -> LoadReport {
        let from = NIODeadline.uptimeNanoseconds(1_000_000_000)
        let recorder = LatencyRecorder(measureFrom: from)
        var stripe = 0
        for (outcome, count) in outcomes {
            for _ in 0..<count {
                recorder.record(
                    stripe: stripe, operation: .list, intended: from, end: from + .milliseconds(1), outcome: outcome)
                stripe += 1
            }
        }
        let merged = recorder.snapshot()
        var report = LoadReport.fixture()
        report.total = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 1)
        return report
    }

    @Test("every call CONNECT_FAILED: exit 3, however many calls/s that made")
    func deadServerFails() {
        let report = Self.report(["UNAVAILABLE/CONNECT_FAILED": 5000])
        #expect(report.total.callsPerSecond == 5000, "more calls/s than the healthy fixture's 1000")
        let verdict = LoadVerdict(report, maxErrorFraction: 1)
        #expect(verdict.measurementFailure == "none of the 5000 measured calls succeeded")
        #expect(verdict.exitCode == LoadExitStatus.noFigure)
        #expect(LoadExitStatus.noFigure == 3)
    }

    @Test("no measured call sent (all due but not sent): exit 3")
    func nothingSentFails() {
        let verdict = LoadVerdict(Self.report([LatencyRecorder.notSent: 40]), maxErrorFraction: 0.01)
        #expect(verdict.measurementFailure == "no measured call was sent")
        #expect(verdict.exitCode == 3)
    }

    @Test("more failed calls than --max-error-fraction allows: exit 3; at or below it, or with 1: exit 0")
    func errorFraction() {
        let many = Self.report(["OK": 980, "RESOURCE_EXHAUSTED/RATE_LIMITED": 20])
        #expect(LoadVerdict(many, maxErrorFraction: 0.01).exitCode == 3)
        let failure = LoadVerdict(many, maxErrorFraction: 0.01).measurementFailure
        #expect(failure?.contains("20 of the 1000 measured calls failed") == true, "\(String(describing: failure))")
        #expect(LoadVerdict(many, maxErrorFraction: 0.02).exitCode == 0, "2 % allowed: 20 of 1000 is not more")
        #expect(LoadVerdict(many, maxErrorFraction: 1).exitCode == 0)
        let few = Self.report(["OK": 995, "DEADLINE_EXCEEDED": 5])
        #expect(LoadVerdict(few, maxErrorFraction: 0.01).exitCode == 0)
    }

    /// The verdict counted only the calls made: an open loop whose dispatcher fell behind sent 10 of 1000
    /// operations due, all OK, and exited 0; purchases that found no number to buy were left out the same way.
    @Test("operations due but never made (NOT_SENT, NO_CANDIDATE) count against --max-error-fraction")
    func unmadeOperationsCount() {
        let behind = Self.report(["OK": 10, LatencyRecorder.notSent: 990])
        let failure = LoadVerdict(behind, maxErrorFraction: 0.01).measurementFailure
        #expect(failure?.contains("990 more operations due were never made") == true, "\(String(describing: failure))")
        #expect(LoadVerdict(behind, maxErrorFraction: 0.01).exitCode == 3)
        let noCandidate = Self.report(["OK": 90, LatencyRecorder.noCandidate: 5, "DEADLINE_EXCEEDED": 5])
        #expect(LoadVerdict(noCandidate, maxErrorFraction: 0.05).exitCode == 3, "10 of 100, more than 5 %")
        #expect(LoadVerdict(noCandidate, maxErrorFraction: 0.1).exitCode == 0, "10 of 100 is not more than 10 %")
    }

    @Test("a healthy run exits 0; one whose clean-up left things exits 4, also when it measured nothing")
    func healthyAndUnsettled() {
        let healthy = LoadReport.fixture()
        #expect(LoadVerdict(healthy, maxErrorFraction: 0.01) == LoadVerdict(healthy, maxErrorFraction: 0))
        #expect(LoadVerdict(healthy, maxErrorFraction: 0.01).measurementFailure == nil)
        #expect(LoadVerdict(healthy, maxErrorFraction: 0.01).exitCode == 0)

        var left = healthy
        left.unsettled = ["number NUM_1 (+14155550100) of ACC_1: still owned"]
        #expect(LoadVerdict(left, maxErrorFraction: 0.01).exitCode == LoadExitStatus.leftUnsettled)
        #expect(LoadExitStatus.leftUnsettled == 4)
        var deadAndLeft = Self.report(["UNAVAILABLE/CONNECT_FAILED": 10])
        deadAndLeft.unsettled = left.unsettled
        let verdict = LoadVerdict(deadAndLeft, maxErrorFraction: 1)
        #expect(verdict.exitCode == 4)
        #expect(verdict.measurementFailure != nil, "still said, and logged")
    }

    @Test("numbers-load --help lists the exit statuses; run --help names --max-error-fraction")
    func helpListsExitStatuses() {
        let help = LoadCommand.helpMessage(includeHidden: false, columns: 1_000)
        #expect(help.contains("Exit status"), "\(help)")
        #expect(help.contains("3 when it has no figure"), "\(help)")
        #expect(help.contains("4 when run's clean-up left something it made"), "\(help)")
        let run = RunLoad.helpMessage(includeHidden: false, columns: 1_000)
        #expect(run.contains("--max-error-fraction"), "\(run)")
        #expect(run.contains("exits 3"), "\(run)")
    }
}
