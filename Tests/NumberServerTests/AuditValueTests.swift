import Logging
import Testing

@testable import NumberServer

/// An audit line is `key=value` pairs separated by spaces, written unquoted by the log handler: free text in it (an
/// adjustment's reason, an account or key name) could add a field — a leaked admin key's change credited to another
/// key and address — or break the line. Every audit value is written as one field.
@Suite("Audit lines: free text stays one field")
struct AuditValueTests {
    @Test("plain values stay as they are; others are quoted, escaped, outside printable ASCII as \\u{hex}")
    func values() {
        #expect(NumbersAPI.auditValue("ACC_7q2m4rtba") == "ACC_7q2m4rtba")
        #expect(NumbersAPI.auditValue("127.0.0.1:51000") == "127.0.0.1:51000")
        #expect(NumbersAPI.auditValue("-2500") == "-2500")
        #expect(NumbersAPI.auditValue("") == "\"\"")
        let forged = "goodwill transaction=TXN_0 actor_key=KEY_ops peer=10.0.0.5:51000"
        #expect(NumbersAPI.auditValue(forged) == "\"" + forged + "\"")
        #expect(NumbersAPI.auditValue("say \"hi\" \\ bye") == #""say \"hi\" \\ bye""#)
        #expect(NumbersAPI.auditValue("line\u{2028}break é") == #""line\u{2028}break \u{e9}""#)
        #expect(NumbersAPI.auditValue("CN=client") == #""CN=client""#)
    }

    /// Whatever the text, the value splits back into exactly one field: no unescaped quote inside, nothing but
    /// printable ASCII.
    @Test(
        "any text is one field of printable ASCII",
        arguments: ["a b", "x=y", "\"", "\\", "\u{0}", "\u{202E}evil", "日本"])
    func oneField(text: String) {
        let value = NumbersAPI.auditValue(text)
        #expect(value.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) }, "\(value)")
        #expect(value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2, "\(value)")
        let inner = value.dropFirst().dropLast()
        var escaped = false
        for character in inner {
            if escaped {
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                #expect(character != "\"", "an unescaped quote ends the field early: \(value)")
            }
        }
    }
}
