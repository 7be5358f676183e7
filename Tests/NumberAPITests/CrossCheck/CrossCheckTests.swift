import Foundation
import NumberAPI
import NumberWire
import TestSupport
import Testing

/// Our codec against Google's protobuf runtime (Python `protobuf` + `protoc` from grpcio-tools): bytes we write parse
/// in Python to the expected values, and bytes Python writes decode here to equal values, for every message type.
@Suite("Cross-check with Google's protobuf runtime")
struct CrossCheckTests {
    private static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    /// Runs crosscheck.py with `arguments` (killed after 120 s); its exit status and output (stdout and stderr).
    private func python(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await ChildProcess.run(
            "/usr/bin/env", ["python3", Self.directory.appendingPathComponent("crosscheck.py").path] + arguments)
        guard !result.timedOut else { return (-1, "python3 did not exit within 120 s:\n" + result.text) }
        return (result.status, result.text)
    }

    @Test("every vector round-trips both ways")
    func crossCheck() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-crosscheck-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let written = try await python(["write", work.path])
        try #require(written.status == 0, "python could not write its vectors:\n\(written.output)")

        let listed = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.directory.appendingPathComponent("vectors.generated.json")))
        let names = try #require(listed as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names == crossCheckVectors.map(\.name), "Vectors.swift is stale: run generate_vectors.py")

        for vector in crossCheckVectors {
            let ours = try vector.encode()
            try Data(ours).write(to: work.appendingPathComponent("\(vector.name).swift.bin"))
            let theirs = try [UInt8](Data(contentsOf: work.appendingPathComponent("\(vector.name).python.bin")))
            #expect(try vector.decodesToSame(theirs), "\(vector.name): \(vector.describe(theirs))")
        }

        let checked = try await python(["check", work.path])
        #expect(checked.status == 0, "Google's runtime disagrees:\n\(checked.output)")
    }

    /// Google's reading of each non-canonical input, compared with ours: decoded from its canonical bytes, equal to
    /// what we decode from the input (both codec paths).
    private static let lenientTypes: [String: @Sendable (_ input: [UInt8], _ google: [UInt8]) throws -> String?] = [
        "RpcStatus": { try sameReading(RpcStatus.self, $0, $1) },
        "PurchaseNumbersRequest": { try sameReading(PurchaseNumbersRequest.self, $0, $1) },
        "SearchNumbersRequest": { try sameReading(SearchNumbersRequest.self, $0, $1) },
        "ReleaseNumberResponse": { try sameReading(ReleaseNumberResponse.self, $0, $1) },
        "ReleaseNumberRequest": { try sameReading(ReleaseNumberRequest.self, $0, $1) },
    ]

    /// nil when numberd reads `input` as Google's runtime does (its reading re-encoded canonically as `google`).
    private static func sameReading<M: Codable & Equatable & Sendable>(
        _: M.Type, _ input: [UInt8], _ google: [UInt8]
    ) throws -> String? {
        let ours = try ProtoDecoder().decode(M.self, from: input)
        let theirs = try ProtoDecoder().decode(M.self, from: google)
        if ours != theirs { return "numberd read \(ours)\n  Google read \(theirs)" }
        return CodecPaths.differences(M.self, input)
    }

    @Test(
        "valid but non-canonical input (mistyped occurrences, groups, unknown fields) reads as Google's runtime reads it"
    )
    func nonCanonicalInputReadsAsGoogleReadsIt() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-lenient-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let parsed = try await python(["lenient", work.path])
        try #require(parsed.status == 0, "python could not parse the inputs:\n\(parsed.output)")
        let listed = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Self.directory.appendingPathComponent("noncanonical.json")))
        let cases = try #require(listed as? [[String: String]])
        #expect(cases.count >= 10)
        for testCase in cases {
            let name = try #require(testCase["name"])
            let compare = try #require(Self.lenientTypes[testCase["type"] ?? ""], "no Swift type for \(testCase)")
            let input = try #require(testCase["hex"]).split(separator: " ").map { UInt8($0, radix: 16)! }
            if testCase["google"] == "refuses" {
                // Input both runtimes refuse (crosscheck.py checks Google's): no reading to compare.
                #expect(throws: DecodingError.self, "\(name)") { try compare(input, []) }
                continue
            }
            let google = try [UInt8](Data(contentsOf: work.appendingPathComponent("\(name).python.bin")))
            if let disagreement = testCase["disagrees"] {
                // A known disagreement, which its "disagrees" says: numberd reads the input, and not as Google's
                // runtime does. Pinned both ways: a change of either runtime's reading shows here.
                let difference = try compare(input, google)
                #expect(difference != nil, "\(name): the runtimes now agree, though it \"disagrees\": \(disagreement)")
                continue
            }
            if testCase["numberd"] == "refuses" {
                // A field whose presence counts (or a bool, whose false is a value), present only in a form that
                // cannot be read: Google's runtime drops it (reads "not set"); numberd refuses the message rather
                // than act without it.
                #expect(throws: DecodingError.self, "\(name)") { try compare(input, google) }
                continue
            }
            let difference = try compare(input, google)
            #expect(difference == nil, "\(name) (\(testCase["note"] ?? "")): \(difference ?? "")")
        }
    }
}
