import Foundation
import TestSupport
import Testing
import TwilioSimulator

/// A numberd child on a clock libfaketime sets back (the renewal crash storm's) keeps its timers. libfaketime 0.9.10
/// moved every absolute timer expiration by its offset, the monotonic clocks' too: on a clock 47 days back each Dispatch
/// and NIO timer fired 47 days late — numberd's periodic runs stopped after the start's, and a Twilio retry's back-off
/// never ended (``FakedClock/timerPassthrough``, preloaded before it, keeps those timers on the kernel's clock).
@Suite("numberd on a clock set back by libfaketime keeps its timers (child process)", .serialized)
struct FakedClockTimerTests {
    @Test("billing every second on a clock 47 days back: runs follow the start's at the interval, the wall clock faked")
    func periodicRunsGoOn() async throws {
        _ = try FakedClock.library()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-faked-\(UUID())").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let simulator = try await startExternalSimulator(directory: root)
        var launch = NumberdChild.Launch(
            dataDirectory: root + "/data", port: try freeLoopbackPort(), simulatorURL: simulator.baseURL,
            simulatorCA: simulator.caPEMPath!, credentials: simulator.credentials,
            environment: ["NUMBERD_BILLING_INTERVAL": "1"])
        launch.metricsListen = "127.0.0.1:\(try freeLoopbackPort())"
        launch.clockOffsetSeconds = -47 * 86_400
        let child = try await NumberdChild.start(launch)
        var runs = 0.0
        var text = ""
        // Every second once started; up to 120 s for the first few in a loaded run (without the pass-through: 1).
        let deadline = ContinuousClock.now + .seconds(120)
        while runs < 4, ContinuousClock.now < deadline {
            text = (try? await launch.metrics()) ?? ""
            runs = Self.sum("numberd_background_runs_total", service: "billing", in: text)
            try await Task.sleep(for: .milliseconds(200))
        }
        let ending = await child.stop()
        try? await simulator.shutdown()
        #expect(runs >= 4, "billing runs of a child on a clock set back: \(runs)")
        #expect(ending == .exited(0), "\(String(describing: ending))")
        // The wall clock is still the faked one: the start's time in the log is 47 days back.
        let year = Calendar(identifier: .gregorian).dateComponents(
            in: TimeZone(identifier: "UTC")!, from: Date().addingTimeInterval(-47 * 86_400))
        let day = String(format: "%04d-%02d-%02dT", year.year!, year.month!, year.day!)
        #expect(launch.logTail(200).contains(day), "no log line dated \(day): \(launch.logTail(5))")
    }

    /// The sum of the samples of `name` whose `service` label is `service`.
    static func sum(_ name: String, service: String, in text: String) -> Double {
        text.split(separator: "\n")
            .filter { $0.hasPrefix(name + "{") && $0.contains("service=\"\(service)\"") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0, +)
    }
}
