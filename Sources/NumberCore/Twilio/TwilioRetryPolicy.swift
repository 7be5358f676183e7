import Foundation

/// When and how long the adapter waits before trying a request again: exponential backoff with full jitter,
/// bounded in attempts and delay, honouring `Retry-After` up to a cap.
///
/// Which requests are retried is the transport's decision (see ``TwilioProvider``); this type only does the
/// arithmetic, as a pure function so tests check it with plain values.
public struct TwilioRetryPolicy: Sendable, Hashable {
    /// Attempts in total, the first included (1 disables retries). Default 4.
    public var attemptsMax: Int
    /// Backoff before retry `n` (from 1) is uniform in `0...min(delayMaxMilliseconds, base × 2^(n-1))`.
    /// Default 200 ms.
    public var baseDelayMilliseconds: Int
    /// Longest backoff (without `Retry-After`). Default 3 000 ms.
    public var delayMaxMilliseconds: Int
    /// Longest `Retry-After` honoured; a longer one ends the retries at once (rate limited). Default 10 000 ms.
    public var retryAfterMaxMilliseconds: Int

    /// Creates a policy.
    public init(attemptsMax: Int, baseDelayMilliseconds: Int, delayMaxMilliseconds: Int, retryAfterMaxMilliseconds: Int)
    {
        self.attemptsMax = attemptsMax
        self.baseDelayMilliseconds = baseDelayMilliseconds
        self.delayMaxMilliseconds = delayMaxMilliseconds
        self.retryAfterMaxMilliseconds = retryAfterMaxMilliseconds
    }

    /// 4 attempts, 200 ms base, 3 s cap, `Retry-After` up to 10 s.
    public static let defaults = TwilioRetryPolicy(
        attemptsMax: 4, baseDelayMilliseconds: 200, delayMaxMilliseconds: 3_000, retryAfterMaxMilliseconds: 10_000)

    /// The wait before attempt `attempt + 1` after attempt `attempt` (from 1) failed, or `nil` to stop retrying.
    /// `random(range)` draws uniformly from the range (injected for tests).
    public func delayMilliseconds(
        afterAttempt attempt: Int, retryAfterMilliseconds: Int?, random: (ClosedRange<Int>) -> Int
    ) -> Int? {
        guard attempt < attemptsMax else { return nil }
        if let retryAfterMilliseconds {
            return retryAfterMilliseconds <= retryAfterMaxMilliseconds ? max(0, retryAfterMilliseconds) : nil
        }
        let exponent = min(attempt - 1, 30)
        let (scaled, overflow) = baseDelayMilliseconds.multipliedReportingOverflow(by: 1 << exponent)
        let ceiling = overflow ? delayMaxMilliseconds : min(delayMaxMilliseconds, scaled)
        return random(0...max(0, ceiling))
    }

    /// `Retry-After` in milliseconds when it holds delay-seconds (an HTTP date is ignored: backoff applies). A delay
    /// over a day counts as a day: still a "wait longer than we will", never a reason for quick retries.
    static func retryAfterMilliseconds(_ header: String?) -> Int? {
        guard let header else { return nil }
        let text = header.trimmingCharacters(in: .whitespaces)
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            return nil
        }
        let seconds = Int(text).map { min($0, 86_400) } ?? 86_400  // digits too many for an Int: over a day
        return seconds * 1_000
    }

    func validate() {
        precondition(attemptsMax >= 1, "attemptsMax must be at least 1")
        precondition(baseDelayMilliseconds >= 0 && delayMaxMilliseconds >= 0, "delays must not be negative")
        precondition(retryAfterMaxMilliseconds >= 0, "retryAfterMaxMilliseconds must not be negative")
    }
}
