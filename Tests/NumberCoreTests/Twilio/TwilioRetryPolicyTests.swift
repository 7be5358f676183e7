import CurlHTTP
import Testing

@testable import NumberCore

@Suite("TwilioRetryPolicy arithmetic")
struct TwilioRetryPolicyTests {
    let policy = TwilioRetryPolicy(
        attemptsMax: 6, baseDelayMilliseconds: 100, delayMaxMilliseconds: 1_000, retryAfterMaxMilliseconds: 5_000)

    @Test func ceilingsDoubleUpToTheMaximum() {
        let ceilings = (1..<6).map {
            policy.delayMilliseconds(afterAttempt: $0, retryAfterMilliseconds: nil) { $0.upperBound }
        }
        #expect(ceilings == [100, 200, 400, 800, 1_000])
    }

    @Test func fullJitterStartsAtZero() {
        var ranges: [ClosedRange<Int>] = []
        _ = policy.delayMilliseconds(afterAttempt: 3, retryAfterMilliseconds: nil) { range in
            ranges.append(range)
            return range.lowerBound
        }
        #expect(ranges == [0...400])
    }

    @Test func attemptsAreBounded() {
        #expect(policy.delayMilliseconds(afterAttempt: 6, retryAfterMilliseconds: nil) { $0.upperBound } == nil)
        #expect(policy.delayMilliseconds(afterAttempt: 6, retryAfterMilliseconds: 10) { $0.upperBound } == nil)
        let once = TwilioRetryPolicy(
            attemptsMax: 1, baseDelayMilliseconds: 100, delayMaxMilliseconds: 100, retryAfterMaxMilliseconds: 100)
        #expect(once.delayMilliseconds(afterAttempt: 1, retryAfterMilliseconds: nil) { $0.upperBound } == nil)
    }

    @Test func hugeAttemptNumbersDoNotOverflow() {
        let many = TwilioRetryPolicy(
            attemptsMax: 1_000, baseDelayMilliseconds: Int.max / 2, delayMaxMilliseconds: 3_000,
            retryAfterMaxMilliseconds: 0)
        #expect(many.delayMilliseconds(afterAttempt: 999, retryAfterMilliseconds: nil) { $0.upperBound } == 3_000)
    }

    @Test func retryAfterWinsUpToItsCap() {
        #expect(policy.delayMilliseconds(afterAttempt: 1, retryAfterMilliseconds: 5_000) { $0.upperBound } == 5_000)
        #expect(policy.delayMilliseconds(afterAttempt: 1, retryAfterMilliseconds: 5_001) { $0.upperBound } == nil)
    }

    @Test(
        arguments: [
            ("3", 3_000), (" 0 ", 0), ("-1", nil), ("+3", nil), ("Wed, 21 Oct 2015 07:28:00 GMT", nil), ("", nil),
            // Longer than a day counts as a day (over the cap: stop), never as no header (quick backoff).
            ("86400", 86_400_000), ("90000", 86_400_000), ("99999999999999999999999", 86_400_000),
        ] as [(String, Int?)])
    func retryAfterHeaderParsing(header: String, milliseconds: Int?) {
        #expect(TwilioRetryPolicy.retryAfterMilliseconds(header) == milliseconds)
    }

    /// README told operators to promote a rotated auth token three minutes after the rotation, true only under the
    /// default 15 s timeout: with `twilio-timeout-ms` 120000 a retry may send the old token about 9 minutes later.
    /// The bound is now computed from the configuration (and logged at rotation).
    @Test("the longest request with its retries: 130 s under the default timeout, 550 s under 120 s")
    func requestMillisecondsMax() throws {
        let credentials = try TwilioCredentials.authToken(
            accountSid: "AC" + String(repeating: "a", count: 32), authToken: String(repeating: "b", count: 32))
        var configuration = TwilioConfiguration(credentials: credentials)
        // 4 attempts × (10 s queued + 15 s) + 3 waits of at most 10 s (a Retry-After; the backoff's cap is 3 s).
        #expect(configuration.requestMillisecondsMax == 130_000)
        configuration.http.timeouts.totalMilliseconds = 120_000
        #expect(configuration.requestMillisecondsMax == 550_000)
        configuration.retry = .defaults
        configuration.retry.attemptsMax = 1
        #expect(configuration.requestMillisecondsMax == 130_000)
    }
}
