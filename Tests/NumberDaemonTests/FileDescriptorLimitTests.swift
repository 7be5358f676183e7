import NumberAPI
import Testing

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("open-files limit")
struct FileDescriptorLimitTests {
    @Test("connectionsMax + reserve at the limit is kept; one short is lowered to what fits; too few is refused")
    func edge() throws {
        #expect(try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 11_024) == (10_000, false))
        #expect(try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 11_023) == (9_999, true))
        // A small limit keeps a quarter (at least 256) for the rest: 1024 leaves 768 connections, not none.
        #expect(FileDescriptorLimit.reserve(limit: 1024) == 256)
        #expect(try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 1024) == (768, true))
        let least = FileDescriptorLimit.connectionsMin
        #expect(try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 256 + least) == (least, true))
        // Fewer than the least: only raising the limit helps.
        let tiny = #expect(throws: ConfigurationError.self) {
            try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 256 + least - 1)
        }
        #expect(tiny?.description.contains("LimitNOFILE") == true)
    }

    @Test("the soft limit is raised to the hard limit")
    func raisedToHard() {
        let soft = OpenFilesLimit.raiseToHard()
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(soft == Int(limit.rlim_cur))
        #expect(limit.rlim_cur == limit.rlim_max)
    }
}
