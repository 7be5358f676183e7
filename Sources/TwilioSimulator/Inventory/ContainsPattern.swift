/// Twilio's `Contains` search pattern, compiled.
///
/// Semantics (twilio-api.md §2.3, simulator's documented reading):
/// - Letters map to phone-keypad digits (ABC→2, DEF→3, GHI→4, JKL→5, MNO→6, PQRS→7, TUV→8, WXYZ→9), case-insensitive.
/// - `*` matches exactly one digit; `%` any run of digits (the same as no anchor). Both only in runs at the start
///   or the end of the pattern: Twilio refuses wildcards between digits and a wildcard next to an anchor.
/// - A leading `+` anchors at the start of the E.164 digits (country code included), a trailing `$` at the end;
///   without anchors the pattern matches anywhere in the number.
/// - At least `literalCountMin` (2) digits/letters, at most `lengthMax` (16) characters; anything else is rejected.
public struct ContainsPattern: Sendable, Equatable {
    /// One element of a compiled pattern.
    public enum Token: Sendable, Equatable {
        /// A literal digit.
        case digit(UInt8)
        /// `*`: exactly one digit.
        case one
    }

    /// Longest pattern accepted (characters).
    public static let lengthMax = 16
    /// Fewest digits or letters a pattern must hold.
    public static let literalCountMin = 2

    /// The compiled tokens.
    public var tokens: [Token]
    /// Anchored at the start (`+` prefix).
    public var anchoredStart: Bool
    /// Anchored at the end (`$` suffix).
    public var anchoredEnd: Bool

    /// Compiles `text`, or throws a 400 Twilio error naming the problem.
    public init(_ text: String) throws(TwilioError) {
        guard text.count <= ContainsPattern.lengthMax else {
            throw .invalidParameter("Contains", "longer than \(ContainsPattern.lengthMax) characters")
        }
        var body = Substring(text)
        anchoredStart = body.first == "+"
        if anchoredStart { body = body.dropFirst() }
        anchoredEnd = body.last == "$"
        if anchoredEnd { body = body.dropLast() }
        if !anchoredStart { while body.first == "%" { body = body.dropFirst() } }
        if !anchoredEnd { while body.last == "%" { body = body.dropLast() } }
        var compiled: [Token] = []
        for character in body {
            compiled.append(try ContainsPattern.token(for: character))
        }
        guard compiled.filter({ if case .digit = $0 { true } else { false } }).count >= ContainsPattern.literalCountMin
        else {
            throw .invalidParameter("Contains", "needs at least \(ContainsPattern.literalCountMin) digits or letters")
        }
        // Wildcards only before the first digit or after the last, and never next to an anchor ("+*", "*$").
        let first = compiled.firstIndex { $0 != .one }!
        let last = compiled.lastIndex { $0 != .one }!
        guard !compiled[first...last].contains(.one) else {
            throw .invalidParameter("Contains", "wildcards may stand only at the start or the end")
        }
        guard !(anchoredStart && first > 0), !(anchoredEnd && last < compiled.count - 1) else {
            throw .invalidParameter("Contains", "a wildcard may not stand next to + or $")
        }
        tokens = compiled
    }

    private static func token(for character: Character) throws(TwilioError) -> Token {
        switch character {
        case "*": return .one
        case "%": throw .invalidParameter("Contains", "'%' is only allowed at the start or end")
        default:
            guard let ascii = character.asciiValue else {
                throw .invalidParameter("Contains", "character '\(character)' is not allowed")
            }
            if ascii >= UInt8(ascii: "0") && ascii <= UInt8(ascii: "9") { return .digit(ascii - UInt8(ascii: "0")) }
            guard let digit = keypadDigit(ascii) else {
                throw .invalidParameter("Contains", "character '\(character)' is not allowed")
            }
            return .digit(digit)
        }
    }

    /// The keypad digit of an ASCII letter, or nil for a non-letter.
    public static func keypadDigit(_ ascii: UInt8) -> UInt8? {
        let upper = ascii >= UInt8(ascii: "a") && ascii <= UInt8(ascii: "z") ? ascii - 32 : ascii
        guard upper >= UInt8(ascii: "A") && upper <= UInt8(ascii: "Z") else { return nil }
        let keys: [UInt8] = [2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 7, 7, 7, 7, 8, 8, 8, 9, 9, 9, 9]
        return keys[Int(upper - UInt8(ascii: "A"))]
    }

    /// True when the E.164 number (with or without `+`) matches.
    public func matches(_ phoneNumber: String) -> Bool {
        let digits = phoneNumber.utf8.filter { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            .map { $0 - UInt8(ascii: "0") }
        let starts = anchoredStart ? 0...0 : 0...digits.count
        return starts.contains { match(digits, from: $0, token: 0) }
    }

    private func match(_ digits: [UInt8], from position: Int, token index: Int) -> Bool {
        guard index < tokens.count else { return !anchoredEnd || position == digits.count }
        switch tokens[index] {
        case .digit(let d):
            return position < digits.count && digits[position] == d
                && match(digits, from: position + 1, token: index + 1)
        case .one:
            return position < digits.count && match(digits, from: position + 1, token: index + 1)
        }
    }
}
