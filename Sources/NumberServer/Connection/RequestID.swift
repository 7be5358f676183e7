import Synchronization

/// Request ids the server makes for calls that bring none: a per-process random prefix and a counter, unique and
/// cheap (no syscall per call).
enum RequestID {
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        return String(generator.next() as UInt32, radix: 16)
    }()
    private static let counter = Atomic<UInt64>(0)

    static func make() -> String {
        let n = counter.add(1, ordering: .relaxed).newValue
        return "\(prefix)-\(n)"
    }
}
