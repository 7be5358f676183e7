#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The name a client checks the server certificate against: an IP address (matched against IP SANs) or a DNS name.
enum TLSHostname: Equatable {
    case ipAddress(String)
    case dnsName(String)

    /// Classifies `text`; `nil` for a missing or empty name. Brackets around IPv6 literals are removed.
    init?(_ text: String?) {
        guard var text, !text.isEmpty else {
            return nil
        }
        if text.hasPrefix("["), text.hasSuffix("]") {
            text = String(text.dropFirst().dropLast())
        }
        guard !text.isEmpty else {
            return nil
        }
        self = Self.isIPAddress(text) ? .ipAddress(text) : .dnsName(text)
    }

    static func isIPAddress(_ text: String) -> Bool {
        var storage = in6_addr()
        return withUnsafeMutableBytes(of: &storage) { raw in
            inet_pton(AF_INET, text, raw.baseAddress) == 1 || inet_pton(AF_INET6, text, raw.baseAddress) == 1
        }
    }
}
