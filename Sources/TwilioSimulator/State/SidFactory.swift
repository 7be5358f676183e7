/// Makes Twilio-style SIDs: a two-letter prefix and 32 lower-case hex digits.
public enum SidFactory {
    /// `prefix` + 32 hex digits from `rng`.
    public static func make(_ prefix: String, rng: inout SeededGenerator) -> String {
        prefix + hex(&rng)
    }

    /// 32 lower-case hex digits.
    public static func hex(_ rng: inout SeededGenerator) -> String {
        var text = ""
        for _ in 0..<2 {
            let word = String(rng.next(), radix: 16)
            text += String(repeating: "0", count: 16 - word.count) + word
        }
        return text
    }
}
