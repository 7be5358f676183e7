import Foundation
import Testing

/// Pins proto/ERRORS.md to the code: every reason numberd can send — each `NumberError.Reason` the core declares and
/// each reason the server's own code writes — has a row in its table, and every row names a reason the code still
/// has, so the contract cannot fall behind a new reason or keep one that is gone. (proto/ alone did not say which
/// reasons exist.)
@Suite("proto/ERRORS.md")
struct ErrorReasonsTableTests {
    /// The package's root, from this file's path (Tests/NumberAPITests/…).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The reasons of the table under the `## heading` of ERRORS.md: each row's first cell, `REASON` in backticks.
    static func tableReasons(under heading: String) throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent("proto/ERRORS.md"), encoding: .utf8)
        var inSection = false
        var reasons: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                inSection = line == "## \(heading)"
                continue
            }
            guard inSection, line.hasPrefix("| `") else { continue }
            reasons.append(String(line.dropFirst(3).prefix { $0 != "`" }))
        }
        return reasons
    }

    /// The text of every `.swift` file under `folder` (a path from the package's root).
    static func sources(_ folder: String) throws -> [String] {
        let directory = root.appendingPathComponent(folder)
        guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return []
        }
        return try files.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }.map {
            try String(contentsOf: $0, encoding: .utf8)
        }
    }

    /// The first capture group of every match of `pattern` in `texts`.
    static func captures(_ pattern: String, in texts: [String]) throws -> Set<String> {
        let regex = try Regex(pattern)
        var found: Set<String> = []
        for text in texts {
            for match in text.matches(of: regex) {
                if let value = match.output[1].substring { found.insert(String(value)) }
            }
        }
        return found
    }

    /// Every reason numberd's code can send: the core's `Reason(rawValue: "…")` declarations, and in the server's
    /// code each `reason: "…"` and each upper snake case string (a reason chosen by a conditional, `"BAD_CALL"`).
    static func reasonsInCode() throws -> Set<String> {
        let core = try captures(#"Reason\(rawValue: "([A-Z_]+)"\)"#, in: sources("Sources/NumberCore"))
        let server = try sources("Sources/NumberServer")
        let written = try captures(#"reason: "([A-Z_]+)""#, in: server)
        let named = try captures(#""([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)""#, in: server)
        return core.union(written).union(named)
    }

    @Test("every reason in numberd's code has a row in proto/ERRORS.md, and every row's reason is in the code")
    func serverReasons() throws {
        let code = try Self.reasonsInCode()
        let rows = try Self.tableReasons(under: "Reasons numberd sends")
        #expect(code.count > 50, "the scan found the code's reasons: \(code.sorted())")
        #expect(Set(rows).count == rows.count, "a reason listed twice: \(rows)")
        let missing = code.subtracting(rows).sorted()
        #expect(missing.isEmpty, "reasons in the code without a row in proto/ERRORS.md: \(missing)")
        let stale = Set(rows).subtracting(code).sorted()
        #expect(stale.isEmpty, "rows of proto/ERRORS.md whose reason the code no longer has: \(stale)")
        #expect(rows == rows.sorted(), "rows in code point order (`_` after the letters): \(rows.sorted())")
    }

    /// The status cell of each row of the table under the `## heading` of ERRORS.md, by reason: the gRPC status
    /// names it lists (`INVALID_ARGUMENT; ALREADY_EXISTS (a trunk name …)`: both).
    static func tableStatuses(under heading: String) throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("proto/ERRORS.md"), encoding: .utf8)
        let status = try Regex(#"[A-Z][A-Z_]+"#)
        var inSection = false
        var statuses: [String: Set<String>] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                inSection = line == "## \(heading)"
                continue
            }
            guard inSection, line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count > 2 else { continue }
            let reason = String(line.dropFirst(3).prefix { $0 != "`" })
            statuses[reason] = Set(cells[2].matches(of: status).map { String(cells[2][$0.range]) })
        }
        return statuses
    }

    /// A status's gRPC name from its Swift name in `NumberError.Code`: `failedPrecondition` → `FAILED_PRECONDITION`.
    static func statusName(_ swiftName: String) -> String {
        swiftName.reduce(into: "") { name, character in
            if character.isUppercase { name += "_" }
            name += character.uppercased()
        }
    }

    /// Status and reason pairs the core makes that never reach a client, so the table rightly does not list them.
    static let pairsNeverSent: Set<String> = [
        // The id of the admin key numberd records at start-up was taken since it was drawn: the API never draws one.
        "ABORTED INVALID_FIELD",
        // The caller was gone (its CANCEL, its deadline, its connection's end) before anything started: the server
        // drops the answer of such a call.
        "CANCELLED PROVIDER_UNAVAILABLE",
    ]

    /// A reason's row says which statuses it comes with; a core error made with another (an INTERNAL failure given
    /// INVALID_FIELD, which the table lists with INVALID_ARGUMENT and ALREADY_EXISTS only) breaks the contract a
    /// client switches on.
    @Test("every status and reason the core pairs in a NumberError is a pair the table of proto/ERRORS.md lists")
    func corePairs() throws {
        let core = try Self.sources("Sources/NumberCore")
        let declaration = try Regex(#"static let `?(\w+)`? = Reason\(rawValue: "([A-Z_]+)"\)"#)
        let made = try Regex(#"NumberError\(\s*\.(\w+),\s*\.(\w+)"#)
        var reasons: [String: String] = [:]
        var pairs: Set<String> = []
        for text in core {
            for match in text.matches(of: declaration) {
                if let name = match.output[1].substring, let value = match.output[2].substring {
                    reasons[String(name)] = String(value)
                }
            }
        }
        for text in core {
            for match in text.matches(of: made) {
                guard let code = match.output[1].substring, let reason = match.output[2].substring else { continue }
                pairs.insert(Self.statusName(String(code)) + " " + (reasons[String(reason)] ?? String(reason)))
            }
        }
        #expect(reasons.count > 30 && pairs.count > 20, "the scan found the core's pairs: \(pairs.sorted())")
        let statuses = try Self.tableStatuses(under: "Reasons numberd sends")
        let unlisted = pairs.filter { pair in
            let parts = pair.split(separator: " ").map(String.init)
            return !(statuses[parts[1]]?.contains(parts[0]) ?? false)
        }
        let wrong = unlisted.subtracting(Self.pairsNeverSent).sorted()
        #expect(wrong.isEmpty, "status and reason pairs without their status in the reason's row: \(wrong)")
        let gone = Self.pairsNeverSent.subtracting(pairs).sorted()
        #expect(gone.isEmpty, "pairs said never to be sent that the core no longer makes: \(gone)")
    }

    @Test("the client's table in proto/ERRORS.md and the reasons the bundled client makes agree both ways")
    func clientReasons() throws {
        let sources = try Self.sources("Sources/NumberClient")
        let client = sources.joined(separator: "\n")
        let rows = try Self.tableReasons(under: "Reasons numberd's client makes itself")
        #expect(rows.count > 5)
        for reason in rows {
            #expect(client.contains("\"\(reason)\""), "\(reason) is made nowhere in Sources/NumberClient")
        }
        // Each reason the client writes has a row: its own table's, or the server's when it passes one on.
        let written = try Self.captures(#"reason: "([A-Z_]+)""#, in: sources)
        #expect(written.count > 5, "the scan found the client's reasons: \(written.sorted())")
        let known = Set(rows).union(try Self.tableReasons(under: "Reasons numberd sends"))
        let missing = written.subtracting(known).sorted()
        #expect(missing.isEmpty, "reasons the client makes without a row in proto/ERRORS.md: \(missing)")
    }

    /// An operator's walk: an admin key without an account was refused `field=account_id`, a read-only key's
    /// `field=accountId`, a purchase's price limit `maxSetupFee` and an adoption's `max_setup_fee` — one field, two
    /// spellings for a program to match. Every `field` numberd's code (and the client's SERVER_TOO_OLD) names is a
    /// field of numbers.proto as it spells it, or a metadata key.
    @Test("every INVALID_FIELD and the like names its field as numbers.proto spells it")
    func fieldsSpelledAsTheProto() throws {
        let proto = try String(
            contentsOf: Self.root.appendingPathComponent("proto/numbers/v1/numbers.proto"), encoding: .utf8)
        let protoFields = try Self.captures(
            #"(?m)^\s*(?:optional |repeated )?[A-Za-z0-9_.]+ ([a-z0-9_]+) = [0-9]+;"#, in: [proto])
        // The Twilio adapter's checks of what Twilio sent name no request field ("trunk SID").
        let adapter = Set(try Self.sources("Sources/NumberCore/Twilio"))
        let code =
            try Self.sources("Sources/NumberCore").filter { !adapter.contains($0) }
            + Self.sources("Sources/NumberServer")
        let named = try [
            #"\.(?:invalid|limit)\(\s*"([^"]+)""#, #""field": "([^"]+)""#, #"field: "([^"]+)""#,
            #"\["field"\] = "([^"]+)""#,
        ].reduce(into: Set<String>()) { $0.formUnion(try Self.captures($1, in: code)) }
        // Not a request's: the idempotency key's metadata key; the pricing configuration's markup, refused at start;
        // a ledger actor the server itself passes.
        let others: Set<String> = ["idempotency-key", "markupPercent", "actor"]
        #expect(named.count > 20, "the patterns found \(named.sorted())")
        let stray = named.subtracting(protoFields).subtracting(others).sorted()
        #expect(stray.isEmpty, "fields numbers.proto does not spell so: \(stray)")
        let guarded = try Self.captures(
            #"GuardedField\([A-Za-z]+\.self, "([^"]+)""#, in: Self.sources("Sources/NumberAPI"))
        #expect(!guarded.isEmpty && guarded.isSubset(of: protoFields), "\(guarded.subtracting(protoFields).sorted())")
    }
}
