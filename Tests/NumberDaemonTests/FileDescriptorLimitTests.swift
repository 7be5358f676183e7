import Testing

@testable import NumberDaemon

#if canImport(Glibc)
import Glibc
#endif

@Suite("open-files limit")
struct FileDescriptorLimitTests {
    @Test("connectionsMax plus the reserve exactly at the limit starts; one short is refused, naming what fits")
    func edge() throws {
        let reserve = FileDescriptorLimit.reserve
        try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 10_000 + reserve)
        let error = #expect(throws: ConfigurationError.self) {
            try FileDescriptorLimit.check(connectionsMax: 10_000, limit: 10_000 + reserve - 1)
        }
        #expect(error?.description.contains("at most 9999") == true)
        #expect(error?.description.contains("LimitNOFILE") == true)
        // A limit below the reserve itself: no connections-max fits, only raising the limit helps.
        let tiny = #expect(throws: ConfigurationError.self) {
            try FileDescriptorLimit.check(connectionsMax: 1, limit: reserve)
        }
        #expect(tiny?.description.contains("at most") == false)
    }

    @Test("the soft limit is raised to the hard limit")
    func raisedToHard() {
        let soft = FileDescriptorLimit.raiseToHard()
        var limit = rlimit()
        #expect(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(soft == Int(limit.rlim_cur))
        #expect(limit.rlim_cur == limit.rlim_max)
    }
}
