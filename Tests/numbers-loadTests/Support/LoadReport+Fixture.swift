import Foundation
import NIOCore

@testable import numbers_load

extension LoadReport {
    /// A report of a small closed-loop run: 1 000 OK list calls of 1 ms in 1 s.
    static func fixture() -> LoadReport {
        let recorder = LatencyRecorder(measureFrom: .uptimeNanoseconds(0))
        for index in 0..<1000 {
            recorder.record(
                stripe: index, operation: .list, intended: .uptimeNanoseconds(0), end: .uptimeNanoseconds(1_000_000),
                outcome: "OK", wireBytes: (184, 391))
        }
        let merged = recorder.snapshot()
        let figures = LoadReport.figures(merged.total, outcomes: merged.outcomes, seconds: 1)
        return LoadReport(
            startedAt: Date(timeIntervalSince1970: 0), target: "127.0.0.1:7443", mode: "closed", mix: "list=1",
            connections: 1, concurrencyPerConnection: 1, targetRate: nil, warmupSeconds: 0, durationSeconds: 1,
            timeoutMilliseconds: 5000, accounts: 1, warmupCalls: 0, total: figures, byOperation: ["list": figures],
            averageRequestBytes: 184, averageResponseBytes: 391)
    }
}
