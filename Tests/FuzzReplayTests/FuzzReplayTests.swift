import Foundation
import FuzzChecks
import Testing

/// Every corpus file and past crasher under `Tests/FuzzCorpus/<target>/`, and every in-code seed, through the
/// same check the fuzzer runs, in a normal debug build (no fuzzer needed in CI).
@Suite("Fuzz corpus replay")
struct FuzzReplayTests {
    /// `Tests/FuzzCorpus`, found from this file's path.
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("FuzzCorpus")

    static func corpusFiles(_ target: FuzzTarget) throws -> [URL] {
        let directory = corpusRoot.appendingPathComponent(target.rawValue)
        return try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("every corpus file passes its target's check", arguments: FuzzTarget.allCases)
    func corpus(target: FuzzTarget) throws {
        let files = try Self.corpusFiles(target)
        // The committed seeds are there at least; an empty directory means the corpus path is wrong.
        #expect(files.count >= FuzzSeeds.seeds(for: target).count)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            #expect(throws: Never.self, "\(file.lastPathComponent)") { try target.check(bytes) }
        }
    }

    @Test("every in-code seed passes, and the committed seed files match it", arguments: FuzzTarget.allCases)
    func seeds(target: FuzzTarget) throws {
        let directory = Self.corpusRoot.appendingPathComponent(target.rawValue)
        for seed in FuzzSeeds.seeds(for: target) {
            #expect(throws: Never.self, "\(seed.name)") { try target.check(seed.bytes) }
            let committed = try Data(contentsOf: directory.appendingPathComponent(seed.name))
            #expect([UInt8](committed) == seed.bytes, "\(seed.name) differs from FuzzSeeds")
        }
    }
}
