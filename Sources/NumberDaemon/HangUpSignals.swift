import UnixSignals

/// SIGHUP trapped from the top of a start, for ``HangUpReload`` to take over once the services run.
///
/// Until that service ran, numberd ignored SIGHUP (its default action ends the process), and the start — the
/// journal's replay and the start snapshot, minutes at a million numbers — threw away a reload asked for meanwhile
/// (`systemctl reload numberd` after editing the config file) without a word. Trapped, the signals that arrive before
/// the services run wait in the trap and make one reload (or two: the first may begin before the others are taken)
/// once they do. On Linux the trap is a handler libdispatch installs when its signal source registers, in place of
/// the `SIG_IGN` set before it, so SIGHUP's default action never applies in between.
///
/// ```swift
/// signal(SIGHUP, SIG_IGN)
/// let hangUps = await HangUpSignals.trap()
/// let numberd = try await Numberd.prepare(configuration, logger: logger, hangUps: hangUps)
/// ```
public struct HangUpSignals: Sendable {
    /// The trapped signals. A sequence gives one iterator only: hand the trap to one start.
    let sequence: UnixSignalsSequence

    /// Traps SIGHUP; returns once the trap is installed.
    public static func trap() async -> HangUpSignals {
        HangUpSignals(sequence: await UnixSignalsSequence(trapping: .sighup))
    }
}
