import Foundation
import NumberAPI
import TestSupport
import Testing

/// Our codec against Google's protobuf runtime (Python `protobuf` + `protoc` from grpcio-tools): bytes we write parse
/// in Python to the expected values, and bytes Python writes decode here to equal values, for every message type.
@Suite("Cross-check with Google's protobuf runtime")
struct CrossCheckTests {
    private static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

    private func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.directory.appendingPathComponent("crosscheck.py").path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        guard let ending = ChildExit.waitBlocking(process, timeout: .seconds(120)) else {
            kill(process.processIdentifier, SIGKILL)
            return (-1, "python3 did not exit within 120 s:\n" + String(decoding: output, as: UTF8.self))
        }
        return (ending.status, String(decoding: output, as: UTF8.self))
    }

    @Test("every vector round-trips both ways")
    func crossCheck() throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("numberd-crosscheck-\(UUID())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        let written = try python(["write", work.path])
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

        let checked = try python(["check", work.path])
        #expect(checked.status == 0, "Google's runtime disagrees:\n\(checked.output)")
    }
}
