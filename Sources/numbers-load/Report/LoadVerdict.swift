/// The exit statuses of numbers-load besides ArgumentParser's (0, 1 for a failure, 64 for a usage error) and an
/// interruption's (128 + the signal's number). Listed in `numbers-load --help` (``LoadCommand``).
enum LoadExitStatus {
    /// `run`: the measured window gives no figure (``LoadVerdict/measurementFailure``); `connections`: fewer
    /// connections established than `--count`, or fewer still open after the hold than established.
    static let noFigure: Int32 = 3
    /// `run`: the clean-up left things the run made (``LoadReport/unsettled``); before ``noFigure`` when both.
    static let leftUnsettled: Int32 = 4
}

/// What a finished `numbers-load run` says by its exit status, from its report alone. A dead server fails every call
/// at once (UNAVAILABLE / CONNECT_FAILED), which the closed loop counted as more calls/s than a healthy run, and the
/// run exited 0; scripts (Tests/Sanitizers/run.sh) read only the status.
struct LoadVerdict: Equatable, Sendable {
    /// Why the measured window gives no figure, nil when it gives one: no measured call was sent, none was OK, or
    /// more than `maxErrorFraction` of the measured calls failed or, counted with them, of the operations due were
    /// never made (`NOT_SENT`: a dispatcher behind its rate; `NO_CANDIDATE`: a purchase with no number to buy). Each
    /// of those counts once, as the report counts it, though a purchase made would have been two to five calls.
    /// Leaving them out, an open loop that sent 10 of 1000 operations due, all OK, exited 0.
    var measurementFailure: String?
    /// Things the clean-up left (may still be owned or valid).
    var unsettled: Int

    init(_ report: LoadReport, maxErrorFraction: Double) {
        let total = report.total
        let ok = total.outcomes["OK"] ?? 0
        let unmade = total.outcomes.filter { LatencyRecorder.isUnmade($0.key) }.reduce(0) { $0 + $1.value }
        if total.calls == 0 {
            measurementFailure = "no measured call was sent"
        } else if ok == 0 {
            measurementFailure = "none of the \(total.calls) measured calls succeeded"
        } else if Double(total.errors + unmade) > maxErrorFraction * Double(Int(total.calls) + unmade) {
            measurementFailure =
                unmade == 0
                ? "\(total.errors) of the \(total.calls) measured calls failed, more than --max-error-fraction "
                    + "\(maxErrorFraction) allows"
                : "\(total.errors) of the \(total.calls) measured calls failed and \(unmade) more operations due "
                    + "were never made (\(LatencyRecorder.notSent), \(LatencyRecorder.noCandidate)): more of these "
                    + "\(Int(total.calls) + unmade) calls and operations than --max-error-fraction \(maxErrorFraction) "
                    + "allows"
        } else {
            measurementFailure = nil
        }
        unsettled = report.unsettled.count
    }

    /// 0 when the run measured calls the server served and gave back everything it made; otherwise
    /// ``LoadExitStatus/leftUnsettled``, before ``LoadExitStatus/noFigure``.
    var exitCode: Int32 {
        if unsettled > 0 { return LoadExitStatus.leftUnsettled }
        return measurementFailure == nil ? 0 : LoadExitStatus.noFigure
    }
}
