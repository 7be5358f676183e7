import NIOCore
import Testing

@testable import NumberClient

/// The pause a client's pool takes after failed background connects in a row: 100 ms doubled for each failure after the
/// first, at most 30 s, drawn between half of that and all of it.
@Suite("Client: the connect back-off's bounds")
struct ConnectBackoffTests {
    @Test("100 ms after one failure, doubling, never past 30 s however many fail; never under half the bound")
    func backoffBounds() {
        #expect(NumbersClient.connectBackoffInitial == .milliseconds(100))
        #expect(NumbersClient.connectBackoffMax == .seconds(30))
        // 100 ms << 8 = 25.6 s, the last bound under the cap; from 10 failures on, the cap.
        let expected: [(failures: Int, bound: Int64)] = [
            (1, 100), (2, 200), (3, 400), (9, 25_600), (10, 30_000), (11, 30_000), (1_000, 30_000), (Int.max, 30_000),
        ]
        for (failures, bound) in expected {
            for _ in 0..<200 {
                let pause = NumbersClient.connectBackoff(failures: failures).nanoseconds
                let boundNanoseconds = bound * 1_000_000
                #expect(pause >= boundNanoseconds / 2 && pause <= boundNanoseconds, "\(failures): \(pause)")
            }
        }
        // A count of 0 (never asked for) is taken as one failure, not a shorter pause.
        #expect(NumbersClient.connectBackoff(failures: 0).nanoseconds >= 50_000_000)
    }
}
