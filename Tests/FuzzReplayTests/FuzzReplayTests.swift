import Foundation
import FuzzChecks
import NIOCore
import NumberAPI
import NumberCore
import NumberWire
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

/// The seeds reach the deep paths they are meant to (a seed refused at the first byte would fuzz nothing), and the
/// checks catch what they claim to.
@Suite("Fuzz seeds reach the decoders")
struct FuzzSeedDepthTests {
    static func seed(_ target: FuzzTarget, _ name: String) throws -> [UInt8] {
        try #require(FuzzSeeds.seeds(for: target).first { $0.name == name }).bytes
    }

    @Test("the client-call seed decodes to every frame type a client sends")
    func frames() throws {
        let bytes = try Self.seed(.frameDecoder, "seed-client-call")
        let processor = NIOSingleStepByteToMessageProcessor(FrameDecoder(expectsPreface: true))
        var types: [FrameType] = []
        try processor.process(buffer: ByteBuffer(bytes: bytes.dropFirst(2))) { types.append($0.type) }
        #expect(types == [.settings, .settings, .headers, .message, .ping, .cancel, .goAway])
    }

    @Test("the segment seed scans to one record per event; the torn seed has a torn tail")
    func journal() throws {
        let segment = Array(try Self.seed(.journalRecord, "seed-segment").dropFirst())
        let scan = SegmentScanner.scan(segment, firstSeq: 1, as: CoreEvent.self)
        #expect(scan.records.count == 7)
        #expect(scan.issues.isEmpty)
        let torn = Array(try Self.seed(.journalRecord, "seed-segment-torn-tail").dropFirst())
        #expect(SegmentScanner.scan(torn, firstSeq: 1, as: CoreEvent.self).torn != nil)
        let batches = Array(try Self.seed(.journalRecord, "seed-segment-batches").dropFirst())
        let batchScan = SegmentScanner.scan(batches, firstSeq: 1, as: CoreEvent.self)
        #expect(batchScan.records.map(\.batch?.last) == [3, 3, 3, 7, 7, 7, 7] && batchScan.issues.isEmpty)
        // The zeroed stretch lies in the last batch, with intact records of it after: a torn tail, not corruption.
        let powerCut = Array(try Self.seed(.journalRecord, "seed-segment-power-cut").dropFirst())
        let cutScan = SegmentScanner.scan(powerCut, firstSeq: 1, as: CoreEvent.self)
        #expect(cutScan.issues.isEmpty && cutScan.torn != nil && (4...6).contains(cutScan.records.count))
    }

    @Test("the snapshot seed is accepted with its accounts, keys and trunks")
    func snapshot() throws {
        let file = Array(try Self.seed(.snapshot, "seed-snapshot-file").dropFirst())
        let frame = try SnapshotCheck.check(file, seq: 1, as: CoreState.self).get()
        #expect(frame.state != CoreState())
        #expect(frame.state.checkInvariants().isEmpty)
    }

    @Test("a body that does not decode as its type is a typed refusal, not a failure")
    func typedRefusal() throws {
        // Byte 0 = 6 → GetBalanceRequest; field 1's length runs past the end.
        try FuzzTarget.messageDecoder.check([6, 0x0a, 0x05])
        #expect(throws: (any Error).self) { try ProtoDecoder().decode(GetBalanceRequest.self, from: [0x0a, 0x05]) }
    }

    @Test("replay reports a missing file as a failure")
    func missingFile() {
        #expect(throws: FuzzCheckFailure.self) { try FuzzRunner.readFile("/nonexistent/fuzz-input") }
    }
}
