import CProcessControl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Core dumps of numberd, off unless asked for: a crash (a `precondition` or `fatalError` trap) would otherwise write
/// the process's memory — the Twilio auth token, the `authorization: Bearer` headers of the calls in flight, the TLS
/// private keys — to a core file or a crash collector (systemd-coredump, apport), where others read it or it is
/// shipped elsewhere.
public enum CoreDumps {
    /// Turns core dumps off for this process: `RLIMIT_CORE`'s soft limit to 0 (no core file) and
    /// `PR_SET_DUMPABLE` 0, which also stops a `core_pattern` pipe to a crash collector (the kernel ignores
    /// `RLIMIT_CORE` for those) and `ptrace` and `/proc/<pid>/mem`, `environ` … by other processes of the same user.
    /// Throws if either cannot be set.
    public static func disable() throws {
        var limit = rlimit()
        guard getrlimit(resourceCore, &limit) == 0 else { throw failure("getrlimit(RLIMIT_CORE)") }
        limit.rlim_cur = 0
        guard setrlimit(resourceCore, &limit) == 0 else { throw failure("setrlimit(RLIMIT_CORE, 0)") }
        guard process_control_set_dumpable(0) == 0 else { throw failure("prctl(PR_SET_DUMPABLE, 0)") }
    }

    /// Whether this process may dump core: dumpable (`PR_GET_DUMPABLE`), or a core file size limit above 0.
    public static var enabled: Bool {
        var limit = rlimit()
        let dumpable = process_control_get_dumpable()
        return dumpable != 0 || (getrlimit(resourceCore, &limit) == 0 && limit.rlim_cur > 0)
    }

    #if canImport(Glibc)
    private static let resourceCore = __rlimit_resource_t(RLIMIT_CORE.rawValue)
    #else
    private static let resourceCore = RLIMIT_CORE
    #endif

    private static func failure(_ call: String) -> ConfigurationError {
        ConfigurationError(
            "cannot turn core dumps off: \(call) failed: \(String(cString: strerror(errno))) (start with "
                + "--allow-core-dumps to run with them)")
    }
}
