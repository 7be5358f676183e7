import NIOCore
import Testing

@testable import numbers_load

@Suite("LatencyRecorder: wire bytes per call are averaged over the calls whose sizes were sampled")
struct LatencyRecorderTests {
    let measureFrom = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("purchases and releases, whose sizes are not sampled, do not count as zero-byte calls")
    func unsampledOperationsStayOutOfTheAverage() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        var sizes = WireSizes()
        sizes.sizes[.list] = (request: 184, response: 391)
        sizes.sizes[.balance] = (request: 160, response: 40)
        let calls: [Operation] = [.list, .balance, .purchase, .release, .list, .purchase, .release, .balance]
        for (index, operation) in calls.enumerated() {
            recorder.record(
                stripe: index, operation: operation, intended: measureFrom, end: measureFrom + .milliseconds(1),
                outcome: "OK", wireBytes: sizes[operation])
        }
        let merged = recorder.snapshot()
        #expect(merged.total.totalCount == 8)
        #expect(merged.sizedCalls == 4)
        #expect(merged.averageWireBytes.request == Double(2 * 184 + 2 * 160) / 4)
        #expect(merged.averageWireBytes.response == Double(2 * 391 + 2 * 40) / 4)
    }

    @Test("no sampled call: the average is zero, not a division by zero")
    func noSampledCalls() {
        let recorder = LatencyRecorder(measureFrom: measureFrom)
        recorder.record(
            stripe: 0, operation: .purchase, intended: measureFrom, end: measureFrom + .milliseconds(1), outcome: "OK",
            wireBytes: WireSizes()[.purchase])
        #expect(recorder.snapshot().averageWireBytes.request == 0)
        #expect(recorder.snapshot().averageWireBytes.response == 0)
    }
}
